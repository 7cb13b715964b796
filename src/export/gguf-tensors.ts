/**
 * Which GGUF tensors a checkpoint becomes, and how each is produced from the safetensors bytes,
 * following convert_hf_to_gguf.py and gguf-py's tensor_mapping.py:
 *
 *   model.embed_tokens        → token_embd          lm_head (untied only) → output
 *   model.norm                → output_norm         self_attn.{q,k,v,o}_proj → blk.N.attn_{q,k,v,output}
 *   input_layernorm           → blk.N.attn_norm     self_attn.{q,k}_norm  → blk.N.attn_{q,k}_norm
 *   post_attention_layernorm  → blk.N.ffn_norm (Llama/Qwen) or blk.N.post_attention_norm (Gemma 3)
 *   pre_feedforward_layernorm → blk.N.ffn_norm      post_feedforward_layernorm → blk.N.post_ffw_norm
 *   mlp.{gate,up,down}_proj   → blk.N.ffn_{gate,up,down}
 *
 * Transformations, each where the converter does it:
 * - `llama` arch: q/k rows permuted (LlamaModel.permute). llama.cpp's `llama` rope rotates
 *   adjacent pairs (2i, 2i+1) while HF rotates halves (i, i + d/2); permuting the rows of q and k
 *   within each head turns one into the other. Done by reading the rows in permuted order.
 * - Gemma 3: every `*norm.weight` gets +1 (HF stores (1+w) norms as offsets; llama.cpp multiplies
 *   by the stored weight), and embedding rows beyond the tokenizer are dropped.
 * - 1-D tensors (norms, biases, rope_freqs) stay F32 whatever the file type, as the converter keeps them.
 */
import { tensorName } from '../families/registry.ts';
import type { ModelSpec, TensorRole, TensorTemplate } from '../families/types.ts';
import { fromFloat32 } from '../io/dtype.ts';
import type { Checkpoint } from '../io/safetensors.ts';
import type { GgufTensor } from './gguf-writer.ts';

/** Rows per read of a 2-D tensor: bounds memory to a few MB whatever the tensor size. */
const CHUNK_ELEMENTS = 4 << 20;

const LAYER_NAMES: Partial<Record<TensorRole, string>> = {
  input_norm: 'attn_norm',
  q: 'attn_q', k: 'attn_k', v: 'attn_v', o: 'attn_output',
  q_bias: 'attn_q', k_bias: 'attn_k', v_bias: 'attn_v', o_bias: 'attn_output',
  q_norm: 'attn_q_norm', k_norm: 'attn_k_norm',
  gate: 'ffn_gate', up: 'ffn_up', down: 'ffn_down',
  gate_bias: 'ffn_gate', up_bias: 'ffn_up', down_bias: 'ffn_down',
  pre_ffn_norm: 'ffn_norm',
  post_ffn_norm: 'post_ffw_norm',
};

/** GGUF name of a layer tensor. */
export function ggufLayerName(spec: ModelSpec, role: TensorRole, layer: number): string {
  let base = LAYER_NAMES[role];
  if (role === 'post_attn_norm') base = spec.family.sandwichNorms ? 'post_attention_norm' : 'ffn_norm';
  if (!base) throw new Error(`no GGUF name for ${role}`);
  return `blk.${layer}.${base}.${role.endsWith('_bias') ? 'bias' : 'weight'}`;
}

export interface TensorPlanOptions {
  /** File type of 2-D tensors (quantized types are made from F32 ones: gguf-quant/). */
  dtype: 'F32' | 'F16' | 'BF16';
  /** Embedding (and output) rows written: the vocabulary of the GGUF. */
  rows: number;
  /** Multiplier folded into q_norm (Gemma 3 attention scale llama.cpp cannot express), 1 if none. */
  qNormScale: number;
  /** llama3 rope: per-frequency divisors for `rope_freqs`, or null. */
  ropeFreqs: Float32Array | null;
}

/** Row order that turns HF's rotate-half layout into llama.cpp's interleaved pairs (LlamaModel.permute). */
export function llamaPermutation(heads: number, headDim: number): Int32Array {
  const half = headDim / 2;
  const rows = new Int32Array(heads * headDim);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < half; j++) {
      for (let t = 0; t < 2; t++) rows[h * headDim + j * 2 + t] = h * headDim + t * half + j;
    }
  }
  return rows;
}

function template(spec: ModelSpec, role: TensorRole, global: boolean): TensorTemplate {
  const t = (global ? spec.family.globals : spec.family.layer).find((x) => x.role === role);
  if (!t) throw new Error(`family ${spec.family.name} has no ${role}`);
  return t;
}

export function planTensors(spec: ModelSpec, ckpt: Checkpoint, roles: (layer: number) => TensorRole[], opts: TensorPlanOptions): GgufTensor[] {
  const out: GgufTensor[] = [];
  const plusOne = spec.family.norm === 'rms-plus-one';
  const permute = spec.family.ggufArch === 'llama';
  const qPerm = permute ? llamaPermutation(spec.heads, spec.headDim) : null;
  const kPerm = permute ? llamaPermutation(spec.kvHeads, spec.headDim) : null;

  const matrix = (name: string, src: string, shape: number[], order: ArrayLike<number> | null): GgufTensor => ({
    name,
    shape,
    type: opts.dtype,
    async *data() {
      const [rows, cols] = shape as [number, number];
      const per = Math.max(1, Math.floor(CHUNK_ELEMENTS / cols));
      for (let r0 = 0; r0 < rows; r0 += per) {
        const n = Math.min(per, rows - r0);
        const idx = new Int32Array(n);
        for (let i = 0; i < n; i++) idx[i] = order ? order[r0 + i]! : r0 + i;
        yield fromFloat32(await ckpt.readRowsFloat32(src, idx), opts.dtype);
      }
    },
  });
  const vector = (name: string, src: string, length: number, f: (v: Float32Array) => Float32Array): GgufTensor => ({
    name,
    shape: [length],
    type: 'F32',
    async *data() {
      yield fromFloat32(f(await ckpt.readFloat32(src)), 'F32');
    },
  });
  const norm = (scale = 1) => (v: Float32Array): Float32Array => {
    const o = new Float32Array(v.length);
    for (let i = 0; i < v.length; i++) o[i] = ((plusOne ? 1 : 0) + v[i]!) * scale;
    return o;
  };
  const permuted = (perm: Int32Array | null) => (v: Float32Array): Float32Array => (perm ? Float32Array.from(perm, (r) => v[r]!) : v);

  if (opts.ropeFreqs) {
    const f = opts.ropeFreqs;
    out.push({ name: 'rope_freqs.weight', shape: [f.length], type: 'F32', async *data() { yield fromFloat32(f, 'F32'); } });
  }
  const embed = template(spec, 'embed', true).name;
  out.push(matrix('token_embd.weight', embed, [opts.rows, spec.hidden], null));

  for (let l = 0; l < spec.layers; l++) {
    for (const role of roles(l)) {
      const src = tensorName(template(spec, role, false), l);
      const name = ggufLayerName(spec, role, l);
      const shape = ckpt.info(src).shape;
      if (shape.length === 2) {
        const order = role === 'q' ? qPerm : role === 'k' ? kPerm : null;
        out.push(matrix(name, src, [shape[0]!, shape[1]!], order));
      } else if (role.endsWith('_norm')) {
        out.push(vector(name, src, shape[0]!, norm(role === 'q_norm' ? opts.qNormScale : 1)));
      } else {
        const perm = role === 'q_bias' ? qPerm : role === 'k_bias' ? kPerm : null;
        out.push(vector(name, src, shape[0]!, permuted(perm)));
      }
    }
  }
  out.push(vector('output_norm.weight', template(spec, 'final_norm', true).name, spec.hidden, norm()));
  // Tied models carry no `output`: llama.cpp reuses token_embd, and the converter writes none.
  if (!spec.tied) out.push(matrix('output.weight', template(spec, 'lm_head', true).name, [opts.rows, spec.hidden], null));
  return out;
}
