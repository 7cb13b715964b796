/**
 * A GGUF tensor list (float32 data) → the same tensors in a quantized file type: the type of each
 * (type-rules.ts), its size, and a data stream that quantizes rows as they come, so no more than
 * one read chunk of one tensor is in memory.
 */
import type { GgufTensor } from '../gguf-writer.ts';
import { GGML_TYPES, rowBytes, type GgmlTypeName, type QuantFileType } from './ggml-types.ts';
import { quantizeRows } from './quantize-rows.ts';
import { tensorType, type ModelShape } from './type-rules.ts';

export interface QuantPlanEntry {
  name: string;
  shape: number[];
  type: GgmlTypeName;
  /** The type the rules picked before the row-length fallback. */
  wanted: GgmlTypeName;
  fallback: string | null;
  bytes: number;
}

export interface QuantPlanSummary {
  fileType: QuantFileType;
  /** Tensors per type. */
  types: Partial<Record<GgmlTypeName, number>>;
  /** Tensors that fell back to another type because of their row length. */
  fallbacks: Array<{ name: string; wanted: GgmlTypeName; type: GgmlTypeName; why: string }>;
  /** Tensor data bytes (no header, no padding) and weights; bits per weight = 8·bytes / weights. */
  bytes: number;
  weights: number;
  bitsPerWeight: number;
}

export function planQuantization(tensors: ReadonlyArray<Pick<GgufTensor, 'name' | 'shape' | 'type'>>, ftype: QuantFileType, model: ModelShape): QuantPlanEntry[] {
  return tensors.map((t) => {
    const choice = tensorType(t, ftype, model, t.type);
    const cols = t.shape[t.shape.length - 1]!;
    const rows = t.shape.reduce((a, b) => a * b, 1) / cols;
    return { name: t.name, shape: [...t.shape], type: choice.type, wanted: choice.wanted, fallback: choice.fallback, bytes: rows * rowBytes(choice.type, cols) };
  });
}

export function summarizePlan(plan: readonly QuantPlanEntry[], ftype: QuantFileType): QuantPlanSummary {
  const types: Partial<Record<GgmlTypeName, number>> = {};
  let bytes = 0;
  let weights = 0;
  for (const e of plan) {
    types[e.type] = (types[e.type] ?? 0) + 1;
    bytes += e.bytes;
    weights += e.shape.reduce((a, b) => a * b, 1);
  }
  const fallbacks = plan.filter((e) => e.fallback).map((e) => ({ name: e.name, wanted: e.wanted, type: e.type, why: e.fallback! }));
  return { fileType: ftype, types, fallbacks, bytes, weights, bitsPerWeight: (8 * bytes) / weights };
}

/** Float32 view of a chunk's bytes (copied when the chunk is not 4-byte aligned). */
function asFloat32(chunk: Uint8Array): Float32Array {
  if (chunk.byteOffset % 4 === 0) return new Float32Array(chunk.buffer, chunk.byteOffset, chunk.byteLength / 4);
  return new Float32Array(chunk.slice().buffer);
}

/** `tensors` with F32 data, re-typed and re-encoded per `plan` (same order, same names). */
export function quantizeTensors(tensors: readonly GgufTensor[], plan: readonly QuantPlanEntry[]): GgufTensor[] {
  return tensors.map((t, i) => {
    const p = plan[i]!;
    if (p.name !== t.name) throw new Error(`quantization plan out of step: ${p.name} vs ${t.name}`);
    if (p.type === t.type) return t;
    if (t.type !== 'F32') throw new Error(`${t.name}: quantizing from ${t.type} (F32 expected)`);
    const cols = t.shape[t.shape.length - 1]!;
    return {
      name: t.name,
      shape: t.shape,
      type: p.type,
      async *data() {
        let carry = new Float32Array(0);
        for await (const chunk of t.data()) {
          let v = asFloat32(chunk);
          if (carry.length) {
            const joined = new Float32Array(carry.length + v.length);
            joined.set(carry);
            joined.set(v, carry.length);
            v = joined;
          }
          const whole = v.length - (v.length % cols);
          if (whole) yield quantizeRows(v.subarray(0, whole), cols, p.type);
          carry = v.slice(whole);
        }
        if (carry.length) throw new Error(`${t.name}: data ends inside a row`);
      },
    };
  });
}

export { GGML_TYPES };
