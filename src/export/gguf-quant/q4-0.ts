/**
 * Q4_0 (quantize_row_q4_0_ref): blocks of 32, 18 bytes — fp16 d = max / −8 (max: the value of
 * largest magnitude, sign kept) · 16 bytes of nibbles, value j low, value j + 16 high, each
 * min(15, trunc(x / d + 8.5)).
 */
import { f, putU16, toF16 } from './float32.ts';

/** C's `(uint8_t)MIN(15, (int8_t)(v))` for a float v. */
function nibble(v: number, top: number): number {
  const t = (Math.trunc(v) << 24) >> 24;
  return (t < top ? t : top) & 0xff;
}

/** The value of largest magnitude in x[from, from + n), sign kept (the first one on ties), as ggml's reference quantizers pick it. */
export function signedAbsMax(x: Float32Array, from: number, n: number): number {
  let amax = 0;
  let max = 0;
  for (let j = from; j < from + n; j++) {
    const v = x[j]!;
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

export function quantizeQ4_0(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / 32;
  for (let i = 0; i < nb; i++) {
    const x0 = i * 32;
    const o = i * 18;
    const max = signedAbsMax(x, x0, 32);
    const d = f(max / -8);
    const id = d ? f(1 / d) : 0;
    putU16(out, o, toF16(d));
    for (let j = 0; j < 16; j++) {
      const a = nibble(f(f(x[x0 + j]! * id) + 8.5), 15);
      const b = nibble(f(f(x[x0 + 16 + j]! * id) + 8.5), 15);
      out[o + 2 + j] = (a | (b << 4)) & 0xff;
    }
  }
}

export { nibble };
