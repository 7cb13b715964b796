/**
 * Rows of float32 values → the bytes of one ggml type, as ggml_quantize_chunk writes them with no
 * importance matrix (the reference quantizers; F16 via GGML_FP32_TO_FP16).
 */
import { fromFloat32 } from '../../io/dtype.ts';
import { GGML_TYPES, type GgmlTypeName } from './ggml-types.ts';
import { quantizeQ4_K, quantizeQ5_K, quantizeQ6_K } from './k-quants.ts';
import { quantizeQ4_0 } from './q4-0.ts';
import { quantizeQ5_0, quantizeQ5_1 } from './q5-0.ts';
import { quantizeQ8_0 } from './q8-0.ts';

const QUANTIZERS: Partial<Record<GgmlTypeName, (x: Float32Array, out: Uint8Array) => void>> = {
  Q4_0: quantizeQ4_0,
  Q5_0: quantizeQ5_0,
  Q5_1: quantizeQ5_1,
  Q8_0: quantizeQ8_0,
  Q4_K: quantizeQ4_K,
  Q5_K: quantizeQ5_K,
  Q6_K: quantizeQ6_K,
};

/** `values` holds whole rows of `cols`; the result is their rows in `type`, back to back. */
export function quantizeRows(values: Float32Array, cols: number, type: GgmlTypeName): Uint8Array {
  const { blockSize, typeSize } = GGML_TYPES[type];
  if (values.length % cols !== 0) throw new Error(`${values.length} values are not whole rows of ${cols}`);
  if (cols % blockSize !== 0) throw new Error(`rows of ${cols} cannot be ${type} (blocks of ${blockSize})`);
  if (type === 'F32' || type === 'F16' || type === 'BF16') return fromFloat32(values, type);
  const out = new Uint8Array((values.length / blockSize) * typeSize);
  QUANTIZERS[type]!(values, out);
  return out;
}
