/**
 * Q8_0 (ggml-quants.c quantize_row_q8_0_ref): blocks of 32, 34 bytes each —
 *   fp16 d = amax / 127 · int8 qs[32] = roundf(x / d).
 */
import { f, putU16, roundf, toF16 } from './float32.ts';

export function quantizeQ8_0(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / 32;
  for (let i = 0; i < nb; i++) {
    const x0 = i * 32;
    const o = i * 34;
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const a = Math.abs(x[x0 + j]!);
      amax = amax > a ? amax : a;
    }
    const d = f(amax / 127);
    const id = d ? f(1 / d) : 0;
    putU16(out, o, toF16(d));
    for (let j = 0; j < 32; j++) out[o + 2 + j] = roundf(f(x[x0 + j]! * id)) & 0xff;
  }
}
