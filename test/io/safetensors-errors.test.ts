import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { CompactError } from '../../src/errors.ts';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

/** A safetensors file from header text and a data area of `dataLen` bytes; `declared` fakes the length prefix. */
function raw(header: string | Buffer | object, dataLen: number, declared?: bigint): Buffer {
  const json = Buffer.isBuffer(header) ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(declared ?? BigInt(json.length));
  return Buffer.concat([prefix, json, Buffer.alloc(dataLen)]);
}

function folder(files: Record<string, Buffer | string>): string {
  const dir = makeTmpDir('bad');
  for (const [name, data] of Object.entries(files)) writeFileSync(path.join(dir, name), data);
  return dir;
}

/** Opening `dir` fails with a one-line CompactError matching every pattern. */
async function rejectsWith(dir: string, ...patterns: RegExp[]): Promise<void> {
  await assert.rejects(openCheckpoint(dir), (e: unknown) => {
    assert.ok(e instanceof CompactError, `expected CompactError, got ${e}`);
    assert.doesNotMatch(e.message, /\n/);
    for (const p of patterns) assert.match(e.message, p);
    return true;
  });
}

const t = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });

test('truncated real file: cut in the data area', async () => {
  const real = readFileSync(shared('fixtures/hf-golden/llama3/model/model.safetensors'));
  const dir = folder({ 'model.safetensors': real.subarray(0, real.length - 1000) });
  await rejectsWith(dir, /model\.safetensors: tensor ".+" ends at byte \d+ beyond the data area/);
});

test('truncated real file: cut inside the header', async () => {
  const real = readFileSync(shared('fixtures/hf-golden/llama3/model/model.safetensors'));
  await rejectsWith(folder({ 'model.safetensors': real.subarray(0, 100) }), /model\.safetensors: header length \d+ goes beyond the end of the file/);
  await rejectsWith(folder({ 'model.safetensors': real.subarray(0, 5) }), /model\.safetensors: file is 5 bytes, too short/);
});

test('header length beyond the file', async () => {
  await rejectsWith(folder({ 'model.safetensors': raw({}, 0, 1000n) }), /model\.safetensors: header length 1000 goes beyond the end of the file/);
});

test('header length over the bound', async () => {
  await rejectsWith(folder({ 'model.safetensors': raw({}, 0, 2n ** 63n) }), /model\.safetensors: header length \d+ is over the 100000000-byte bound/);
});

test('malformed header JSON, non-object JSON, deep nesting, bad UTF-8', async () => {
  await rejectsWith(folder({ 'model.safetensors': raw('{"a": {"dtype": "F32",', 0) }), /model\.safetensors: malformed header JSON/);
  await rejectsWith(folder({ 'model.safetensors': raw('[1, 2]', 0) }), /model\.safetensors: header JSON is not an object/);
  await rejectsWith(folder({ 'model.safetensors': raw('{"a":' + '['.repeat(100) + ']'.repeat(100) + '}', 0) }), /model\.safetensors: header JSON nests deeper/);
  await rejectsWith(folder({ 'model.safetensors': raw(Buffer.from([0x7b, 0xff, 0x7d]), 0) }), /model\.safetensors: header is not valid UTF-8/);
});

test('tensor listed twice inside one header', async () => {
  const h = '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
  await rejectsWith(folder({ 'model.safetensors': raw(h, 8) }), /model\.safetensors: header lists "w" twice/);
});

test('offsets overlapping', async () => {
  const h = { a: t('F32', [4], 0, 16), b: t('F32', [2], 8, 16) };
  await rejectsWith(folder({ 'model.safetensors': raw(h, 16) }), /model\.safetensors: tensor "b" \[8, 16\) overlaps tensor "a" \[0, 16\)/);
});

test('offsets out of range, backwards, or not integers', async () => {
  await rejectsWith(folder({ 'model.safetensors': raw({ a: t('F32', [4], 0, 16) }, 12) }), /model\.safetensors: tensor "a" ends at byte 16 beyond the data area \(12 bytes\)/);
  await rejectsWith(folder({ 'model.safetensors': raw({ a: t('F32', [0], 8, 4) }, 12) }), /tensor "a" has data_offsets \[8, 4\] that run backwards/);
  await rejectsWith(folder({ 'model.safetensors': raw({ a: { dtype: 'F32', shape: [1], data_offsets: [-4, 0] } }, 12) }), /tensor "a" has data_offsets \[-4,0\]/);
  await rejectsWith(folder({ 'model.safetensors': raw({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 2 ** 60] } }, 12) }), /tensor "a" has data_offsets/);
});

test('unknown dtype', async () => {
  await rejectsWith(folder({ 'model.safetensors': raw({ a: t('F8_E9', [1], 0, 1) }, 1) }), /model\.safetensors: tensor "a" has unknown dtype "F8_E9"/);
});

test('shape × dtype size ≠ byte length (including overflowing shapes)', async () => {
  await rejectsWith(folder({ 'model.safetensors': raw({ a: t('BF16', [3, 4], 0, 16) }, 16) }), /model\.safetensors: tensor "a": shape \[3, 4\] × BF16 is 24 bytes but data_offsets span 16/);
  const huge = 2 ** 52;
  await rejectsWith(folder({ 'model.safetensors': raw({ a: t('F64', [huge, huge, 0 + 2], 0, 16) }, 16) }), /tensor "a": shape .* bytes but data_offsets span 16/);
  await rejectsWith(folder({ 'model.safetensors': raw({ a: t('F32', [-1], 0, 0) }, 0) }), /tensor "a" has shape \[-1\]/);
  await rejectsWith(folder({ 'model.safetensors': raw({ __metadata__: { format: 1 } }, 0) }), /__metadata__ "format" is not a string/);
});

const shardA = raw({ __metadata__: { format: 'pt' }, x: t('F32', [2], 0, 8) }, 8);
const shardB = raw({ y: t('F32', [1], 0, 4) }, 4);
const index = (wm: object) => JSON.stringify({ metadata: { total_size: 12 }, weight_map: wm });

test('a good sharded folder opens (baseline for the sharded error cases)', async () => {
  const dir = folder({ 's1.safetensors': shardA, 's2.safetensors': shardB, 'model.safetensors.index.json': index({ x: 's1.safetensors', y: 's2.safetensors' }) });
  const ck = await openCheckpoint(dir);
  assert.deepEqual(ck.names(), ['x', 'y']);
  assert.deepEqual(ck.metadata, { format: 'pt' });
  assert.equal(ck.totalBytes(), 12);
  await ck.close();
});

test('shard missing from disk', async () => {
  const dir = folder({ 's1.safetensors': shardA, 'model.safetensors.index.json': index({ x: 's1.safetensors', y: 's2.safetensors' }) });
  await rejectsWith(dir, /s2\.safetensors: shard listed in model\.safetensors\.index\.json is missing from disk/);
});

test('tensor listed twice: in two shards', async () => {
  const dup = raw({ x: t('F32', [1], 0, 4) }, 4);
  const dir = folder({ 's1.safetensors': shardA, 's2.safetensors': dup, 'model.safetensors.index.json': index({ x: 's1.safetensors', y: 's2.safetensors' }) });
  await rejectsWith(dir, /s2\.safetensors: tensor "x" is listed twice: also in s1\.safetensors/);
});

test('index points to a shard that lacks the tensor', async () => {
  const dir = folder({ 's1.safetensors': shardA, 's2.safetensors': shardB, 'model.safetensors.index.json': index({ x: 's1.safetensors', y: 's2.safetensors', z: 's2.safetensors' }) });
  await rejectsWith(dir, /model\.safetensors\.index\.json: tensor "z" is mapped to s2\.safetensors, which does not contain it/);
  const moved = folder({ 's1.safetensors': shardA, 's2.safetensors': shardB, 'model.safetensors.index.json': index({ x: 's2.safetensors', y: 's1.safetensors' }) });
  await rejectsWith(moved, /tensor "x" is mapped to s2\.safetensors, which does not contain it \(it is in s1\.safetensors\)/);
});

test('index malformed', async () => {
  const base = { 's1.safetensors': shardA, 's2.safetensors': shardB };
  await rejectsWith(folder({ ...base, 'model.safetensors.index.json': '{"weight_map": {' }), /model\.safetensors\.index\.json: malformed index JSON/);
  await rejectsWith(folder({ ...base, 'model.safetensors.index.json': '{"metadata": {}}' }), /model\.safetensors\.index\.json: no "weight_map" object/);
  await rejectsWith(folder({ ...base, 'model.safetensors.index.json': index({ x: 5 }) }), /tensor "x" maps to 5, not a file name/);
  await rejectsWith(folder({ ...base, 'model.safetensors.index.json': index({ x: '../s1.safetensors' }) }), /tensor "x" maps to "\.\.\/s1\.safetensors", not a file name/);
});

test('folder without safetensors, or with several and no index', async () => {
  await rejectsWith(folder({ 'config.json': '{}' }), /no model\.safetensors, model\.safetensors\.index\.json or other \.safetensors file/);
  await rejectsWith(folder({ 's1.safetensors': shardA, 's2.safetensors': shardB }), /2 \.safetensors files \(s1\.safetensors, s2\.safetensors\) but no model\.safetensors\.index\.json/);
  await rejectsWith(path.join(makeTmpDir('none'), 'absent'), /absent: no such folder/);
});

test('a lone differently-named .safetensors file opens', async () => {
  const ck = await openCheckpoint(folder({ 'weights.safetensors': shardA }));
  assert.deepEqual([...(await ck.readFloat32('x'))], [0, 0]);
  await ck.close();
});

test('reader errors name the tensor: missing name, non-float, not 2-D, row out of range, file changed', async () => {
  const h = { ids: t('I32', [2, 2], 0, 16), v: t('F32', [4], 16, 32) };
  const dir = folder({ 'model.safetensors': raw(h, 32) });
  const ck = await openCheckpoint(dir);
  try {
    assert.throws(() => ck.info('nope'), /: no tensor named "nope"/);
    await assert.rejects(ck.readFloat32('ids'), /model\.safetensors: tensor "ids" has dtype I32, not a floating-point type/);
    await assert.rejects(ck.readRowsFloat32('v', [0]), /tensor "v" has shape \[4\], not 2-D/);
    await assert.rejects(ck.readRowsBytes('ids', [2]), /tensor "ids" has 2 rows; cannot read row 2/);
    assert.equal((await ck.readRowsBytes('ids', [1, 0])).length, 16);
  } finally {
    await ck.close();
  }
  // Offsets were checked against the file as it was when opened; a file cut short later is refused.
  const later = await openCheckpoint(dir);
  writeFileSync(path.join(dir, 'model.safetensors'), raw(h, 20));
  await assert.rejects(later.readBytes('v'), /model\.safetensors: file changed on disk since it was opened \(\d+ → \d+ bytes\)/);
  await later.close();
});

test('a copy of a real sharded checkpoint missing one shard', async () => {
  const dir = makeTmpDir('wiki-partial');
  mkdirSync(dir, { recursive: true });
  for (const f of ['model.safetensors.index.json', 'model-00001-of-00003.safetensors', 'model-00003-of-00003.safetensors']) {
    copyFileSync(shared('models/wiki-28m', f), path.join(dir, f));
  }
  await rejectsWith(dir, /model-00002-of-00003\.safetensors: shard listed in model\.safetensors\.index\.json is missing from disk/);
});
