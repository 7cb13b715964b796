/**
 * Blocked Cholesky factorisation and solves in float64 for the symmetric positive definite systems
 * of the down_proj refit (n up to ~10⁴), factored in place. Every O(n³) and O(n²·m) step is a
 * GEMM on onnxruntime (engine/gemm.ts, multi-threaded MLAS double precision); JavaScript does only
 * the b × b diagonal blocks (their factor and its inverse, O(n·b²) in all) and the copies of
 * strided blocks into contiguous GEMM operands (O(n³/b) element moves).
 *
 * Row-major throughout. Right-looking: after block column k is factored, the lower triangle of
 * the trailing matrix is updated row block by row block, so only the n³/6 multiply-adds of the
 * triangle are done. The triangular solves multiply by the explicit inverse of each diagonal
 * block (well conditioned here: the ridge bounds the system's condition number).
 */
import type { Gemm } from '../engine/gemm.ts';

export const CHOLESKY_BLOCK = 256;

export interface CholeskyFactor {
  n: number;
  /** The factored matrix: L in its lower triangle (row-major n × n; the strict upper part is stale). */
  a: Float64Array;
  /** Block size. */
  block: number;
  /** Per diagonal block k: L_kk⁻¹, row-major b_k × b_k (lower triangular). */
  inv: Float64Array[];
}

/**
 * Factors A = L·Lᵀ in place (A row-major n × n, symmetric; only its lower triangle is read and
 * overwritten). Returns null when A is not numerically positive definite: a pivot ≤ `relPivot` ·
 * max diag(A), or not finite (A is then partly overwritten).
 */
export async function choleskyInPlace(a: Float64Array, n: number, gemm: Gemm<'float64'>, opts: { block?: number; relPivot?: number } = {}): Promise<CholeskyFactor | null> {
  const block = opts.block ?? CHOLESKY_BLOCK;
  let maxDiag = 0;
  for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, a[i * n + i]!);
  if (!(maxDiag > 0 && Number.isFinite(maxDiag))) return null;
  const floor = (opts.relPivot ?? 1e-12) * maxDiag;
  const inv: Float64Array[] = [];
  const panel = new Float64Array(Math.max(0, n - block) * block);
  const solved = new Float64Array(panel.length);
  const upd = new Float64Array(Math.min(n, block) * n);
  for (let k0 = 0; k0 < n; k0 += block) {
    const k1 = Math.min(n, k0 + block);
    const bk = k1 - k0;
    const d = new Float64Array(bk * bk);
    for (let i = 0; i < bk; i++) for (let j = 0; j <= i; j++) d[i * bk + j] = a[(k0 + i) * n + k0 + j]!;
    if (!factorSmall(d, bk, floor)) return null;
    for (let i = 0; i < bk; i++) for (let j = 0; j <= i; j++) a[(k0 + i) * n + k0 + j] = d[i * bk + j]!;
    const dinv = invertLower(d, bk);
    inv.push(dinv);
    const m = n - k1;
    if (m === 0) break;
    // L[T, K] = A[T, K] · L_kk⁻ᵀ
    for (let r = 0; r < m; r++) panel.set(a.subarray((k1 + r) * n + k0, (k1 + r) * n + k1), r * bk);
    await gemm.mul(panel, dinv, { M: m, K: bk, N: bk, transB: true }, solved);
    for (let r = 0; r < m; r++) a.set(solved.subarray(r * bk, (r + 1) * bk), (k1 + r) * n + k0);
    // A[T, T] −= L[T, K]·L[T, K]ᵀ, lower triangle: row block [t0, t1) needs columns k1 … t1 only.
    for (let t0 = 0; t0 < m; t0 += block) {
      const t1 = Math.min(m, t0 + block);
      const rows = t1 - t0;
      await gemm.mul(solved.subarray(t0 * bk), solved, { M: rows, K: bk, N: t1, transB: true }, upd);
      for (let r = 0; r < rows; r++) {
        const dst = (k1 + t0 + r) * n + k1;
        const src = r * t1;
        const width = t0 + r + 1;
        for (let c = 0; c < width; c++) a[dst + c]! -= upd[src + c]!;
      }
    }
  }
  return { n, a, block, inv };
}

/**
 * Solves L·Y = B (forward) or Lᵀ·X = B (backward) in place, B row-major n × m (one system per
 * column: the refit's right-hand sides are the columns of B = (W·G[:, S])ᵀ).
 */
export async function triangularSolve(f: CholeskyFactor, b: Float64Array, m: number, transposed: boolean, gemm: Gemm<'float64'>): Promise<void> {
  const { n, a, block } = f;
  const nb = f.inv.length;
  const tmp = new Float64Array(Math.min(n, block) * m);
  const strip = new Float64Array(Math.min(n, block) * n);
  for (let s = 0; s < nb; s++) {
    const k = transposed ? nb - 1 - s : s;
    const k0 = k * block;
    const k1 = Math.min(n, k0 + block);
    const bk = k1 - k0;
    const bK = b.subarray(k0 * m, k1 * m);
    if (!transposed && k0 > 0) {
      // B[K] −= L[K, 0:k0] · Y[0:k0]
      for (let r = 0; r < bk; r++) strip.set(a.subarray((k0 + r) * n, (k0 + r) * n + k0), r * k0);
      await gemm.mul(strip, b, { M: bk, K: k0, N: m }, tmp);
      for (let i = 0; i < bk * m; i++) bK[i]! -= tmp[i]!;
    } else if (transposed && k1 < n) {
      // B[K] −= L[T, K]ᵀ · X[T]
      const t = n - k1;
      for (let r = 0; r < t; r++) strip.set(a.subarray((k1 + r) * n + k0, (k1 + r) * n + k1), r * bk);
      await gemm.mul(strip, b.subarray(k1 * m), { M: bk, K: t, N: m, transA: true }, tmp);
      for (let i = 0; i < bk * m; i++) bK[i]! -= tmp[i]!;
    }
    await gemm.mul(f.inv[k]!, bK, { M: bk, K: bk, N: m, transA: transposed }, tmp);
    bK.set(tmp.subarray(0, bk * m));
  }
}

/** ‖Lᵀ·V‖²_F for V row-major n × m (= Σ_columns vᵀ·A·v with A = L·Lᵀ), without forming Lᵀ·V. */
export async function upperNormSquared(f: CholeskyFactor, v: Float64Array, m: number, gemm: Gemm<'float64'>): Promise<number> {
  const { n, a, block } = f;
  const tmp = new Float64Array(Math.min(n, block) * m);
  const strip = new Float64Array(Math.min(n, block) * n);
  let total = 0;
  for (let k0 = 0; k0 < n; k0 += block) {
    const k1 = Math.min(n, k0 + block);
    const bk = k1 - k0;
    const t = n - k0;
    // (Lᵀ V)[K] = L[k0:n, K]ᵀ · V[k0:n] (L[K, K] is lower, its stale upper part is zeroed in the copy).
    for (let r = 0; r < t; r++) {
      const src = (k0 + r) * n + k0;
      if (r < bk) {
        strip.fill(0, r * bk, (r + 1) * bk);
        strip.set(a.subarray(src, src + r + 1), r * bk);
      } else {
        strip.set(a.subarray(src, src + bk), r * bk);
      }
    }
    await gemm.mul(strip, v.subarray(k0 * m), { M: bk, K: t, N: m, transA: true }, tmp);
    for (let i = 0; i < bk * m; i++) total += tmp[i]! * tmp[i]!;
  }
  return total;
}

/** Unblocked Cholesky of a small b × b block in place (lower triangle). */
function factorSmall(d: Float64Array, b: number, floor: number): boolean {
  for (let i = 0; i < b; i++) {
    const ri = i * b;
    for (let j = 0; j <= i; j++) {
      const rj = j * b;
      let s = d[ri + j]!;
      for (let k = 0; k < j; k++) s -= d[ri + k]! * d[rj + k]!;
      if (j === i) {
        if (!(s > floor) || !Number.isFinite(s)) return false;
        d[ri + i] = Math.sqrt(s);
      } else {
        d[ri + j] = s / d[rj + j]!;
      }
    }
  }
  return true;
}

/** The inverse of a lower-triangular b × b matrix (row-major, lower triangle read), by forward substitution. */
function invertLower(d: Float64Array, b: number): Float64Array {
  const x = new Float64Array(b * b);
  for (let c = 0; c < b; c++) {
    // Column c of L⁻¹: L·x = e_c, x zero above row c.
    x[c * b + c] = 1 / d[c * b + c]!;
    for (let i = c + 1; i < b; i++) {
      let s = 0;
      for (let k = c; k < i; k++) s -= d[i * b + k]! * x[k * b + c]!;
      x[i * b + c] = s / d[i * b + i]!;
    }
  }
  return x;
}
