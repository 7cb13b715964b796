/**
 * Scalar float32 primitives of ggml-quants.c, bit for bit. The reference quantizers compute in
 * float32 (FLT_EVAL_METHOD 0, no FMA contraction): every JS operation on two float32 values is
 * wrapped in Math.fround, which gives the float32 result exactly (double rounding is innocuous for
 * + − × ÷ and sqrt of float32 operands).
 */
import { f16BitsToF32Bits, f32BitsToF16Bits } from '../../io/dtype.ts';

export const f = Math.fround;

const fbuf = new Float32Array(1);
const ubuf = new Uint32Array(fbuf.buffer);
const ibuf = new Int32Array(fbuf.buffer);

/** ggml-quants.c nearest_int: adds 1.5·2^23 in float32 and reads the mantissa (round half to even). */
export function nearestInt(v: number): number {
  fbuf[0] = v + 12582912;
  return (ibuf[0]! & 0x007fffff) - 0x00400000;
}

/** C roundf: half away from zero (of a float32 value). */
export function roundf(v: number): number {
  return v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
}

/** GGML_FP32_TO_FP16 (round to nearest even; finite inputs, which is all the quantizers produce). */
export function toF16(v: number): number {
  fbuf[0] = v;
  return f32BitsToF16Bits(ubuf[0]!);
}

/** GGML_FP16_TO_FP32. */
export function fromF16(h: number): number {
  ubuf[0] = f16BitsToF32Bits(h);
  return fbuf[0]!;
}

/** Little-endian u16 store (fp16 fields of a block). */
export function putU16(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff;
  out[at + 1] = (v >>> 8) & 0xff;
}
