/**
 * Which GGUF tensors a checkpoint becomes, and how each is produced from the safetensors bytes,
 * following convert_hf_to_gguf.py. Names come from the family templates' `gguf` field
 * (gguf-py's tensor_mapping.py as data); what the converter does per architecture from the
 * descriptor's `formats.gguf`:
 * - `permuteQK`: q/k rows permuted (LlamaModel.permute). llama.cpp's `llama` rope rotates
 *   adjacent pairs (2i, 2i+1) while HF rotates halves (i, i + d/2); permuting the rows of q and k
 *   within each head turns one into the other. Done by reading the rows in permuted order.
 * - (1+w) norms get the 1 added (HF stores offsets; llama.cpp multiplies by the stored weight).
 * - 1-D tensors (norms, biases, rope_freqs) stay F32 whatever the file type, as the converter keeps them.
 * - Experts (MixtralModel): each role's per-expert tensors stacked [experts, rows, cols] into one
 *   (`ffn_gate_exps`, `ffn_up_exps`, `ffn_down_exps`); the router `ffn_gate_inp` stays F32.
 */
import { expertCount, foldNormWeight, isNormRole, roleName, templateFor, tensorName } from '../families/templates.ts';
import type { ModelSpec, TensorRole } from '../families/types.ts';
import { fromFloat32 } from '../io/dtype.ts';
import type { Checkpoint } from '../io/safetensors.ts';
import type { GgmlTypeName, GgufTensor } from './gguf-writer.ts';

/** Rows per read of a 2-D tensor: bounds memory to a few MB whatever the tensor size. */
const CHUNK_ELEMENTS = 4 << 20;

/** GGUF name of a tensor (a layer's when `layer` is given). */
export function ggufName(spec: ModelSpec, role: TensorRole, layer?: number): string {
  const name = templateFor(spec.family, role).gguf;
  if (!name) throw new Error(`family ${spec.family.name}: no GGUF name for ${role}`);
  return tensorName({ ...templateFor(spec.family, role), name }, layer);
}

export interface TensorPlanOptions {
  /** File type of 2-D tensors. */
  dtype: GgmlTypeName;
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

export function planTensors(spec: ModelSpec, ckpt: Checkpoint, roles: (layer: number) => TensorRole[], opts: TensorPlanOptions): GgufTensor[] {
  const out: GgufTensor[] = [];
  const permute = spec.family.formats.gguf?.permuteQK === true;
  const qPerm = permute ? llamaPermutation(spec.heads, spec.headDim) : null;
  const kPerm = permute ? llamaPermutation(spec.kvHeads, spec.headDim) : null;

  /** A 2-D tensor, or several of the same shape stacked along a new leading axis (experts). */
  const matrix = (name: string, src: string | string[], shape: number[], order: ArrayLike<number> | null, type = opts.dtype): GgufTensor => ({
    name,
    shape: Array.isArray(src) ? [src.length, ...shape] : shape,
    type,
    async *data() {
      const [rows, cols] = shape as [number, number];
      const per = Math.max(1, Math.floor(CHUNK_ELEMENTS / cols));
      for (const part of Array.isArray(src) ? src : [src]) {
        for (let r0 = 0; r0 < rows; r0 += per) {
          const n = Math.min(per, rows - r0);
          const idx = new Int32Array(n);
          for (let i = 0; i < n; i++) idx[i] = order ? order[r0 + i]! : r0 + i;
          yield fromFloat32(await ckpt.readRowsFloat32(part, idx), type);
        }
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
    foldNormWeight(spec.family, v);
    if (scale !== 1) for (let i = 0; i < v.length; i++) v[i] = v[i]! * scale;
    return v;
  };
  const permuted = (perm: Int32Array | null) => (v: Float32Array): Float32Array => (perm ? Float32Array.from(perm, (r) => v[r]!) : v);

  if (opts.ropeFreqs) {
    const f = opts.ropeFreqs;
    out.push({ name: 'rope_freqs.weight', shape: [f.length], type: 'F32', async *data() { yield fromFloat32(f, 'F32'); } });
  }
  const source = (role: TensorRole, layer?: number): string => roleName(spec.family, role, layer);
  out.push(matrix(ggufName(spec, 'embed'), source('embed'), [opts.rows, spec.hidden], null));

  for (let l = 0; l < spec.layers; l++) {
    for (const role of roles(l)) {
      const src = source(role, l);
      const name = ggufName(spec, role, l);
      if (templateFor(spec.family, role).perExpert) {
        const parts = Array.from({ length: expertCount(spec) }, (_, e) => roleName(spec.family, role, l, e));
        const [rows, cols] = ckpt.info(parts[0]!).shape as [number, number];
        out.push(matrix(name, parts, [rows, cols], null));
        continue;
      }
      const shape = ckpt.info(src).shape;
      if (role === 'router') {
        out.push(matrix(name, src, [shape[0]!, shape[1]!], null, 'F32'));
      } else if (shape.length === 2) {
        const order = role === 'q' ? qPerm : role === 'k' ? kPerm : null;
        out.push(matrix(name, src, [shape[0]!, shape[1]!], order));
      } else if (isNormRole(role)) {
        out.push(vector(name, src, shape[0]!, norm(role === 'q_norm' ? opts.qNormScale : 1)));
      } else {
        const perm = role === 'q_bias' ? qPerm : role === 'k_bias' ? kPerm : null;
        out.push(vector(name, src, shape[0]!, permuted(perm)));
      }
    }
  }
  out.push(vector(ggufName(spec, 'final_norm'), source('final_norm'), spec.hidden, norm()));
  // Tied models carry no `output`: llama.cpp reuses token_embd, and the converter writes none.
  if (!spec.tied) out.push(matrix(ggufName(spec, 'lm_head'), source('lm_head'), [opts.rows, spec.hidden], null));
  return out;
}
