/**
 * ggml tensor types and llama.cpp file types (`general.file_type`) that compact writes, with their
 * block geometry: a row of n values takes n / blockSize blocks of typeSize bytes (ggml_row_size).
 * Numbers are ggml.h's `ggml_type` and llama.h's `llama_ftype`.
 */

export const GGML_TYPES = {
  F32: { id: 0, blockSize: 1, typeSize: 4 },
  F16: { id: 1, blockSize: 1, typeSize: 2 },
  Q4_0: { id: 2, blockSize: 32, typeSize: 18 },
  Q5_0: { id: 6, blockSize: 32, typeSize: 22 },
  Q5_1: { id: 7, blockSize: 32, typeSize: 24 },
  Q8_0: { id: 8, blockSize: 32, typeSize: 34 },
  Q4_K: { id: 12, blockSize: 256, typeSize: 144 },
  Q5_K: { id: 13, blockSize: 256, typeSize: 176 },
  Q6_K: { id: 14, blockSize: 256, typeSize: 210 },
  BF16: { id: 30, blockSize: 1, typeSize: 2 },
} as const;

export type GgmlTypeName = keyof typeof GGML_TYPES;

/** Block-quantized types (everything but the plain float types). */
export type QuantTypeName = Exclude<GgmlTypeName, 'F32' | 'F16' | 'BF16'>;

export function isQuantType(t: GgmlTypeName): t is QuantTypeName {
  return GGML_TYPES[t].blockSize > 1;
}

/** Bytes of one row of `cols` values (cols must be a multiple of the block size). */
export function rowBytes(type: GgmlTypeName, cols: number): number {
  const { blockSize, typeSize } = GGML_TYPES[type];
  if (cols % blockSize !== 0) throw new Error(`row of ${cols} values is not a multiple of ${type}'s block of ${blockSize}`);
  return (cols / blockSize) * typeSize;
}

/** Quantized file types compact writes (llama.h `llama_ftype`), by their llama-quantize names. */
export const QUANT_FILE_TYPES = {
  Q4_0: { ftype: 2, base: 'Q4_0' },
  Q8_0: { ftype: 7, base: 'Q8_0' },
  Q4_K_M: { ftype: 15, base: 'Q4_K' },
  Q5_K_M: { ftype: 17, base: 'Q5_K' },
  Q6_K: { ftype: 18, base: 'Q6_K' },
} as const satisfies Record<string, { ftype: number; base: QuantTypeName }>;

export type QuantFileType = keyof typeof QUANT_FILE_TYPES;

/** ggml's GGML_QNT_VERSION: the block layouts above. */
export const GGML_QNT_VERSION = 2;
