/**
 * `--calib-precision int8` (engine/int8-weights.ts): the weight quantizer against a direct
 * reading of its definition, the CPU rule for the weight range, the int8 engine against
 * transformers' goldens (close, and not f32 in disguise), and the gate on a real model:
 * the channels an int8 calibration keeps are f32's.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { int8Shapes, int8WeightMax, quantizeTransposed, type RowReader } from '../../src/engine/int8-weights.ts';
import { Engine } from '../../src/engine/runner.ts';
import { calibrate, maskOf } from '../../src/prune/calibrate.ts';
import { topChannels } from '../../src/prune/channel-select.ts';
import { readTokenizerFile } from '../../src/tokenizer/tokenizer-file.ts';
import { selectKeptIds } from '../../src/tokenizer/vocab-select.ts';
import { GOLDEN_CASES, shared } from '../helpers/paths.ts';
import { concat, readGolden, relErr } from './golden-data.ts';
import { CALIB, calibSequences } from '../prune/prune-helpers.ts';
import { pruneModel } from '../../src/prune/prune.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

/** A RowReader over an f32 array [batch·rows, cols]. */
const rowsOfArray = (w: Float32Array, rows: number, cols: number): RowReader => (b, r0, n, dst) => dst.set(w.subarray((b * rows + r0) * cols, (b * rows + r0 + n) * cols));

function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32) * 2 - 1;
}

test('quantizeTransposed: q[b, c, r]·scale[b, r] is w[b, r, c] to half a step, the row maximum at ±qmax, zero rows stay zero', () => {
  for (const qmax of [127, 63]) {
    const [B, R, C] = [2, 37, 70];
    const rnd = lcg(qmax);
    const w = Float32Array.from({ length: B * R * C }, (_, i) => rnd() * (1 + (i % 7)));
    w.fill(0, 5 * C, 6 * C); // row 5 of batch 0
    const q = new Int8Array(w.length);
    const scale = new Float32Array(B * R);
    quantizeTransposed(rowsOfArray(w, R, C), B, R, C, q, scale, qmax);
    for (let b = 0; b < B; b++) {
      for (let r = 0; r < R; r++) {
        const s = scale[b * R + r]!;
        let top = 0;
        for (let c = 0; c < C; c++) {
          const v = q[b * R * C + c * R + r]!;
          const x = w[b * R * C + r * C + c]!;
          assert.ok(Math.abs(v) <= qmax);
          assert.ok(Math.abs(v * s - x) <= s / 2 + 1e-6 * Math.abs(x), `b ${b} r ${r} c ${c}: ${v}·${s} vs ${x}`);
          top = Math.max(top, Math.abs(v));
        }
        if (b === 0 && r === 5) {
          assert.equal(s, 1);
          assert.equal(top, 0);
        } else assert.equal(top, qmax);
      }
    }
  }
  assert.deepEqual(int8Shapes([896, 4864]), { q: [4864, 896], scale: [896] });
  assert.deepEqual(int8Shapes([8, 64, 32]), { q: [8, 32, 64], scale: [8, 1, 64] });
});

test('int8WeightMax: 8-bit weights where the u8×s8 dot product cannot saturate (VNNI, ARM), 7-bit on other x86', () => {
  assert.equal(int8WeightMax({ arch: 'arm64', flags: new Set() }), 127);
  assert.equal(int8WeightMax({ arch: 'x64', flags: new Set(['avx2', 'avx512f', 'avx512_vnni']) }), 127);
  assert.equal(int8WeightMax({ arch: 'x64', flags: new Set(['avx2', 'avx_vnni']) }), 127);
  assert.equal(int8WeightMax({ arch: 'x64', flags: new Set(['avx2', 'avx512f']) }), 63);
  assert.equal(int8WeightMax({ arch: 'x64', flags: new Set() }), 63);
});

// Measured (printed below, 8-bit weights): logits 2.9e-4 (granite) to 6.1e-2 (olmo2) of
// transformers' over the dense cases, 1.6e-1 on the MoE (random routers: a top-2 choice flips).
// f32 is ≤ 6.2e-7 (golden.test.ts), so > 1e-4 says the integer path ran.
for (const name of GOLDEN_CASES) {
  test(`int8 engine on ${name}: logits within 0.25 relative of transformers, and not f32's`, async () => {
    const root = shared('fixtures/hf-golden', name);
    const g = await readGolden(root);
    const engine = await Engine.open(join(root, 'model'), { threads: 1, precision: 'int8' });
    try {
      const r = await engine.forward(g.ids, { act2: true, logits: true });
      const e = relErr(concat(r.logits!), g.logits);
      console.log(`# int8 ${name} logits max rel err ${e.toExponential(2)}`);
      assert.ok(e <= 0.25 && e > 1e-4, `logits rel err ${e}`);
      for (const a of r.act2!) for (const x of a) assert.ok(Number.isFinite(x));
    } finally {
      await engine.close();
    }
  });
}

test('precision int8 is refused with --device webgpu (DynamicQuantizeMatMul is a CPU kernel)', async () => {
  await assert.rejects(Engine.open(shared('models/wiki-28m'), { precision: 'int8', device: 'webgpu' }), /precision int8 runs on the CPU only/);
});

// The issue's gate on a real model: the channels kept under int8 calibration are f32's. wiki-28m,
// 4,000 tokens of calib-wiki in sequences of 512, act² under the V′ = 25,933 cut (the planner's
// R = 0.35 pick), I′ = 1,024 of 1,280: measured 99.55% (8-bit weights). With 40,000 tokens
// bench/calib-precision.ts measures 99.3–99.8% at every I′ it tries, where f32 on another
// 40,000-token sample keeps only 81–97% of the same channels.
test('wiki-28m: int8 calibration keeps ≥ 99% of the channels f32 keeps (≥ 98% with 7-bit weights)', async () => {
  const dir = shared('models/wiki-28m');
  const seqs = calibSequences(dir, 4000, 512);
  const mask = maskOf(selectKeptIds(readTokenizerFile(join(dir, 'tokenizer.json')), { policy: 'id', vocabSize: 25_933 }), 50_257);
  const run = (precision: 'f32' | 'int8') => calibrate(dir, seqs, { masks: [mask], all: false, cosine: false }, { threads: 2, precision });
  const f32 = (await run('f32')).byMask[0]!;
  const int8 = (await run('int8')).byMask[0]!;
  const keep = 1024;
  let same = 0;
  for (let l = 0; l < f32.length; l++) {
    const kept = new Set(topChannels(f32[l]!, keep));
    for (const c of topChannels(int8[l]!, keep)) if (kept.has(c)) same++;
  }
  const share = same / (f32.length * keep);
  console.log(`# wiki-28m int8 vs f32 kept-channel overlap at I′ ${keep}: ${(100 * share).toFixed(2)}% (weights ±${int8WeightMax()})`);
  assert.ok(share >= (int8WeightMax() === 127 ? 0.99 : 0.98), `overlap ${share}`);
});

test('pruneModel with calibPrecision int8: the report and the model card say so; f32 is the default', async () => {
  const dir = fixtureWithTokenizer('llama3');
  const base = { model: dir, ffn: 96, calib: CALIB(), calibTokens: 256, seqLen: 64, quiet: true } as const;
  const int8 = await pruneModel({ ...base, out: join(makeTmpDir('int8-prune'), 'out'), calibPrecision: 'int8' });
  assert.equal(int8.calibration!.precision, 'int8');
  assert.equal(JSON.parse(readFileSync(join(int8.output, 'compact-report.json'), 'utf8')).calibration.precision, 'int8');
  assert.match(readFileSync(join(int8.output, 'README.md'), 'utf8'), /ran its projections in int8 \(`--calib-precision int8`/);
  const f32 = await pruneModel({ ...base, out: join(makeTmpDir('int8-prune'), 'out') });
  assert.equal(f32.calibration!.precision, 'f32');
  assert.doesNotMatch(readFileSync(join(f32.output, 'README.md'), 'utf8'), /in int8/);
  await assert.rejects(pruneModel({ ...base, out: join(makeTmpDir('int8-prune'), 'out'), calibPrecision: 'int4' as 'int8' }), /--calib-precision must be one of f32, int8, got int4/);
});
