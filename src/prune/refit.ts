/**
 * Training-free least-squares refit of down_proj after FFN channels are cut (issue #18).
 *
 * With x_t the input of down_proj at calibration position t, G = Σ_t x_t x_tᵀ, W the dense
 * down_proj [H × I] and S the kept channels, the refit
 *
 *     W′ = (W·G[:, S] + ρ·W[:, S]) · (G[S, S] + ρ·I)⁻¹,   ρ = λ · mean(diag G[S, S])
 *
 * minimises Σ_t ‖W x_t − W′ x_{t,S}‖² + ρ‖W′ − W[:, S]‖²: the kept channels take over what the
 * cut ones carried, and the ridge pulls toward the plain slice (not toward zero), so a small
 * calibration set cannot drag the weights far from the trained ones.
 *
 * Solved for all H rows at once in float64: B = (W·G[:, S])ᵀ + ρ·W[:, S]ᵀ from one pass over G's
 * row blocks, A = G[S, S] + ρI gathered in the same pass and factored in place (cholesky.ts), then
 * two triangular solves. Every big product is an onnxruntime f64 GEMM (engine/gemm.ts).
 */
import { Gemm } from '../engine/gemm.ts';
import { choleskyInPlace, triangularSolve, upperNormSquared } from './cholesky.ts';

export const DEFAULT_REFIT_RIDGE = 1e-2;

/** G by blocks of rows, as float64 (the store keeps f32 tiles on disk; tests hand a dense matrix). */
export interface GramRows {
  /** I, the side of G. */
  readonly size: number;
  /** Rows per block (the last block may be shorter). */
  readonly blockRows: number;
  /** Rows [i·blockRows, min(I, (i+1)·blockRows)) of G, row-major [rows × I]. */
  rows(i: number): Float64Array | Promise<Float64Array>;
}

/** A dense row-major I × I matrix as GramRows (views, no copy). */
export function denseGram(g: Float64Array, I: number, blockRows = 512): GramRows {
  if (g.length !== I * I) throw new Error(`gram has ${g.length} entries, expected ${I}²`);
  return { size: I, blockRows, rows: (i) => g.subarray(i * blockRows * I, Math.min(I, (i + 1) * blockRows) * I) };
}

export interface DownRefit {
  /** [H × n] row-major in the order of the kept channels; null when the layer keeps the plain slice. */
  weight: Float32Array | null;
  /** Why the layer keeps the plain slice, or null. */
  fallback: string | null;
  /**
   * The calibration objective Σ_t ‖W x_t − W̃ x_{t,S}‖² of the plain slice and of the refit, each
   * relative to the dense output energy Σ_t ‖W x_t‖² (0 = the cut loses nothing).
   */
  lossPlain: number;
  lossRefit: number;
  /** Σ_t ‖W x_t‖² = Σ_h w_h·G·w_h (independent of the cut: a caller refitting several cuts passes it back). */
  denseEnergy: number;
}

export interface RefitOptions {
  /** Σ_h w_h·G·w_h when already known (saves H·I² multiply-adds: the full W·G instead of W·G[:, S]). */
  denseEnergy?: number;
  /** The f64 GEMM to run on (one is made and closed when absent). */
  gemm?: Gemm<'float64'>;
  /** Cholesky block size (tests make it small to cover the blocked path on small systems). */
  block?: number;
  threads?: number;
}

/**
 * The refit of one layer. `w` is the dense down_proj [H × I] row-major, `gram` G [I × I] (dense
 * row-major or by row blocks), `channels` the kept channels (the order of the output's columns),
 * `lambda` ≥ 0.
 */
export async function refitDown(w: Float32Array, H: number, I: number, gram: GramRows | Float64Array, channels: Int32Array, lambda: number, opts: RefitOptions = {}): Promise<DownRefit> {
  const g = gram instanceof Float64Array ? denseGram(gram, I) : gram;
  if (g.size !== I) throw new Error(`gram is ${g.size}², down_proj has ${I} columns`);
  const gemm = opts.gemm ?? new Gemm('float64', opts.threads);
  try {
    return await solve(w, H, I, g, channels, lambda, gemm, opts);
  } finally {
    if (!opts.gemm) await gemm.close();
  }
}

async function solve(w: Float32Array, H: number, I: number, g: GramRows, channels: Int32Array, lambda: number, gemm: Gemm<'float64'>, opts: RefitOptions): Promise<DownRefit> {
  const n = channels.length;
  const { a, bt, dense } = await gatherSystem(w, H, I, g, channels, gemm, opts.denseEnergy);
  // W[:, S]ᵀ, n × H: the ridge's target and the plain slice.
  const ws = new Float64Array(n * H);
  for (let p = 0; p < n; p++) {
    const c = channels[p]!;
    for (let h = 0; h < H; h++) ws[p * H + h] = w[h * I + c]!;
  }
  let diag = 0;
  for (let p = 0; p < n; p++) diag += a[p * n + p]!;
  const rho = lambda * (diag / n);
  // Σ_h w_{h,S}·(G w_h)[S] and ‖W[:, S]‖² (before B takes the ridge term).
  let cross = 0;
  let wsws = 0;
  for (let i = 0; i < n * H; i++) {
    cross += ws[i]! * bt[i]!;
    wsws += ws[i]! * ws[i]!;
    bt[i]! += rho * ws[i]!;
  }
  for (let p = 0; p < n; p++) a[p * n + p]! += rho;
  const scale = dense > 0 ? 1 / dense : 1;
  const factor = await choleskyInPlace(a, n, gemm, { block: opts.block });
  if (!factor) {
    // A was partly overwritten: the plain slice's objective needs G[S, S] again.
    const again = await gatherSystem(w, H, I, g, channels, gemm, dense, true);
    const quad = await quadForm(again.a, n, ws, H, gemm);
    const lossPlain = Math.max(0, quad - 2 * cross + dense) * scale;
    return { weight: null, fallback: `G[S,S] + ρI is not positive definite (λ = ${lambda})`, lossPlain, lossRefit: lossPlain, denseEnergy: dense };
  }
  // Objectives minus the dense energy, summed over h, from the factor A = L·Lᵀ:
  //   plain: w_S·G[S,S]·w_S − 2·w_S·g = ‖Lᵀ w_S‖² − ρ‖w_S‖² − 2·cross
  //   refit: with A·x = b, x·G[S,S]·x − 2·x·g = −x·b − ρ‖x‖² + 2ρ·x·w_S, and x·b = ‖L⁻¹ b‖².
  const plain = (await upperNormSquared(factor, ws, H, gemm)) - rho * wsws - 2 * cross + dense;
  await triangularSolve(factor, bt, H, false, gemm);
  let xb = 0;
  for (let i = 0; i < n * H; i++) xb += bt[i]! * bt[i]!;
  await triangularSolve(factor, bt, H, true, gemm);
  let xx = 0;
  let xw = 0;
  const out = new Float32Array(H * n);
  let finite = true;
  for (let p = 0; p < n; p++) {
    for (let h = 0; h < H; h++) {
      const x = bt[p * H + h]!;
      xx += x * x;
      xw += x * ws[p * H + h]!;
      const v = Math.fround(x);
      if (!Number.isFinite(v)) finite = false;
      out[h * n + p] = v;
    }
  }
  const refit = -xb - rho * xx + 2 * rho * xw + dense;
  const lossPlain = Math.max(0, plain) * scale;
  const lossRefit = Math.max(0, refit) * scale;
  if (!finite) return { weight: null, fallback: 'the refit weights overflow float32', lossPlain, lossRefit: lossPlain, denseEnergy: dense };
  // The ridge's minimum can never exceed the plain slice's objective; if rounding says otherwise
  // the system was too ill-conditioned to trust.
  if (!(refit <= plain + 1e-9 * Math.abs(dense))) {
    return { weight: null, fallback: 'the refit did not lower the calibration objective (ill-conditioned G)', lossPlain, lossRefit: lossPlain, denseEnergy: dense };
  }
  return { weight: out, fallback: null, lossPlain, lossRefit, denseEnergy: dense };
}

/**
 * One pass over G's row blocks: A = G[S, S] (n × n), Bᵀ = G[S, :]·Wᵀ (n × H) and, unless known,
 * the dense energy Σ_h w_h·G·w_h (then the whole G·Wᵀ is formed, block by block, never stored).
 * `onlyA` skips the products.
 */
async function gatherSystem(w: Float32Array, H: number, I: number, g: GramRows, channels: Int32Array, gemm: Gemm<'float64'>, denseEnergy: number | undefined, onlyA = false): Promise<{ a: Float64Array; bt: Float64Array; dense: number }> {
  const n = channels.length;
  const pos = new Int32Array(I).fill(-1);
  for (let p = 0; p < n; p++) pos[channels[p]!] = p;
  const a = new Float64Array(n * n);
  const bt = new Float64Array(onlyA ? 0 : n * H);
  const w64 = onlyA ? null : Float64Array.from(w);
  const full = denseEnergy === undefined;
  const R = g.blockRows;
  const prod = new Float64Array(onlyA ? 0 : R * H);
  const kept = full || onlyA ? null : new Float64Array(R * I);
  let dense = 0;
  for (let i = 0, r0 = 0; r0 < I; i++, r0 += R) {
    const rows = Math.min(R, I - r0);
    const gb = await g.rows(i);
    if (gb.length !== rows * I) throw new Error(`gram block ${i} has ${gb.length} entries, expected ${rows}·${I}`);
    const keptRows: number[] = [];
    for (let r = 0; r < rows; r++) {
      const p = pos[r0 + r]!;
      if (p < 0) continue;
      keptRows.push(r);
      const src = r * I;
      const dst = p * n;
      for (let q = 0; q < n; q++) a[dst + q] = gb[src + channels[q]!]!;
    }
    if (onlyA) continue;
    if (full) {
      await gemm.mul(gb, w64!, { M: rows, K: I, N: H, transB: true }, prod);
      for (let r = 0; r < rows; r++) {
        const col = r0 + r;
        let s = 0;
        for (let h = 0; h < H; h++) s += w64![h * I + col]! * prod[r * H + h]!;
        dense += s;
        const p = pos[col]!;
        if (p >= 0) bt.set(prod.subarray(r * H, (r + 1) * H), p * H);
      }
    } else if (keptRows.length > 0) {
      for (let k = 0; k < keptRows.length; k++) kept!.set(gb.subarray(keptRows[k]! * I, (keptRows[k]! + 1) * I), k * I);
      await gemm.mul(kept!, w64!, { M: keptRows.length, K: I, N: H, transB: true }, prod);
      for (let k = 0; k < keptRows.length; k++) bt.set(prod.subarray(k * H, (k + 1) * H), pos[r0 + keptRows[k]!]! * H);
    }
  }
  return { a, bt, dense: full ? dense : denseEnergy };
}

/** Σ_columns vᵀ·A·v for A n × n and V n × m row-major, by row blocks of A. */
async function quadForm(a: Float64Array, n: number, v: Float64Array, m: number, gemm: Gemm<'float64'>): Promise<number> {
  const R = 256;
  const tmp = new Float64Array(Math.min(n, R) * m);
  let total = 0;
  for (let r0 = 0; r0 < n; r0 += R) {
    const rows = Math.min(R, n - r0);
    await gemm.mul(a.subarray(r0 * n), v, { M: rows, K: n, N: m }, tmp);
    for (let i = 0; i < rows * m; i++) total += tmp[i]! * v[r0 * m + i]!;
  }
  return total;
}
