// The independent truth both refit tests compare against: the ridge least squares solved by
// Householder QR on the raw activation rows, never forming G.

/** min ‖[X_S; √ρ I] v − [X w_h; √ρ w_{h,S}]‖ for every row h of W, by Householder QR on the raw rows X (N × I). */
export function qrRefit(X: Float64Array[], w: Float32Array, H: number, I: number, S: Int32Array, lambda: number): Float64Array {
  const N = X.length;
  const n = S.length;
  let tr = 0;
  for (const x of X) for (const s of S) tr += x[s]! * x[s]!;
  const sr = Math.sqrt((lambda * tr) / n);
  const rows = N + n;
  const A = new Float64Array(rows * n);
  const B = new Float64Array(rows * H);
  X.forEach((x, t) => {
    for (let p = 0; p < n; p++) A[t * n + p] = x[S[p]!]!;
    for (let h = 0; h < H; h++) {
      let s = 0;
      for (let i = 0; i < I; i++) s += x[i]! * w[h * I + i]!;
      B[t * H + h] = s;
    }
  });
  for (let p = 0; p < n; p++) {
    A[(N + p) * n + p] = sr;
    for (let h = 0; h < H; h++) B[(N + p) * H + h] = sr * w[h * I + S[p]!]!;
  }
  for (let c = 0; c < n; c++) {
    let norm = 0;
    for (let r = c; r < rows; r++) norm += A[r * n + c]! ** 2;
    norm = Math.sqrt(norm);
    const alpha = A[c * n + c]! > 0 ? -norm : norm;
    const v = new Float64Array(rows);
    for (let r = c; r < rows; r++) v[r] = A[r * n + c]!;
    v[c]! -= alpha;
    let vv = 0;
    for (let r = c; r < rows; r++) vv += v[r]! ** 2;
    if (vv === 0) continue;
    const reflect = (M: Float64Array, cols: number, from: number) => {
      for (let k = from; k < cols; k++) {
        let d = 0;
        for (let r = c; r < rows; r++) d += v[r]! * M[r * cols + k]!;
        const f = (2 * d) / vv;
        for (let r = c; r < rows; r++) M[r * cols + k]! -= f * v[r]!;
      }
    };
    reflect(A, n, c);
    reflect(B, H, 0);
  }
  const out = new Float64Array(H * n);
  for (let h = 0; h < H; h++) {
    for (let p = n - 1; p >= 0; p--) {
      let s = B[p * H + h]!;
      for (let q = p + 1; q < n; q++) s -= A[p * n + q]! * out[h * n + q]!;
      out[h * n + p] = s / A[p * n + p]!;
    }
  }
  return out;
}
