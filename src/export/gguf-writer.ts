/**
 * GGUF v3 serialization, as gguf-py's GGUFWriter lays a file out (little-endian):
 *
 *   "GGUF" · u32 version 3 · u64 tensor count · u64 KV count
 *   KV pairs:     string key · u32 value type · value (arrays: u32 item type · u64 count · items)
 *   tensor infos: string name · u32 n_dims · u64 dims (ggml order = numpy shape reversed) ·
 *                 u32 ggml type · u64 offset (relative to the data section, aligned)
 *   zero padding to `general.alignment` (32), then each tensor's bytes padded to 32.
 *
 * Strings are u64 length + UTF-8 bytes, no terminator. The whole header is known before any tensor
 * is read (shapes and types fix every offset), so tensors are streamed one at a time, never held
 * together.
 */

import { GGML_TYPES, rowBytes, type GgmlTypeName } from './gguf-quant/ggml-types.ts';
import { ByteSink } from '../io/byte-sink.ts';

export const GGUF_MAGIC = 'GGUF';
export const GGUF_VERSION = 3;
export const GGUF_ALIGNMENT = 32;

/** gguf-py GGUFValueType. */
export const GgufValueType = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
type ScalarType = Exclude<(typeof GgufValueType)[keyof typeof GgufValueType], 9>;

/** Tensor types we write (ggml_type ids and block geometry: gguf-quant/ggml-types.ts). */
export type { GgmlTypeName } from './gguf-quant/ggml-types.ts';

/** One metadata value: a typed scalar, or an array of one scalar type. */
export type GgufValue =
  | { type: ScalarType; value: number | bigint | boolean | string }
  | { type: 9; itemType: ScalarType; items: ArrayLike<number> | readonly string[] | readonly boolean[] };

export const kv = {
  u32: (value: number): GgufValue => ({ type: GgufValueType.UINT32, value }),
  i32: (value: number): GgufValue => ({ type: GgufValueType.INT32, value }),
  f32: (value: number): GgufValue => ({ type: GgufValueType.FLOAT32, value }),
  bool: (value: boolean): GgufValue => ({ type: GgufValueType.BOOL, value }),
  str: (value: string): GgufValue => ({ type: GgufValueType.STRING, value }),
  strings: (items: readonly string[]): GgufValue => ({ type: 9, itemType: GgufValueType.STRING, items }),
  i32s: (items: ArrayLike<number>): GgufValue => ({ type: 9, itemType: GgufValueType.INT32, items }),
  f32s: (items: ArrayLike<number>): GgufValue => ({ type: 9, itemType: GgufValueType.FLOAT32, items }),
};

export interface GgufTensor {
  name: string;
  /** numpy/HF order ([rows, cols]); written reversed, as ggml's ne[]. */
  shape: number[];
  type: GgmlTypeName;
  /** Produces the tensor's bytes (exactly elements × type size), in chunks, when its turn comes. */
  data: () => AsyncIterable<Uint8Array>;
}

const utf8 = new TextEncoder();

/** GGUF's header encoding over the shared byte sink (the header only; tensor data never goes here). */
class Bytes extends ByteSink {
  constructor() { super(1 << 16); }
  str(s: string): void { const b = utf8.encode(s); this.u64(b.length); this.raw(b); }
  pad(align: number): void { this.zeros(padding(this.length, align)); }
}

export function padding(n: number, align: number): number {
  return (align - (n % align)) % align;
}

function scalar(out: Bytes, type: ScalarType, v: number | bigint | boolean | string): void {
  switch (type) {
    case GgufValueType.UINT8: out.u8(Number(v)); break;
    case GgufValueType.INT8: out.i8(Number(v)); break;
    case GgufValueType.UINT16: out.u16(Number(v)); break;
    case GgufValueType.INT16: out.i16(Number(v)); break;
    case GgufValueType.UINT32: out.u32(Number(v)); break;
    case GgufValueType.INT32: out.i32(Number(v)); break;
    case GgufValueType.FLOAT32: out.f32(Number(v)); break;
    case GgufValueType.BOOL: out.u8(v ? 1 : 0); break;
    case GgufValueType.STRING: out.str(String(v)); break;
    case GgufValueType.UINT64: out.u64(typeof v === 'bigint' ? v : BigInt(Number(v))); break;
    case GgufValueType.INT64: out.i64(typeof v === 'bigint' ? v : BigInt(Number(v))); break;
    case GgufValueType.FLOAT64: out.f64(Number(v)); break;
  }
}

export function tensorByteLength(t: Pick<GgufTensor, 'shape' | 'type'>): number {
  const cols = t.shape[t.shape.length - 1] ?? 1;
  return (t.shape.reduce((a, b) => a * b, 1) / cols) * rowBytes(t.type, cols);
}

/**
 * The header (through the padding before the data section) and each tensor's offset.
 * `general.alignment` is not written: 32 is the default, as gguf-py leaves it.
 */
export function encodeHeader(metadata: ReadonlyArray<readonly [string, GgufValue]>, tensors: ReadonlyArray<Pick<GgufTensor, 'name' | 'shape' | 'type'>>): { header: Uint8Array; offsets: number[]; dataBytes: number } {
  const seen = new Set<string>();
  for (const [key] of metadata) {
    if (seen.has(key)) throw new Error(`GGUF metadata key ${key} written twice`);
    seen.add(key);
  }
  const out = new Bytes();
  out.raw(utf8.encode(GGUF_MAGIC));
  out.u32(GGUF_VERSION);
  out.u64(tensors.length);
  out.u64(metadata.length);
  for (const [key, v] of metadata) {
    out.str(key);
    out.u32(v.type);
    if (v.type === GgufValueType.ARRAY) {
      out.u32(v.itemType);
      out.u64(v.items.length);
      for (let i = 0; i < v.items.length; i++) scalar(out, v.itemType, (v.items as ArrayLike<number | string | boolean>)[i]!);
    } else {
      scalar(out, v.type, v.value);
    }
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    out.str(t.name);
    out.u32(t.shape.length);
    for (let d = t.shape.length - 1; d >= 0; d--) out.u64(t.shape[d]!);
    out.u32(GGML_TYPES[t.type].id);
    out.u64(offset);
    offsets.push(offset);
    const n = tensorByteLength(t);
    offset += n + padding(n, GGUF_ALIGNMENT);
  }
  out.pad(GGUF_ALIGNMENT);
  return { header: out.finish(), offsets, dataBytes: offset };
}

/**
 * The whole file as a stream of chunks: header, then every tensor with its padding. Each
 * tensor's producer must yield exactly its byte length; a mismatch would shift every later
 * tensor, so it is checked.
 */
export async function* ggufChunks(metadata: ReadonlyArray<readonly [string, GgufValue]>, tensors: readonly GgufTensor[]): AsyncGenerator<Uint8Array> {
  const { header } = encodeHeader(metadata, tensors);
  yield header;
  for (const t of tensors) {
    const expected = tensorByteLength(t);
    let n = 0;
    for await (const chunk of t.data()) {
      n += chunk.length;
      yield chunk;
    }
    if (n !== expected) throw new Error(`GGUF tensor ${t.name}: produced ${n} bytes, expected ${expected}`);
    const pad = padding(n, GGUF_ALIGNMENT);
    if (pad) yield new Uint8Array(pad);
  }
}
