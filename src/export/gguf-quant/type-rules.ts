/**
 * Which ggml type each tensor of a GGUF gets in a quantized file: llama.cpp's llama_tensor_get_type
 * (src/llama-quant.cpp) for the file types compact writes, with no overrides, no imatrix and
 * `pure` off — what `llama-quantize in.gguf out.gguf Q4_K_M` does:
 *
 * - only tensors whose name ends in "weight", with 2+ dimensions and not a `*_norm.weight`, are
 *   quantized; everything else keeps its type (F32 here);
 * - `output.weight`, and `token_embd.weight` when the model is tied (no `output.weight`): Q8_0 if
 *   the row length is not a multiple of the base type's block, else Q6_K (Q8_0 files keep Q8_0);
 * - Q4_K_M / Q5_K_M: `attn_v` (and fused `attn_qkv`) and `ffn_down` of the layers use_more_bits picks (the first and last
 *   eighth, and every third in between) are Q6_K; in 70B-type models (80 layers, grouped KV heads)
 *   the other `attn_v` are Q5_K instead of Q4_K;
 * - then tensor_type_fallback: a row length that is not a multiple of the type's block falls back
 *   Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, and to F16 if still not a multiple of 32; for Q4_0 and
 *   Q8_0 llama.cpp defines no fallback and stops ("no tensor type fallback is defined").
 *
 * llama.cpp counts attn_v and ffn_down tensors in the order it visits them (by layer, then name),
 * which for one tensor per layer is the layer index — so the layer number is used directly.
 */
import { GGML_TYPES, QUANT_FILE_TYPES, type GgmlTypeName, type QuantFileType } from './ggml-types.ts';

export interface TensorTypeQuery {
  /** GGUF tensor name (`blk.3.ffn_down.weight`, `token_embd.weight`, …). */
  name: string;
  /** numpy-order shape; the row length (ggml ne[0]) is the last entry. */
  shape: readonly number[];
}

export interface ModelShape {
  layers: number;
  /** True when the file has no `output.weight` (llama.cpp reuses token_embd). */
  tied: boolean;
  /** Query heads / KV heads, and whether llama.cpp would classify the model as a 70B (80 layers, GQA). */
  is70B: boolean;
}

export interface TensorTypeChoice {
  type: GgmlTypeName;
  /** What the rules asked for before the row-length fallback (equal to `type` when none happened). */
  wanted: GgmlTypeName;
  /** Why the type differs from `wanted`, or null. */
  fallback: string | null;
}

/** llama.cpp's use_more_bits(i_layer, n_layers). */
export function useMoreBits(i: number, n: number): boolean {
  const e = Math.trunc(n / 8);
  return i < e || i >= Math.trunc((7 * n) / 8) || (i - e) % 3 === 2;
}

/** tensor_allows_quantization for the tensor names compact writes. */
export function isQuantizable(t: TensorTypeQuery): boolean {
  return t.shape.length >= 2 && t.name.endsWith('weight') && !t.name.includes('_norm.weight');
}

function layerOf(name: string): number {
  const m = /^blk\.(\d+)\./.exec(name);
  return m ? Number(m[1]) : -1;
}

/** The type llama-quantize gives one tensor, or throws (with llama.cpp's reason) where it would. */
export function tensorType(t: TensorTypeQuery, ftype: QuantFileType, model: ModelShape, current: GgmlTypeName = 'F32'): TensorTypeChoice {
  if (!isQuantizable(t)) return { type: current, wanted: current, fallback: null };
  const base = QUANT_FILE_TYPES[ftype].base;
  const cols = t.shape[t.shape.length - 1]!;
  let type: GgmlTypeName = base;
  const output = t.name === 'output.weight' || (model.tied && t.name === 'token_embd.weight');
  if (output) {
    if (cols % GGML_TYPES[base].blockSize !== 0) type = 'Q8_0';
    else if (base !== 'Q8_0') type = 'Q6_K';
  } else if (t.name.includes('attn_v.weight') || t.name.includes('attn_qkv.weight') || t.name.includes('attn_kv_b.weight')) {
    // category_is_attn_v: fused qkv (Phi-3) and kv_b count as attn_v, in the same per-layer order.
    if ((ftype === 'Q4_K_M' || ftype === 'Q5_K_M') && useMoreBits(layerOf(t.name), model.layers)) type = 'Q6_K';
    if (model.is70B && type === 'Q4_K') type = 'Q5_K';
  } else if (t.name.includes('ffn_down')) {
    if ((ftype === 'Q4_K_M' || ftype === 'Q5_K_M') && useMoreBits(layerOf(t.name), model.layers)) type = 'Q6_K';
  }
  return fallback(type, cols, t.name);
}

function fallback(wanted: GgmlTypeName, cols: number, name: string): TensorTypeChoice {
  if (cols % GGML_TYPES[wanted].blockSize === 0) return { type: wanted, wanted, fallback: null };
  const next: Partial<Record<GgmlTypeName, GgmlTypeName>> = { Q4_K: 'Q5_0', Q5_K: 'Q5_1', Q6_K: 'Q8_0' };
  let type = next[wanted];
  if (!type) {
    throw new Error(`${name}: rows of ${cols} values are not a multiple of ${GGML_TYPES[wanted].blockSize}, which ${wanted} needs, and llama.cpp defines no fallback for ${wanted}`);
  }
  if (cols % GGML_TYPES[type].blockSize !== 0) type = 'F16';
  return { type, wanted, fallback: `rows of ${cols} are not a multiple of ${GGML_TYPES[wanted].blockSize}` };
}
