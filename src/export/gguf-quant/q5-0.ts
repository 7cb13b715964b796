/**
 * Q5_0 and Q5_1 (quantize_row_q5_0_ref / _q5_1_ref), llama.cpp's fallbacks for Q4_K and Q5_K rows
 * that are not a multiple of 256. Blocks of 32:
 *   Q5_0, 22 bytes: fp16 d = max / −16 · u32 qh (5th bits) · 16 bytes of low nibbles;
 *   Q5_1, 24 bytes: fp16 d = (max − min) / 31 · fp16 min · u32 qh · 16 bytes of low nibbles.
 * Value j goes to nibble j (low), value j + 16 to nibble j (high); their 5th bits to qh bits j and j + 16.
 */
import { f, putU16, toF16 } from './float32.ts';
import { nibble, signedAbsMax } from './q4-0.ts';

function pack5(out: Uint8Array, at: number, lo: Uint8Array): void {
  let qh = 0;
  for (let j = 0; j < 16; j++) {
    const a = lo[j]!;
    const b = lo[16 + j]!;
    out[at + 4 + j] = (a & 0x0f) | ((b & 0x0f) << 4);
    qh |= ((a & 0x10) >>> 4) << j;
    qh |= ((b & 0x10) >>> 4) << (j + 16);
  }
  out[at] = qh & 0xff;
  out[at + 1] = (qh >>> 8) & 0xff;
  out[at + 2] = (qh >>> 16) & 0xff;
  out[at + 3] = (qh >>> 24) & 0xff;
}

export function quantizeQ5_0(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / 32;
  const q = new Uint8Array(32);
  for (let i = 0; i < nb; i++) {
    const x0 = i * 32;
    const o = i * 22;
    const max = signedAbsMax(x, x0, 32);
    const d = f(max / -16);
    const id = d ? f(1 / d) : 0;
    putU16(out, o, toF16(d));
    for (let j = 0; j < 32; j++) q[j] = nibble(f(f(x[x0 + j]! * id) + 16.5), 31);
    pack5(out, o + 2, q);
  }
}

export function quantizeQ5_1(x: Float32Array, out: Uint8Array): void {
  const nb = x.length / 32;
  const q = new Uint8Array(32);
  for (let i = 0; i < nb; i++) {
    const x0 = i * 32;
    const o = i * 24;
    let min = 3.4028234663852886e38;
    let max = -3.4028234663852886e38;
    for (let j = 0; j < 32; j++) {
      const v = x[x0 + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = f(f(max - min) / 31);
    const id = d ? f(1 / d) : 0;
    putU16(out, o, toF16(d));
    putU16(out, o + 2, toF16(min));
    // (uint8_t)(x0 + 0.5f): truncation, then the 8-bit wrap of the C cast.
    for (let j = 0; j < 32; j++) q[j] = Math.trunc(f(f(f(x[x0 + j]! - min) * id) + 0.5)) & 0xff;
    pack5(out, o + 4, q);
  }
}
