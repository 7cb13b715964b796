/**
 * Dense Cholesky factorisation and solves in float64, for the symmetric positive definite systems
 * of the down_proj refit (n ≲ 10⁴). Row-major throughout, with every inner loop a dot product of
 * two contiguous rows: the factor L is kept as rows of L (forward substitution) and rows of Lᵀ
 * (back substitution).
 */

export interface CholeskyFactor {
  n: number;
  /** L, row-major lower triangle (the upper part is zero). */
  lower: Float64Array;
  /** Lᵀ, row-major upper triangle. */
  upper: Float64Array;
}

/**
 * Factors A = L·Lᵀ (A row-major n × n, symmetric; only its lower triangle is read). Returns null
 * when A is not numerically positive definite: a pivot ≤ `relPivot` · max diag(A), or not finite.
 * A is left untouched.
 */
export function cholesky(a: Float64Array, n: number, relPivot = 1e-12): CholeskyFactor | null {
  let maxDiag = 0;
  for (let i = 0; i < n; i++) maxDiag = Math.max(maxDiag, a[i * n + i]!);
  if (!(maxDiag > 0 && Number.isFinite(maxDiag))) return null;
  const floor = relPivot * maxDiag;
  const L = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = a[ri + j]!;
      for (let k = 0; k < j; k++) s -= L[ri + k]! * L[rj + k]!;
      if (j === i) {
        if (!(s > floor) || !Number.isFinite(s)) return null;
        L[ri + i] = Math.sqrt(s);
      } else {
        L[ri + j] = s / L[rj + j]!;
      }
    }
  }
  const U = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) U[j * n + i] = L[i * n + j]!;
  return { n, lower: L, upper: U };
}

/** Solves A·x = b in place (b of length n) with A = L·Lᵀ; `y` is scratch of length n. */
export function choleskySolve(f: CholeskyFactor, b: Float64Array, y: Float64Array): void {
  const { n, lower: L, upper: U } = f;
  for (let i = 0; i < n; i++) {
    const r = i * n;
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= L[r + k]! * y[k]!;
    y[i] = s / L[r + i]!;
  }
  for (let i = n - 1; i >= 0; i--) {
    const r = i * n;
    let s = y[i]!;
    for (let k = i + 1; k < n; k++) s -= U[r + k]! * b[k]!;
    b[i] = s / U[r + i]!;
  }
}
