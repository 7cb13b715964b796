/**
 * The down_proj refit (--reconstruct): the engine's Gram matrix against transformers' down_proj
 * inputs, the Cholesky solve against independent float64 least squares (Gaussian elimination on
 * the normal equations of a golden fixture layer; Householder QR on raw activations), and on
 * every layer of wiki-28m the refit never raising the calibration objective over the plain slice.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../src/engine/runner.ts';
import { layerPlan } from '../../src/engine/weights.ts';
import { readModelConfig } from '../../src/families/model-config.ts';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { refitDown } from '../../src/prune/refit.ts';
import { mulberry32 } from '../../src/random.ts';
import { goldenAct2, readGolden, relErr } from '../engine/golden-data.ts';
import { shared } from '../helpers/paths.ts';
import { npmTestOnly } from '../helpers/quick.ts';
import { engineGrams } from './gram-helpers.ts';
import { calibSequences, topK } from './prune-helpers.ts';
import { qrRefit } from './qr-refit.ts';

/** Every layer's G (dense, read back from the GramStore's tiles of side `tile`) and act² from one engine pass. */
async function gramsOf(dir: string, seqs: Int32Array[], tile?: number): Promise<{ grams: Float64Array[]; act2: Float64Array[] }> {
  const e = await Engine.open(dir, { threads: 2 });
  try {
    const r = await engineGrams(e, seqs, { tile, act2: true });
    return { grams: r.grams, act2: r.act2! };
  } finally {
    await e.close();
  }
}

async function downOf(dir: string, layer: number): Promise<{ w: Float32Array; H: number; I: number }> {
  const { spec } = readModelConfig(dir);
  const t = layerPlan(spec, layer).find((p) => p.role === 'down')!;
  const ck = await openCheckpoint(dir);
  try {
    return { w: await ck.readFloat32(t.name), H: t.shape[0]!, I: t.shape[1]! };
  } finally {
    await ck.close();
  }
}

/** Solves A X = B (A n×n, B n×m, row-major) by Gaussian elimination with partial pivoting. */
function gaussSolve(A: Float64Array, B: Float64Array, n: number, m: number): Float64Array {
  const a = A.slice();
  const b = B.slice();
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r * n + c]!) > Math.abs(a[p * n + c]!)) p = r;
    if (p !== c) {
      for (let k = 0; k < n; k++) [a[c * n + k], a[p * n + k]] = [a[p * n + k]!, a[c * n + k]!];
      for (let k = 0; k < m; k++) [b[c * m + k], b[p * m + k]] = [b[p * m + k]!, b[c * m + k]!];
    }
    for (let r = c + 1; r < n; r++) {
      const f = a[r * n + c]! / a[c * n + c]!;
      if (f === 0) continue;
      for (let k = c; k < n; k++) a[r * n + k]! -= f * a[c * n + k]!;
      for (let k = 0; k < m; k++) b[r * m + k]! -= f * b[c * m + k]!;
    }
  }
  for (let c = n - 1; c >= 0; c--) {
    for (let k = 0; k < m; k++) {
      let s = b[c * m + k]!;
      for (let j = c + 1; j < n; j++) s -= a[c * n + j]! * b[j * m + k]!;
      b[c * m + k] = s / a[c * n + c]!;
    }
  }
  return b;
}

/** The refit [H × n] from the normal equations, written out independently of refit.ts. */
function normalEquationsRefit(w: Float32Array, H: number, I: number, G: Float64Array, S: number[], lambda: number): Float64Array {
  const n = S.length;
  const A = new Float64Array(n * n);
  for (let p = 0; p < n; p++) for (let q = 0; q < n; q++) A[p * n + q] = G[S[p]! * I + S[q]!]!;
  let tr = 0;
  for (let p = 0; p < n; p++) tr += A[p * n + p]!;
  const rho = (lambda * tr) / n;
  for (let p = 0; p < n; p++) A[p * n + p]! += rho;
  // B = G[S, :]·Wᵀ + ρ·W[:, S]ᵀ   (n × H)
  const B = new Float64Array(n * H);
  for (let p = 0; p < n; p++) {
    for (let h = 0; h < H; h++) {
      let s = rho * w[h * I + S[p]!]!;
      for (let i = 0; i < I; i++) s += G[S[p]! * I + i]! * w[h * I + i]!;
      B[p * H + h] = s;
    }
  }
  const X = gaussSolve(A, B, n, H); // W′ᵀ
  const out = new Float64Array(H * n);
  for (let h = 0; h < H; h++) for (let p = 0; p < n; p++) out[h * n + p] = X[p * H + h]!;
  return out;
}

test('the engine Gram matrix of down_proj inputs matches transformers on a golden fixture', async () => {
  const fx = shared('fixtures/hf-golden/llama3');
  const g = await readGolden(fx);
  const { grams } = await gramsOf(`${fx}/model`, g.ids, 7);
  const I = g.act2Shape[2]!;
  for (let l = 0; l < grams.length; l++) {
    const G = grams[l]!;
    // Its diagonal is Σ_t x_t², which transformers' act2 gives in float64.
    const diag = Float64Array.from({ length: I }, (_, i) => G[i * I + i]!);
    assert.ok(relErr(diag, goldenAct2(g, l)) < 1e-4, `layer ${l}: diag(G) vs transformers' Σ act²: ${relErr(diag, goldenAct2(g, l))}`);
    // Symmetric, and Cauchy–Schwarz bounds every entry by its diagonal (G is a sum of outer products).
    for (let i = 0; i < I; i++) {
      for (let j = 0; j < i; j++) {
        assert.ok(Math.abs(G[i * I + j]! - G[j * I + i]!) <= 1e-5 * Math.sqrt(G[i * I + i]! * G[j * I + j]!), `layer ${l}: G not symmetric at ${i},${j}`);
        assert.ok(Math.abs(G[i * I + j]!) <= (1 + 1e-5) * Math.sqrt(G[i * I + i]! * G[j * I + j]!) + 1e-30, `layer ${l}: |G ${i},${j}| breaks Cauchy–Schwarz`);
      }
    }
  }
});

test('the refit equals an independent float64 least-squares solution on a golden fixture layer', async () => {
  const fx = shared('fixtures/hf-golden/llama3');
  const g = await readGolden(fx);
  const dir = `${fx}/model`;
  const { grams, act2 } = await gramsOf(dir, g.ids);
  const layer = 1;
  const { w, H, I } = await downOf(dir, layer);
  const G = grams[layer]!;
  // 80 calibration positions: 60 kept channels leave G[S,S] invertible even without a ridge.
  // Blocks of 16 cover the blocked factor and solves (several diagonal blocks, a ragged last one).
  for (const [k, lambda, block] of [[60, 0, undefined], [60, 1e-2, 16], [120, 1e-3, 16], [120, 1e-1, undefined]] as const) {
    const S = topK(act2[layer]!, k);
    const r = await refitDown(w, H, I, G, Int32Array.from(S), lambda, { block, threads: 2 });
    assert.equal(r.fallback, null, `k ${k} λ ${lambda}: ${r.fallback}`);
    const want = normalEquationsRefit(w, H, I, G, S, lambda);
    const err = relErr(r.weight!, want);
    assert.ok(err <= 1e-6, `k ${k} λ ${lambda}: max relative error ${err}`);
    assert.ok(r.lossRefit < r.lossPlain, `k ${k} λ ${lambda}: the refit did not lower the objective (${r.lossRefit} vs ${r.lossPlain})`);
  }
  // 120 channels seen at only 80 positions: G[S,S] is singular, so without a ridge the layer
  // keeps the plain slice and says why — never NaN weights.
  const r = await refitDown(w, H, I, G, Int32Array.from(topK(act2[layer]!, 120)), 0, { block: 16, threads: 2 });
  assert.equal(r.weight, null);
  assert.match(r.fallback!, /not positive definite/);
});

test('the refit from G equals Householder QR least squares on the raw activations', async () => {
  const rand = mulberry32(7);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const N = 300, I = 40, H = 6;
  // Correlated channels (X = Z·M), as FFN activations are.
  const M = Float64Array.from({ length: I * I }, () => gauss());
  const Z = Float64Array.from({ length: N * I }, () => gauss());
  const X = new Float64Array(N * I);
  for (let t = 0; t < N; t++) for (let j = 0; j < I; j++) {
    let s = 0;
    for (let k = 0; k < I; k++) s += Z[t * I + k]! * M[k * I + j]! * (k === j ? 3 : 0.3);
    X[t * I + j] = s;
  }
  const w = Float32Array.from({ length: H * I }, () => gauss());
  const G = new Float64Array(I * I);
  for (let t = 0; t < N; t++) for (let i = 0; i < I; i++) for (let j = 0; j < I; j++) G[i * I + j]! += X[t * I + i]! * X[t * I + j]!;
  const S = [0, 2, 3, 7, 8, 11, 15, 16, 20, 21, 25, 28, 30, 33, 34, 36, 39];
  for (const lambda of [0, 0.05]) {
    const r = await refitDown(w, H, I, G, Int32Array.from(S), lambda, { block: 5, threads: 2 });
    const want = qrRefit(Array.from({ length: N }, (_, t) => X.subarray(t * I, (t + 1) * I)), w, H, I, Int32Array.from(S), lambda);
    const err = relErr(r.weight!, want);
    assert.ok(err <= 1e-6, `λ ${lambda}: max relative error against QR ${err}`);
  }
});

/** Σ_t ‖W x_t − V x_{t,S}‖² from G, computed here as tr((E)·G·(E)ᵀ) with E = W − V scattered into S. */
function objective(w: Float32Array, H: number, I: number, G: Float64Array, S: Int32Array, v: ArrayLike<number>): number {
  const n = S.length;
  let total = 0;
  const e = new Float64Array(I);
  for (let h = 0; h < H; h++) {
    for (let i = 0; i < I; i++) e[i] = w[h * I + i]!;
    for (let p = 0; p < n; p++) e[S[p]!]! -= v[h * n + p]!;
    for (let i = 0; i < I; i++) {
      if (e[i] === 0) continue;
      let s = 0;
      for (let j = 0; j < I; j++) s += G[i * I + j]! * e[j]!;
      total += e[i]! * s;
    }
  }
  return total;
}

test('on every layer of wiki-28m the refit never raises the calibration objective over the plain slice', { skip: npmTestOnly('about 60 CPU-s') }, async () => {
  const dir = shared('models/wiki-28m');
  const { grams, act2 } = await gramsOf(dir, calibSequences(dir, 2048, 256));
  for (let l = 0; l < grams.length; l++) {
    const { w, H, I } = await downOf(dir, l);
    // The headline cut's I′ on every layer; an FFN-heavy cut without a ridge on the first and last.
    const cases: Array<readonly [number, number]> = l === 0 || l === grams.length - 1 ? [[962, 1e-2], [160, 0]] : [[962, 1e-2]];
    for (const [k, lambda] of cases) {
      const S = Int32Array.from(topK(act2[l]!, k));
      const r = await refitDown(w, H, I, grams[l]!, S, lambda, { threads: 2 });
      assert.equal(r.fallback, null, `layer ${l} k ${k}: ${r.fallback}`);
      const plainW = new Float64Array(H * k);
      for (let h = 0; h < H; h++) for (let p = 0; p < k; p++) plainW[h * k + p] = w[h * I + S[p]!]!;
      const plain = objective(w, H, I, grams[l]!, S, plainW);
      const refit = objective(w, H, I, grams[l]!, S, r.weight!);
      assert.ok(refit < plain, `layer ${l} k ${k} λ ${lambda}: objective ${refit} after the refit, ${plain} with the plain slice`);
      // The report's relative losses are these objectives over the dense output energy.
      if (l !== 0) continue;
      // (V = 0 leaves the dense output energy Σ_t ‖W x_t‖².)
      const dense = objective(w, H, I, grams[l]!, S, new Float64Array(H * k));
      assert.ok(Math.abs(r.lossPlain - plain / dense) <= 1e-6 * (plain / dense), `layer ${l} k ${k}: reported plain loss ${r.lossPlain} vs ${plain / dense}`);
      assert.ok(Math.abs(r.lossRefit - refit / dense) <= 1e-5 * (refit / dense), `layer ${l} k ${k}: reported refit loss ${r.lossRefit} vs ${refit / dense}`);
    }
  }
});
