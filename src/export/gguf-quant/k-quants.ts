/**
 * The K-quant super-blocks (256 values) of ggml-quants.c's reference quantizers, which
 * llama_model_quantize uses when no importance matrix is given:
 *
 *   Q4_K (144 bytes): fp16 d · fp16 dmin · 12 bytes of 6-bit scales and mins for 8 sub-blocks of
 *                     32 · 128 bytes of nibbles (values j and j + 32 of each 64 share a byte).
 *   Q5_K (176 bytes): as Q4_K, plus 32 bytes of 5th bits before the nibbles.
 *   Q6_K (210 bytes): 128 bytes of low nibbles · 64 bytes of 2-bit highs · 16 int8 scales for
 *                     sub-blocks of 16 · fp16 d (last).
 *
 * Sub-block scales come from make_qkx2_quants (Q4_K/Q5_K: scale and min fitted by weighted least
 * squares over a sweep of candidate inverse scales) and make_qx_quants (Q6_K, rmse_type 1).
 * The code follows the C line by line; every float operation is rounded to float32.
 */
import { f, fromF16, nearestInt, putU16, toF16 } from './float32.ts';

const GROUP_MAX_EPS = f(1e-15);
const TENTH = f(0.1);

/** Scratch shared by the functions below (single-threaded). */
const L = new Uint8Array(256);
const Laux = new Uint8Array(32);
const weights = new Float32Array(32);
const scales = new Float32Array(16);
const mins = new Float32Array(8);
let qkxMin = 0;

/** make_qkx2_quants(32, nmax, x + xo, weights, L + lo, &min, Laux, rmin, rdelta, nstep, false); min in qkxMin. */
function makeQkx2(nmax: number, x: Float32Array, xo: number, lo: number, rmin: number, rdelta: number, nstep: number): number {
  const n = 32;
  let min = x[xo]!;
  let max = x[xo]!;
  let sumW = weights[0]!;
  let sumX = f(sumW * x[xo]!);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    qkxMin = -min;
    return 0;
  }
  // `min` moves to each better fit's min, and later candidates are measured from it (as in the C).
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    let l = nearestInt(f(iscale * f(xi - min)));
    l = l < 0 ? 0 : l > nmax ? nmax : l;
    L[lo + i] = l;
    let diff = f(f(f(scale * l) + min) - xi);
    diff = f(diff * diff);
    bestError = f(bestError + f(weights[i]! * diff));
  }
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      let l = nearestInt(f(iscale * f(xi - min)));
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      Laux[i] = l;
      const wl = f(weights[i]! * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * xi));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = f(f(f(thisScale * Laux[i]!) + thisMin) - x[xo + i]!);
        diff = f(diff * diff);
        curError = f(curError + f(weights[i]! * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i]!;
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  qkxMin = -min;
  return scale;
}

/** Q4_K/Q5_K: sub-block scales and mins → 6-bit codes packed in 12 bytes, d and dmin; then the final levels. */
function scalesAndLevels(x: Float32Array, x0: number, out: Uint8Array, o: number, nmax: number, rmin: number, rdelta: number, nstep: number): void {
  let maxScale = 0;
  let maxMin = 0;
  for (let j = 0; j < 8; j++) {
    const xo = x0 + 32 * j;
    let sumX2 = 0;
    for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(x[xo + l]! * x[xo + l]!));
    const avX = f(Math.sqrt(f(sumX2 / 32)));
    for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(x[xo + l]!));
    scales[j] = makeQkx2(nmax, x, xo, 32 * j, rmin, rdelta, nstep);
    mins[j] = qkxMin;
    if (scales[j]! > maxScale) maxScale = scales[j]!;
    if (mins[j]! > maxMin) maxMin = mins[j]!;
  }
  const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
  const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
  const sc = o + 4;
  for (let j = 0; j < 8; j++) {
    let ls = nearestInt(f(invScale * scales[j]!)) & 0xff;
    let lm = nearestInt(f(invMin * mins[j]!)) & 0xff;
    ls = ls < 63 ? ls : 63;
    lm = lm < 63 ? lm : 63;
    if (j < 4) {
      out[sc + j] = ls;
      out[sc + j + 4] = lm;
    } else {
      out[sc + j + 4] = (ls & 0xf) | ((lm & 0xf) << 4);
      out[sc + j - 4]! |= (ls >> 4) << 6;
      out[sc + j]! |= (lm >> 4) << 6;
    }
  }
  const dBits = toF16(f(maxScale / 63));
  const dminBits = toF16(f(maxMin / 63));
  putU16(out, o, dBits);
  putU16(out, o + 2, dminBits);
  const d0 = fromF16(dBits);
  const dmin0 = fromF16(dminBits);
  for (let j = 0; j < 8; j++) {
    // get_scale_min_k4
    let s: number;
    let m: number;
    if (j < 4) {
      s = out[sc + j]! & 63;
      m = out[sc + j + 4]! & 63;
    } else {
      s = (out[sc + j + 4]! & 0xf) | ((out[sc + j - 4]! >> 6) << 4);
      m = (out[sc + j + 4]! >> 4) | ((out[sc + j]! >> 6) << 4);
    }
    const d = f(d0 * s);
    if (!d) continue;
    const dm = f(dmin0 * m);
    for (let ii = 0; ii < 32; ii++) {
      let l = nearestInt(f(f(x[x0 + 32 * j + ii]! + dm) / d));
      l = l < 0 ? 0 : l > nmax ? nmax : l;
      L[32 * j + ii] = l;
    }
  }
}

export function quantizeQ4_K(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / 256;
  const rdelta = TENTH;
  for (let i = 0; i < nb; i++) {
    const o = i * 144;
    scalesAndLevels(x, i * 256, out, o, 15, -1, rdelta, 20);
    let q = o + 16;
    for (let j = 0; j < 256; j += 64) {
      for (let l = 0; l < 32; l++) out[q + l] = L[j + l]! | (L[j + l + 32]! << 4);
      q += 32;
    }
  }
}

export function quantizeQ5_K(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / 256;
  for (let i = 0; i < nb; i++) {
    const o = i * 176;
    scalesAndLevels(x, i * 256, out, o, 31, -0.5, TENTH, 15);
    const qh = o + 16;
    let ql = o + 48;
    out.fill(0, qh, qh + 32);
    let m1 = 1;
    let m2 = 2;
    for (let n = 0; n < 256; n += 64) {
      for (let j = 0; j < 32; j++) {
        let l1 = L[n + j]!;
        if (l1 > 15) {
          l1 -= 16;
          out[qh + j]! |= m1;
        }
        let l2 = L[n + j + 32]!;
        if (l2 > 15) {
          l2 -= 16;
          out[qh + j]! |= m2;
        }
        out[ql + j] = l1 | (l2 << 4);
      }
      m1 <<= 2;
      m2 <<= 2;
      ql += 32;
    }
  }
}

/** make_qx_quants(16, 32, x + xo, L + lo, rmse_type 1, NULL). */
function makeQx16(x: Float32Array, xo: number, lo: number): number {
  const n = 16;
  const nmax = 32;
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  let iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    let l = nearestInt(f(iscale * xi));
    l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
    L[lo + i] = l + nmax;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(TENTH * is)) / max);
    sumlx = 0;
    suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      let l = nearestInt(f(iscale * xi));
      l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
      const w = f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) {
        let l = nearestInt(f(iscale * x[xo + i]!));
        l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
        L[lo + i] = nmax + l;
      }
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

export function quantizeQ6_K(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / 256;
  for (let i = 0; i < nb; i++) {
    const x0 = i * 256;
    const o = i * 210;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < 16; ib++) {
      const s = makeQx16(x, x0 + 16 * ib, 16 * ib);
      scales[ib] = s;
      const a = Math.abs(s);
      if (a > maxAbsScale) {
        maxAbsScale = a;
        maxScale = s;
      }
    }
    if (maxAbsScale < GROUP_MAX_EPS) {
      out.fill(0, o, o + 210);
      continue;
    }
    const iscale = f(-128 / maxScale);
    const dBits = toF16(f(1 / iscale));
    putU16(out, o + 208, dBits);
    const sc = o + 192;
    for (let ib = 0; ib < 16; ib++) {
      const v = nearestInt(f(iscale * scales[ib]!));
      out[sc + ib] = (v < 127 ? v : 127) & 0xff;
    }
    const d0 = fromF16(dBits);
    for (let j = 0; j < 16; j++) {
      const d = f(d0 * ((out[sc + j]! << 24) >> 24));
      if (!d) continue;
      for (let ii = 0; ii < 16; ii++) {
        let l = nearestInt(f(x[x0 + 16 * j + ii]! / d));
        l = l < -32 ? -32 : l > 31 ? 31 : l;
        L[16 * j + ii] = l + 32;
      }
    }
    let ql = o;
    let qh = o + 128;
    for (let j = 0; j < 256; j += 128) {
      for (let l = 0; l < 32; l++) {
        const a = L[j + l]!;
        const b = L[j + l + 32]!;
        const c = L[j + l + 64]!;
        const e = L[j + l + 96]!;
        out[ql + l] = (a & 0xf) | ((c & 0xf) << 4);
        out[ql + l + 32] = (b & 0xf) | ((e & 0xf) << 4);
        out[qh + l] = (a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6);
      }
      ql += 64;
      qh += 32;
    }
  }
}
