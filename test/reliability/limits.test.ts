/**
 * The size and depth bounds that keep hostile files from exhausting memory, the stack or time,
 * each proven at its edge: just inside is accepted, just outside is refused with a one-line
 * CompactError that names the file and the bound, quickly (nothing is read or allocated by the
 * size a file claims). test/io/safetensors-errors.test.ts covers the ordinary malformed cases.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { CompactError } from '../../src/errors.ts';
import { INDEX_FILE, openCheckpoint } from '../../src/io/safetensors.ts';
import { MAX_HEADER_BYTES } from '../../src/io/safetensors-header.ts';
import { readModelConfig } from '../../src/families/model-config.ts';
import { MAX_TOKEN_ID, parseTokenizerJson } from '../../src/tokenizer/tokenizer-file.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { shared } from '../helpers/paths.ts';
import { smallGpt2Tokenizer } from './real-files.ts';
import { assertOneLine } from './fuzz-helpers.ts';

/** Peak resident memory of this process so far, in bytes (monotonic: it never goes down). */
const peakRss = (): number => process.resourceUsage().maxRSS * 1024;

/**
 * `fn` fails with a one-line CompactError matching `re`. With `maxGrowth`, the process's peak RSS
 * may grow by at most that many bytes during the call: a refusal that read or allocated what a
 * file claims (100 MB here) would show. A bound on work, not on time: time belongs in bench/.
 */
async function refused(fn: () => unknown, re: RegExp, maxGrowth?: number): Promise<void> {
  const before = peakRss();
  await assert.rejects(async () => fn(), (e: unknown) => {
    assert.ok(e instanceof CompactError, `expected CompactError, got ${(e as Error)?.stack ?? e}`);
    assertOneLine(e, re.source);
    assert.match(e.message, re);
    return true;
  });
  if (maxGrowth !== undefined) {
    const growth = peakRss() - before;
    assert.ok(growth <= maxGrowth, `peak RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB while refusing (bound ${(maxGrowth / 2 ** 20).toFixed(0)} MiB)`);
  }
}

const CLAIM_BOUND = 32 * 2 ** 20; // far below the 100 MB the hostile files claim

function safetensors(dir: string, header: string | object, dataLen = 0, declared?: bigint): string {
  mkdirSync(dir, { recursive: true });
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(declared ?? BigInt(json.length));
  writeFileSync(path.join(dir, 'model.safetensors'), Buffer.concat([prefix, json, Buffer.alloc(dataLen)]));
  return dir;
}

const root = makeTmpDir('limits');
let n = 0;
const fresh = (): string => path.join(root, String(n++));

test(`safetensors header over ${MAX_HEADER_BYTES} bytes is refused without reading it (sparse 100 MB file)`, async () => {
  const dir = fresh();
  mkdirSync(dir);
  const file = path.join(dir, 'model.safetensors');
  const fd = openSync(file, 'w');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(MAX_HEADER_BYTES + 1));
  writeSync(fd, prefix);
  closeSync(fd);
  truncateSync(file, MAX_HEADER_BYTES + 64); // the claimed header fits in the file: only the bound refuses it
  await refused(() => openCheckpoint(dir), /model\.safetensors: header length 100000001 is over the 100000000-byte bound/, CLAIM_BOUND);
});

test('safetensors index over 100 MB is refused without reading it', async () => {
  const dir = fresh();
  mkdirSync(dir);
  writeFileSync(path.join(dir, INDEX_FILE), '{"weight_map":{}}');
  truncateSync(path.join(dir, INDEX_FILE), 100_000_001);
  await refused(() => openCheckpoint(dir), /model\.safetensors\.index\.json: 100000001 bytes is too large for an index/, CLAIM_BOUND);
});

test('shapes whose byte size overflows 2^53 and 2^64 are refused with the exact size', async () => {
  const big = 2 ** 31;
  await refused(
    () => openCheckpoint(safetensors(fresh(), { w: { dtype: 'F32', shape: [big, big, big, big], data_offsets: [0, 16] } }, 16)),
    // 4 · 2^124 = 2^126, computed exactly (BigInt), not as a rounded double.
    /tensor "w": shape \[2147483648, 2147483648, 2147483648, 2147483648\] × F32 is 85070591730234615865843651857942052864 bytes but data_offsets span 16/,
  );
  // 3 · 3002399751580331 = 2^53 + 1: as doubles it would round to 2^53.
  await refused(
    () => openCheckpoint(safetensors(fresh(), { w: { dtype: 'U8', shape: [3, 3002399751580331], data_offsets: [0, 8] } }, 8)),
    /is 9007199254740993 bytes but data_offsets span 8/,
  );
  // A zero dimension makes any other dimension legal: 0 bytes.
  const ok = await openCheckpoint(safetensors(fresh(), { w: { dtype: 'F64', shape: [0, 2 ** 53 - 1], data_offsets: [0, 0] } }));
  assert.equal((await ok.readBytes('w')).length, 0);
  await ok.close();
});

// Its speed (no per-tensor quadratic work) is a bench's business; here: it parses, every tensor is there.
test('a header with 50,000 tensors parses', async () => {
  const header: Record<string, unknown> = {};
  for (let i = 0; i < 50_000; i++) header[`t${i}`] = { dtype: 'U8', shape: [2], data_offsets: [2 * i, 2 * i + 2] };
  const ckpt = await openCheckpoint(safetensors(fresh(), header, 100_000));
  assert.equal(ckpt.names().length, 50_000);
  const first = ckpt.info('t0');
  const last = ckpt.info('t49999');
  assert.equal(last.byteLength, 2);
  assert.equal(last.offset - first.offset, 2 * 49_999);
  await ckpt.close();
});

test('JSON nesting bounds: safetensors header and index 64, config.json 256, tokenizer.json 64', async () => {
  // Depth counts every [ and {: the header object is 1, a tensor entry 2, then `extra`'s arrays.
  const header = (depth: number) =>
    `{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":${'['.repeat(depth - 2)}${']'.repeat(depth - 2)}}}`;
  const st64 = await openCheckpoint(safetensors(fresh(), header(64), 1));
  await st64.close();
  await refused(() => openCheckpoint(safetensors(fresh(), header(65), 1)), /model\.safetensors: header JSON nests deeper than 64 levels/);

  const shards = fresh();
  mkdirSync(shards);
  renameSync(safetensors(fresh(), { w: { dtype: 'U8', shape: [1], data_offsets: [0, 1] } }, 1) + '/model.safetensors', path.join(shards, 'w.safetensors'));
  const index = (depth: number) => `{"metadata":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)},"weight_map":{"w":"w.safetensors"}}`;
  writeFileSync(path.join(shards, INDEX_FILE), index(64));
  await (await openCheckpoint(shards)).close();
  writeFileSync(path.join(shards, INDEX_FILE), index(65));
  await refused(() => openCheckpoint(shards), /model\.safetensors\.index\.json: index JSON nests deeper than 64 levels/);

  const config = readFileSync(shared('models', 'wiki-28m', 'config.json'), 'utf8');
  const cfgDir = fresh();
  mkdirSync(cfgDir);
  const nested = (depth: number) => config.replace(/^\{/, `{"extra":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)},`);
  writeFileSync(path.join(cfgDir, 'config.json'), nested(256));
  readModelConfig(cfgDir);
  writeFileSync(path.join(cfgDir, 'config.json'), nested(257));
  await refused(() => readModelConfig(cfgDir), /config\.json: JSON nested deeper than 256 levels/);

  const tok = JSON.stringify(smallGpt2Tokenizer());
  const tokNested = (depth: number) => tok.replace(/^\{/, `{"extra":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)},`);
  parseTokenizerJson(tokNested(64));
  await refused(() => parseTokenizerJson(tokNested(65)), /tokenizer\.json: JSON nested deeper than 64 levels/);
});

test('config.json dimensions are bounded (int32 sizes, 10,000 layers)', async () => {
  const config = JSON.parse(readFileSync(shared('models', 'wiki-28m', 'config.json'), 'utf8')) as Record<string, unknown>;
  const dir = fresh();
  mkdirSync(dir);
  const withValue = (key: string, value: number | string) => {
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, [key]: '@' }).replace('"@"', String(value)));
    return () => readModelConfig(dir);
  };
  withValue('vocab_size', 2 ** 31 - 1)();
  await refused(withValue('vocab_size', 2 ** 31), /config\.json: "vocab_size" is 2147483648, over the supported maximum 2147483647/);
  await refused(withValue('vocab_size', '18446744073709551615'), /"vocab_size" is 18446744073709552000, over the supported maximum/);
  await refused(withValue('intermediate_size', '1e300'), /"intermediate_size" is 1e\+300, over the supported maximum/);
  assert.equal(withValue('num_hidden_layers', 10_000)().spec.layerTypes.length, 10_000);
  await refused(withValue('num_hidden_layers', 10_001), /"num_hidden_layers" is 10001, over the supported maximum 10000/);
  await refused(withValue('num_hidden_layers', '1e12'), /"num_hidden_layers" is 1000000000000, over the supported maximum 10000/);
});

test(`tokenizer ids are bounded by ${MAX_TOKEN_ID}`, async () => {
  const base = smallGpt2Tokenizer();
  const withAddedId = (id: number) => {
    const added = [...(base.added_tokens as { id: number; content: string }[])];
    added.push({ ...added[0]!, id, content: '<extra>' });
    return JSON.stringify({ ...base, added_tokens: added });
  };
  assert.equal(parseTokenizerJson(withAddedId(MAX_TOKEN_ID)).size, MAX_TOKEN_ID + 1);
  await refused(() => parseTokenizerJson(withAddedId(MAX_TOKEN_ID + 1)), /added_tokens\[1\] needs an integer "id" in \[0, 16777215\]/);
  const model = base.model as { vocab: Record<string, number> };
  const vocab = JSON.stringify({ ...base, model: { ...model, vocab: { ...model.vocab, big: 2 ** 53 - 1 } } });
  await refused(() => parseTokenizerJson(vocab), /model\.vocab\["big"\] is not an integer id in \[0, 16777215\]/);
});
