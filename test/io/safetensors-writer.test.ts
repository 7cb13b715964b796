import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { CompactError } from '../../src/errors.ts';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { encodeHeader, parseMaxShardSize, writeCheckpoint, type WriteEntry } from '../../src/io/safetensors-writer.ts';
import { fromFloat32 } from '../../src/io/dtype.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

function entry(name: string, shape: number[], fill: number, dtype: 'F32' | 'BF16' | 'F16' = 'F32'): WriteEntry {
  const n = shape.reduce((a, b) => a * b, 1);
  return { name, dtype, shape, bytes: () => fromFloat32(new Float32Array(n).fill(fill), dtype) };
}

test('same entries in any order give byte-identical files; header is padded to 8 with spaces', async () => {
  const es = [entry('b', [3, 5], 1), entry('a', [7], 2, 'BF16'), entry('0', [1], 3, 'F16'), entry('c', [0, 4], 0)];
  const d1 = makeTmpDir('det1');
  const d2 = makeTmpDir('det2');
  await writeCheckpoint(d1, es);
  await writeCheckpoint(d2, [...es].reverse());
  const f1 = readFileSync(path.join(d1, 'model.safetensors'));
  assert.ok(f1.equals(readFileSync(path.join(d2, 'model.safetensors'))));
  const n = Number(f1.readBigUInt64LE(0));
  assert.equal(n % 8, 0);
  const header = f1.subarray(8, 8 + n).toString('utf8');
  assert.match(header, /^\{"__metadata__":\{"format":"pt"\},"0":.*"a":.*"b":.*"c":\{"dtype":"F32","shape":\[0,4\],"data_offsets":\[\d+,\d+\]\}\} *$/);
  const ck = await openCheckpoint(d1);
  assert.deepEqual(ck.names(), ['0', 'a', 'b', 'c']);
  assert.deepEqual([...(await ck.readFloat32('a'))], new Array(7).fill(2));
  assert.deepEqual([...(await ck.readFloat32('0'))], [3]);
  assert.equal((await ck.readBytes('c')).length, 0);
  await ck.close();
});

test('bytes() is called one entry at a time, in name order, after the plan is fixed', async () => {
  const calls: string[] = [];
  let live = 0;
  const es: WriteEntry[] = ['x', 'w', 'y', 'z'].map((name) => ({
    name,
    dtype: 'F32',
    shape: [4],
    bytes: async () => {
      assert.equal(live, 0, 'two entries produced at once');
      live++;
      calls.push(name);
      await new Promise((r) => setTimeout(r, 1));
      live--;
      return new Uint8Array(16);
    },
  }));
  const dir = makeTmpDir('stream');
  const { files } = await writeCheckpoint(dir, es, { maxShardBytes: 32 });
  assert.deepEqual(calls, ['w', 'x', 'y', 'z']);
  assert.deepEqual(files, [
    'model-00001-of-00002.safetensors',
    'model-00002-of-00002.safetensors',
    'model.safetensors.index.json',
  ]);
  assert.equal(
    readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'),
    '{\n  "metadata": {\n    "total_size": 64\n  },\n  "weight_map": {\n' +
      '    "w": "model-00001-of-00002.safetensors",\n    "x": "model-00001-of-00002.safetensors",\n' +
      '    "y": "model-00002-of-00002.safetensors",\n    "z": "model-00002-of-00002.safetensors"\n  }\n}\n',
  );
});

test('a wrong byte count is a CompactError naming the tensor', async () => {
  const dir = makeTmpDir('badlen');
  const es: WriteEntry[] = [{ name: 'model.norm.weight', dtype: 'BF16', shape: [4], bytes: () => new Uint8Array(6) }];
  await assert.rejects(writeCheckpoint(dir, es), (e: unknown) => {
    assert.ok(e instanceof CompactError);
    assert.match(e.message, /model\.safetensors: tensor "model\.norm\.weight" produced 6 bytes .* needs 8/);
    return true;
  });
  await assert.rejects(writeCheckpoint(makeTmpDir('dup'), [entry('a', [1], 0), entry('a', [1], 0)]), /"a" is given twice/);
});

test('encodeHeader matches the reference layout', () => {
  const h = encodeHeader([{ name: 't', dtype: 'F32', shape: [2], byteLength: 8 }]);
  const json = '{"__metadata__":{"format":"pt"},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const padded = Math.ceil(json.length / 8) * 8;
  assert.equal(Number(Buffer.from(h).readBigUInt64LE(0)), padded);
  assert.equal(Buffer.from(h.subarray(8)).toString(), json.padEnd(padded, ' '));
});

test('parseMaxShardSize', () => {
  assert.equal(parseMaxShardSize('5GB'), 5e9);
  assert.equal(parseMaxShardSize('500MB'), 5e8);
  assert.equal(parseMaxShardSize('2GiB'), 2 * 2 ** 30);
  assert.equal(parseMaxShardSize('1.5 gb'), 1.5e9);
  assert.equal(parseMaxShardSize('100kb'), 1e5);
  assert.equal(parseMaxShardSize('12345'), 12345);
  assert.equal(parseMaxShardSize(4096), 4096);
  for (const bad of ['', 'GB', '5XB', '-1GB', '0', 0, -5, Number.NaN, '5 G B']) {
    assert.throws(() => parseMaxShardSize(bad as string | number), CompactError, String(bad));
  }
});

test('writer creates the folder and leaves nothing but its files', async () => {
  const dir = path.join(makeTmpDir('mk'), 'nested', 'out');
  const { files } = await writeCheckpoint(dir, [entry('a', [2], 1)]);
  assert.deepEqual(readdirSync(dir), files);
});
