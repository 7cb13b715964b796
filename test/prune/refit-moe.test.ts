/**
 * The per-expert down_proj refit of a mixture of experts (--reconstruct on Mixtral): the engine's
 * per-expert Gram matrices (over the tokens routed to the expert, each input scaled by its
 * routing weight) against a float64 Mixtral layer written here from transformers' modeling code
 * (routing and expert inputs recomputed from the golden fixture's weights and hidden states, the
 * reference itself checked against transformers' next hidden state and act²), each expert's
 * refit against Householder QR least squares on that expert's weighted routed inputs, and the
 * calibration objective of every expert never worse than the plain slice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../../src/engine/runner.ts';
import { readModelConfig } from '../../src/families/model-config.ts';
import type { ModelSpec } from '../../src/families/types.ts';
import { openCheckpoint, type Checkpoint } from '../../src/io/safetensors.ts';
import { expertChannels, selectChannels } from '../../src/prune/channel-select.ts';
import { CutRefit } from '../../src/prune/down-refit.ts';
import { GramStore } from '../../src/prune/gram-store.ts';
import { engineGrams } from './gram-helpers.ts';
import { pruneModel, type PruneOptions } from '../../src/prune/prune.ts';
import { readGolden, relErr, type Golden } from '../engine/golden-data.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { expertGram, moeLayerReference, weightedRows, type MoeLayerRef } from './moe-reference.ts';
import { CALIB, calibSequences, readTensors } from './prune-helpers.ts';
import { qrRefit } from './qr-refit.ts';

const FX = shared('fixtures/hf-golden/mixtral');
const MODEL = `${FX}/model`;

/** Every layer's float64 reference, each from transformers' own input to that layer. */
async function references(spec: ModelSpec, ck: Checkpoint, g: Golden): Promise<MoeLayerRef[]> {
  const [, N, D] = g.hiddenShape as [number, number, number];
  const out: MoeLayerRef[] = [];
  for (let l = 0; l < spec.layers; l++) {
    const x = Array.from({ length: N }, (_, t) => Float64Array.from(g.hidden.subarray((l * N + t) * D, (l * N + t + 1) * D)));
    out.push(await moeLayerReference(spec, ck, l, x, g.ids.length));
  }
  return out;
}


/** Σ over the rows of ‖W x − V x_S‖², straight from the rows (V [H × n], the kept channels' order). */
function rowObjective(X: Float64Array[], w: Float32Array, H: number, I: number, S: Int32Array, v: ArrayLike<number>): number {
  let total = 0;
  for (const x of X) {
    for (let h = 0; h < H; h++) {
      let d = 0;
      for (let i = 0; i < I; i++) d += w[h * I + i]! * x[i]!;
      for (let p = 0; p < S.length; p++) d -= v[h * S.length + p]! * x[S[p]!]!;
      total += d * d;
    }
  }
  return total;
}

/** Per layer, the kept channels of every expert by the act² of its routed rows (as the pipeline ranks them). */
function keptChannels(spec: ModelSpec, refs: MoeLayerRef[], keep: number): Int32Array[] {
  const I = spec.intermediate;
  return refs.map((r) => {
    const scores = new Float64Array(spec.moe!.experts * I);
    r.inputs.forEach((rows, e) => {
      for (const { x } of rows) for (let i = 0; i < I; i++) scores[e * I + i]! += x[i]! * x[i]!;
    });
    return selectChannels(spec, scores, keep);
  });
}

test('the float64 Mixtral reference reproduces transformers: next hidden state, routing and act² per expert', async () => {
  const { spec } = readModelConfig(MODEL);
  const g = await readGolden(FX);
  const ck = await openCheckpoint(MODEL);
  try {
    const refs = await references(spec, ck, g);
    const meta = JSON.parse(readFileSync(`${FX}/golden.json`, 'utf8')) as { tokens_per_expert: number[][] };
    const [, N, D] = g.hiddenShape as [number, number, number];
    const [, E, , I] = g.act2Shape as [number, number, number, number];
    for (let l = 0; l < spec.layers; l++) {
      const r = refs[l]!;
      // The last hidden state is after the final norm: compare the layers before it.
      if (l < spec.layers - 1) {
        const want = g.hidden.subarray((l + 1) * N * D, (l + 2) * N * D);
        const got = new Float64Array(N * D);
        r.out.forEach((y, t) => got.set(y, t * D));
        assert.ok(relErr(got, want) < 1e-5, `layer ${l}: output vs transformers ${relErr(got, want)}`);
      }
      assert.deepEqual(r.inputs.map((rows) => rows.length), meta.tokens_per_expert[l], `layer ${l}: tokens per expert`);
      for (let e = 0; e < E; e++) {
        const sq = new Float64Array(N * I);
        for (const { row, x } of r.inputs[e]!) for (let i = 0; i < I; i++) sq[row * I + i] = x[i]! * x[i]!;
        const want = g.act2.subarray(((l * E + e) * N) * I, ((l * E + e + 1) * N) * I);
        assert.ok(relErr(sq, want) < 1e-5, `layer ${l} expert ${e}: act² vs transformers ${relErr(sq, want)}`);
      }
    }
  } finally {
    await ck.close();
  }
});

test("the engine's per-expert Gram matrices match the float64 reference over the tokens routed to each expert", async () => {
  const { spec } = readModelConfig(MODEL);
  const g = await readGolden(FX);
  const ck = await openCheckpoint(MODEL);
  const engine = await Engine.open(MODEL, { threads: 2 });
  try {
    const refs = await references(spec, ck, g);
    const { grams } = await engineGrams(engine, g.ids, { tile: 5 });
    const I = spec.intermediate;
    const E = spec.moe!.experts;
    let worst = 0;
    for (let l = 0; l < spec.layers; l++) {
      assert.equal(grams[l]!.length, E * I * I, `layer ${l}: one I × I matrix per expert`);
      for (let e = 0; e < E; e++) {
        const want = expertGram(refs[l]!.inputs[e]!, I, (r) => r.weight);
        const err = relErr(grams[l]!.subarray(e * I * I, (e + 1) * I * I), want);
        worst = Math.max(worst, err);
        // f32 products of an f32 forward pass against float64 throughout (measured 6.4e-7).
        assert.ok(err < 1e-5, `layer ${l} expert ${e}: G vs float64 reference ${err}`);
      }
    }
    // The refit from the engine's G, as the pipeline runs it, against QR on the reference's rows.
    const store = await GramStore.create(I, E, { f64: true });
    let refitErr = 0;
    try {
      for (let l = 0; l < spec.layers; l++) await store.put(l, grams[l]!);
      const channels = keptChannels(spec, refs, 100);
      const refit = new CutRefit(ck, spec, store, channels, 1e-2);
      for (let l = 0; l < spec.layers; l++) {
        for (let e = 0; e < E; e++) {
          const w = await ck.readFloat32(`model.layers.${l}.block_sparse_moe.experts.${e}.w2.weight`);
          const want = qrRefit(weightedRows(refs[l]!.inputs[e]!), w, spec.hidden, I, expertChannels(channels[l]!, e, I), 1e-2);
          refitErr = Math.max(refitErr, relErr((await refit.weights(l, e))!, want));
        }
      }
    } finally {
      await store.close();
    }
    assert.ok(refitErr < 1e-4, `refit from the engine's G vs QR on the float64 rows: ${refitErr}`);
    console.log(`mixtral per-expert G: max relative error vs float64 ${worst.toExponential(2)}; refit from it vs QR ${refitErr.toExponential(2)}`);
  } finally {
    await engine.close();
    await ck.close();
  }
});

test('each expert\'s refit equals QR least squares on its routed inputs, and never raises its calibration objective', async () => {
  const { spec } = readModelConfig(MODEL);
  const g = await readGolden(FX);
  const ck = await openCheckpoint(MODEL);
  const I = spec.intermediate;
  const E = spec.moe!.experts;
  const D = spec.hidden;
  const store = await GramStore.create(I, E, { f64: true });
  try {
    const refs = await references(spec, ck, g);
    for (let l = 0; l < spec.layers; l++) {
      const stacked = new Float64Array(E * I * I);
      refs[l]!.inputs.forEach((rows, e) => stacked.set(expertGram(rows, I, (r) => r.weight), e * I * I));
      await store.put(l, stacked);
    }
    // 20 kept channels: fewer than the 26 tokens the least-used expert sees, so even λ = 0 is
    // defined; 100: more channels than any expert's tokens, held up by the ridge alone.
    let worst = 0;
    for (const [keep, lambda] of [[20, 0], [20, 1e-2], [100, 1e-2], [100, 1e-1]] as const) {
      const channels = keptChannels(spec, refs, keep);
      const refit = new CutRefit(ck, spec, store, channels, lambda);
      for (let l = 0; l < spec.layers; l++) {
        for (let e = 0; e < E; e++) {
          const S = expertChannels(channels[l]!, e, I);
          const X = weightedRows(refs[l]!.inputs[e]!);
          const w = await ck.readFloat32(`model.layers.${l}.block_sparse_moe.experts.${e}.w2.weight`);
          const got = await refit.weights(l, e);
          const where = `keep ${keep} λ ${lambda} layer ${l} expert ${e}`;
          assert.ok(got, `${where}: fell back`);
          const want = qrRefit(X, w, D, I, S, lambda);
          const err = relErr(got, want);
          worst = Math.max(worst, err);
          assert.ok(err <= 1e-6, `${where}: max relative error vs QR ${err}`);
          const plainW = new Float64Array(D * keep);
          for (let h = 0; h < D; h++) for (let p = 0; p < keep; p++) plainW[h * keep + p] = w[h * I + S[p]!]!;
          const plain = rowObjective(X, w, D, I, S, plainW);
          const after = rowObjective(X, w, D, I, S, got);
          assert.ok(after <= plain, `${where}: objective ${after} after the refit, ${plain} with the plain slice`);
          const entry = refit.report().layers.find((x) => x.layer === l && x.expert === e)!;
          const dense = rowObjective(X, w, D, I, S, new Float64Array(D * keep));
          assert.ok(Math.abs(entry.loss_plain - plain / dense) <= 1e-6 * (plain / dense), `${where}: reported plain loss ${entry.loss_plain} vs ${plain / dense}`);
          assert.ok(Math.abs(entry.loss_refit - after / dense) <= 1e-5 * (plain / dense), `${where}: reported refit loss ${entry.loss_refit} vs ${after / dense}`);
        }
      }
      assert.deepEqual(refit.report().layers.map((x) => [x.layer, x.expert]), Array.from({ length: spec.layers * E }, (_, k) => [Math.floor(k / E), k % E]));
    }
    console.log(`mixtral per-expert refit: max relative error vs QR ${worst.toExponential(2)}`);
  } finally {
    await store.close();
    await ck.close();
  }
});

test('an expert no calibration token reached keeps the plain slice and says so', async () => {
  const { spec } = readModelConfig(MODEL);
  const I = spec.intermediate;
  const E = spec.moe!.experts;
  const ck = await openCheckpoint(MODEL);
  const store = await GramStore.create(I, E, { f64: true });
  try {
    // Expert 0 with a G from a few positions, expert 1 with none; 2 and 3 have the same as 0.
    const stacked = new Float64Array(E * I * I);
    for (const e of [0, 2, 3]) for (let i = 0; i < I; i++) stacked[e * I * I + i * I + i] = 1 + i;
    await store.put(0, stacked);
    const channels = [selectChannels(spec, Float64Array.from({ length: E * I }, (_, c) => c % I), 50)];
    const refit = new CutRefit(ck, spec, store, channels, 1e-2);
    assert.ok(await refit.weights(0, 0));
    assert.equal(await refit.weights(0, 1), null);
    const entry = refit.report().layers.find((x) => x.expert === 1)!;
    assert.match(entry.fallback!, /no calibration position was routed to this expert/);
    await assert.rejects(refit.weights(0), /name the expert/);
  } finally {
    await store.close();
    await ck.close();
  }
});

/** Dense column index of each column of `sliced` [H × n] within `dense` [H × I]: the plain slice's kept channels. */
function keptColumns(dense: Float32Array, sliced: Float32Array, H: number, I: number): Int32Array {
  const n = sliced.length / H;
  const out = new Int32Array(n);
  for (let p = 0; p < n; p++) {
    const c = Array.from({ length: I }, (_, i) => i).filter((i) => Array.from({ length: H }, (_, h) => h).every((h) => dense[h * I + i] === sliced[h * n + p]));
    assert.equal(c.length, 1, `column ${p} of the plain slice matches ${c.length} dense columns`);
    out[p] = c[0]!;
  }
  return out;
}

test('compact prune --reconstruct on Mixtral: only the experts\' w2 change, each the ridge solution for its G; the output loads', async () => {
  const dir = fixtureWithTokenizer('mixtral');
  const tmp = makeTmpDir('refit-moe-prune');
  const base: PruneOptions = { model: dir, out: '', vocab: 700, ffn: 100, calib: CALIB(), calibTokens: 512, seqLen: 64, threads: 2, quiet: true };
  const plainDir = join(tmp, 'plain');
  const refitDir = join(tmp, 'refit');
  await pruneModel({ ...base, out: plainDir });
  const report = await pruneModel({ ...base, out: refitDir, reconstruct: true });
  assert.equal(readFileSync(join(refitDir, 'config.json'), 'utf8'), readFileSync(join(plainDir, 'config.json'), 'utf8'));
  const plain = await readTensors(plainDir);
  const refit = await readTensors(refitDir);
  const dense = await readTensors(dir);
  assert.deepEqual([...refit.keys()].sort(), [...plain.keys()].sort());

  const { spec } = readModelConfig(dir);
  const I = spec.intermediate;
  const D = spec.hidden;
  let grams: Float64Array[] = [];
  const engine = await Engine.open(dir, { threads: 2 });
  try {
    ({ grams } = await engineGrams(engine, calibSequences(dir, 512, 64)));
  } finally {
    await engine.close();
  }
  let worst = 0;
  for (const [name, t] of refit) {
    const p = plain.get(name)!;
    assert.deepEqual(t.shape, p.shape, name);
    const m = /^model\.layers\.(\d+)\.block_sparse_moe\.experts\.(\d+)\.w2\.weight$/.exec(name);
    if (!m) {
      assert.deepEqual(t.data, p.data, `${name}: changed by the refit`);
      continue;
    }
    const [l, e] = [Number(m[1]), Number(m[2])];
    const w = dense.get(name)!.data;
    const S = keptColumns(w, p.data, D, I);
    const G = grams[l]!.subarray(e * I * I, (e + 1) * I * I);
    // Optimality of the ridge problem: W′(G[S,S] + ρI) = W·G[:,S] + ρ·W[:,S], checked on the written weights.
    const n = S.length;
    let tr = 0;
    for (const s of S) tr += G[s * I + s]!;
    const rho = (1e-2 * tr) / n;
    let num = 0;
    let den = 0;
    for (let h = 0; h < D; h++) {
      for (let q = 0; q < n; q++) {
        let lhs = rho * t.data[h * n + q]!;
        for (let k = 0; k < n; k++) lhs += t.data[h * n + k]! * G[S[k]! * I + S[q]!]!;
        let rhs = rho * w[h * I + S[q]!]!;
        for (let i = 0; i < I; i++) rhs += w[h * I + i]! * G[i * I + S[q]!]!;
        num = Math.max(num, Math.abs(lhs - rhs));
        den = Math.max(den, Math.abs(rhs));
      }
    }
    worst = Math.max(worst, num / den);
    // The written weights are f32 roundings of the float64 solution.
    assert.ok(num / den < 1e-5, `${name}: normal-equation residual ${num / den}`);
  }
  console.log(`mixtral --reconstruct: written w2 normal-equation residual ≤ ${worst.toExponential(2)}`);

  const r = report.ffn.refit!;
  const E = spec.moe!.experts;
  assert.deepEqual(r.layers.map((x) => [x.layer, x.expert]), Array.from({ length: spec.layers * E }, (_, k) => [Math.floor(k / E), k % E]));
  for (const x of r.layers) {
    assert.equal(x.fallback, null, `layer ${x.layer} expert ${x.expert}`);
    assert.ok(x.loss_refit < x.loss_plain, `layer ${x.layer} expert ${x.expert}: ${x.loss_refit} vs ${x.loss_plain}`);
  }
  const e = await Engine.open(refitDir, { threads: 2 });
  try {
    const out = await e.forward([Int32Array.of(1, 5, 9, 200, 17, 300)], { logits: true });
    assert.ok(out.logits![0]!.every(Number.isFinite));
  } finally {
    await e.close();
  }

  // 64 positions (~32 per expert) for 100 kept channels, no ridge: every expert's G[S,S] is singular.
  const singular = await pruneModel({ ...base, calibTokens: 64, seqLen: 64, out: join(tmp, 'singular'), reconstruct: true, reconstructRidge: 0 });
  const plainSingular = await pruneModel({ ...base, calibTokens: 64, seqLen: 64, out: join(tmp, 'plain-singular') });
  assert.equal(plainSingular.ffn.refit ?? null, null);
  for (const x of singular.ffn.refit!.layers) assert.match(x.fallback ?? '', /not positive definite/, `layer ${x.layer} expert ${x.expert}`);
  const ps = await readTensors(join(tmp, 'plain-singular'));
  for (const [name, t] of await readTensors(join(tmp, 'singular'))) assert.deepEqual(t.data, ps.get(name)!.data, name);
});
