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
 * calibration set cannot drag the weights far from the trained ones. Solved row by row (G and the
 * system matrix are symmetric) with one Cholesky factor in float64.
 */
import { cholesky, choleskySolve } from './cholesky.ts';

export const DEFAULT_REFIT_RIDGE = 1e-2;

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
}

/**
 * The refit of one layer. `w` is the dense down_proj [H × I] row-major, `gram` G [I × I]
 * row-major, `channels` the kept channels (the order of the output's columns), `lambda` ≥ 0.
 */
export function refitDown(w: Float32Array, H: number, I: number, gram: Float64Array, channels: Int32Array, lambda: number, denseEnergy?: number): DownRefit {
  const n = channels.length;
  const A0 = new Float64Array(n * n);
  let diag = 0;
  for (let p = 0; p < n; p++) {
    const row = channels[p]! * I;
    for (let q = 0; q < n; q++) A0[p * n + q] = gram[row + channels[q]!]!;
    diag += A0[p * n + p]!;
  }
  const rho = lambda * (diag / n);
  const A = A0.slice();
  for (let p = 0; p < n; p++) A[p * n + p]! += rho;
  const factor = cholesky(A, n);

  const gw = new Float64Array(n);
  const wS = new Float64Array(n);
  const b = new Float64Array(n);
  const y = new Float64Array(n);
  const out = factor ? new Float32Array(H * n) : null;
  const dense = denseEnergy ?? outputEnergy(w, H, I, gram);
  // Objectives minus the dense energy: Σ_h −2·v_h·(G w_h)[S] + v_h·G[S,S]·v_h.
  let plain = 0;
  let refit = 0;
  let finite = true;
  for (let h = 0; h < H; h++) {
    const wr = w.subarray(h * I, (h + 1) * I);
    // (G·w_h)[S], row h of W·G[:, S] (G is symmetric, so rows of G[S, :] are contiguous).
    for (let p = 0; p < n; p++) {
      const r = channels[p]! * I;
      let s = 0;
      for (let j = 0; j < I; j++) s += gram[r + j]! * wr[j]!;
      gw[p] = s;
    }
    let cross = 0;
    for (let p = 0; p < n; p++) {
      wS[p] = wr[channels[p]!]!;
      cross += wS[p]! * gw[p]!;
    }
    plain += quadForm(A0, n, wS) - 2 * cross;
    if (!factor) continue;
    for (let p = 0; p < n; p++) b[p] = gw[p]! + rho * wS[p]!;
    choleskySolve(factor, b, y);
    // With A·x = b and A = G[S,S] + ρI: x·G[S,S]·x = x·b − ρ‖x‖², no second n² product.
    let xb = 0;
    let xx = 0;
    let xg = 0;
    for (let p = 0; p < n; p++) {
      const x = b[p]!;
      xb += x * (gw[p]! + rho * wS[p]!);
      xx += x * x;
      xg += x * gw[p]!;
    }
    refit += xb - rho * xx - 2 * xg;
    const o = h * n;
    for (let p = 0; p < n; p++) {
      const v = Math.fround(b[p]!);
      if (!Number.isFinite(v)) finite = false;
      out![o + p] = v;
    }
  }
  plain += dense;
  refit += dense;
  const scale = dense > 0 ? 1 / dense : 1;
  const lossPlain = Math.max(0, plain) * scale;
  if (!factor) return { weight: null, fallback: `G[S,S] + ρI is not positive definite (λ = ${lambda})`, lossPlain, lossRefit: lossPlain };
  const lossRefit = Math.max(0, refit) * scale;
  if (!finite) return { weight: null, fallback: 'the refit weights overflow float32', lossPlain, lossRefit: lossPlain };
  // The ridge's minimum can never exceed the plain slice's objective; if rounding says otherwise
  // the system was too ill-conditioned to trust.
  if (!(refit <= plain + 1e-9 * Math.abs(dense))) {
    return { weight: null, fallback: 'the refit did not lower the calibration objective (ill-conditioned G)', lossPlain, lossRefit: lossPlain };
  }
  return { weight: out, fallback: null, lossPlain, lossRefit };
}

/** Σ_t ‖W x_t‖² = Σ_h w_h·G·w_h: the dense FFN output energy of a layer (independent of the cut). */
export function outputEnergy(w: Float32Array, H: number, I: number, gram: Float64Array): number {
  let total = 0;
  for (let h = 0; h < H; h++) {
    const o = h * I;
    for (let i = 0; i < I; i++) {
      const wi = w[o + i]!;
      if (wi === 0) continue;
      const r = i * I;
      let s = 0;
      for (let j = 0; j < I; j++) s += gram[r + j]! * w[o + j]!;
      total += s * wi;
    }
  }
  return total;
}

/** v·A·v for A n × n row-major. */
function quadForm(A: Float64Array, n: number, v: Float64Array): number {
  let total = 0;
  for (let p = 0; p < n; p++) {
    const r = p * n;
    let s = 0;
    for (let q = 0; q < n; q++) s += A[r + q]! * v[q]!;
    total += s * v[p]!;
  }
  return total;
}
