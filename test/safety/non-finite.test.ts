/**
 * Issue 14, item 2: three NaN bf16 values in one q_proj made every importance NaN and the prune
 * kept channels 0…I′−1 with exit 0. Now the read refuses the tensor, naming file, tensor and count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompactError } from '../../src/errors.ts';
import { checkFiniteScores } from '../../src/prune/calibrate.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { readTensors, writeTensors } from '../prune/prune-helpers.ts';
import { cli, digests } from './helpers.ts';

const Q = 'model.layers.0.self_attn.q_proj.weight';

/** The bf16 fixture with `values` (bf16 bit patterns) written over the first elements of `tensor`. */
function poisoned(tensor: string, values: number[]): string {
  const dir = fixtureWithTokenizer('llama3-bf16');
  const file = join(dir, 'model.safetensors');
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const t = header[tensor]!;
  assert.equal(t.dtype, 'BF16');
  // Spread over the tensor: rows 0, middle and last.
  const count = (t.data_offsets[1] - t.data_offsets[0]) / 2;
  values.forEach((v, i) => buf.writeUInt16LE(v, 8 + n + t.data_offsets[0] + 2 * Math.floor((i * (count - 1)) / Math.max(1, values.length - 1))));
  writeFileSync(file, buf);
  return dir;
}

test('three NaN bf16 values in a q_proj: prune refuses with one line naming file, tensor and count', async () => {
  const dir = poisoned(Q, [0x7fc0, 0x7fc0, 0xffc1]);
  const before = digests(dir);
  const parent = makeTmpDir('nan-prune');
  const calib = join(parent, 'calib.txt');
  writeFileSync(calib, 'The quick brown fox jumps over the lazy dog. '.repeat(40));
  const r = await cli('prune', dir, '--out', join(parent, 'out'), '--vocab', '600', '--ffn', '40', '--calib', calib, '--calib-tokens', '128', '--seq-len', '64', '--quiet');
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `error: ${join(dir, 'model.safetensors')}: tensor "${Q}" has 3 non-finite values (NaN or ±Inf); compact does not use broken weights`);
  assert.deepEqual(readdirSync(parent), ['calib.txt'], 'no output, no temporary');
  assert.deepEqual(digests(dir), before);
});

test('±Inf is refused too, and by every reader (vocabulary-only prune copies rows; export; eval)', async () => {
  const dir = poisoned('model.embed_tokens.weight', [0x7f80, 0xff80]);
  const parent = makeTmpDir('inf-readers');
  const re = /tensor "model\.embed_tokens\.weight" has 2 non-finite values/;
  const p = await cli('prune', dir, '--out', join(parent, 'out'), '--vocab', '1024', '--quiet');
  assert.equal(p.code, 1);
  assert.match(p.stderr, re);
  const g = await cli('export', dir, '--format', 'gguf', '--out', join(parent, 'm.gguf'));
  assert.equal(g.code, 1);
  assert.match(g.stderr, re);
  writeFileSync(join(parent, 't.txt'), 'Some text to score.');
  const e = await cli('eval', dir, '--text', join(parent, 't.txt'), '--quiet');
  assert.equal(e.code, 1);
  assert.match(e.stderr, re);
  assert.deepEqual(readdirSync(parent), ['t.txt']);
});

test('non-finite importance scores stop the run naming the layer and count', () => {
  assert.doesNotThrow(() => checkFiniteScores([Float64Array.from([1, 2]), Float64Array.from([0, 3])], 'FFN importance (Σ act²)'));
  assert.throws(
    () => checkFiniteScores([Float64Array.from([1, 2]), Float64Array.from([NaN, Infinity, 3])], 'FFN importance (Σ act²)'),
    (e: unknown) => e instanceof CompactError && /^calibration: layer 1: 2 of 3 FFN importance \(Σ act²\) scores are not finite/.test(e.message),
  );
});

/** The f32 fixture with every value of `tensor` set to `value` (finite, but activations overflow). */
async function scaled(tensor: string, value: number): Promise<string> {
  const dir = fixtureWithTokenizer('llama3');
  const ts = await readTensors(dir);
  ts.get(tensor)!.data.fill(value);
  await writeTensors(dir, ts);
  return dir;
}

test('overflowing activations: NaN/Inf importance and held-out bits/byte stop the run', async () => {
  const parent = makeTmpDir('overflow');
  const calib = join(parent, 'calib.txt');
  writeFileSync(calib, 'The quick brown fox jumps over the lazy dog. '.repeat(40));
  const up = await scaled('model.layers.0.mlp.up_proj.weight', 1e30);
  const r = await cli('prune', up, '--out', join(parent, 'out'), '--ffn', '40', '--calib', calib, '--calib-tokens', '128', '--seq-len', '64', '--quiet');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: calibration: layer \d+: \d+ of \d+ FFN importance \(Σ act²\) scores are not finite/);
  const norm = await scaled('model.norm.weight', 3e38);
  const e = await cli('eval', norm, '--text', calib, '--quiet');
  assert.equal(e.code, 1);
  assert.match(e.stderr, /the model's log-likelihood of the text is (NaN|Infinity) \(non-finite activations\)/);
  // The planner scores candidates with the same evaluation: a broken candidate stops it, not "wins".
  const p = await cli('prune', norm, '--out', join(parent, 'out'), '--ratio', '0.2', '--planner-step', '0.5', '--calib', calib, '--calib-tokens', '256', '--seq-len', '64', '--quiet');
  assert.equal(p.code, 1);
  assert.match(p.stderr, /^error: planner: candidate with vocab share [0-9.]+% \(V′ \d+, I′ \d+\) scored non-finite bits\/byte on the held-out text/);
  assert.deepEqual(readdirSync(parent), ['calib.txt']);
});
