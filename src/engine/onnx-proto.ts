/**
 * A small ONNX graph builder and a hand-written protobuf encoder for the subset of `onnx.proto`
 * the engine emits (ModelProto IR 8: nodes, attributes, typed graph inputs/outputs with symbolic
 * dims, small initializers as raw_data). Hand-written so the project carries no protobuf
 * dependency; field numbers are those of onnx/onnx.proto.
 *
 * Optionally, large initializers go to an ONNX external-data side file (`model.onnx_data`): a
 * GraphBuilder given an ExternalDataSink hands it every initializer of at least `threshold` bytes
 * as soon as it is added (so the weights need not stay in memory), and the TensorProto carries
 * `data_location = EXTERNAL` and `external_data` {location, offset, length} instead of raw_data,
 * as onnx's `save_model(..., save_as_external_data=True)` writes it.
 */

import { ByteSink } from '../io/byte-sink.ts';

/** TensorProto.DataType values we use. */
export const DataType = { FLOAT: 1, INT8: 3, INT32: 6, INT64: 7, FLOAT16: 10, DOUBLE: 11 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

// ---------------------------------------------------------------------------------------------
// Protobuf wire encoding.

/** The few protobuf primitives we need, over the shared byte sink. */
class Writer {
  readonly #out = new ByteSink();

  /** Unsigned varint of a non-negative safe integer, or a negative int64 (10-byte two's complement). */
  varint(v: number | bigint): void {
    let x = typeof v === 'bigint' ? v : BigInt(v);
    if (x < 0n) x = BigInt.asUintN(64, x);
    // Small values (nearly all: tags, lengths, dims) take the number path.
    if (x < 0x80000000n) {
      let n = Number(x);
      while (n >= 0x80) {
        this.#out.byte((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      this.#out.byte(n);
      return;
    }
    while (x >= 0x80n) {
      this.#out.byte(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    this.#out.byte(Number(x));
  }

  tag(field: number, wire: 0 | 1 | 2 | 5): void {
    this.varint((field << 3) | wire);
  }

  bytes(data: Uint8Array): void {
    this.#out.raw(data);
  }

  fixed32f(v: number): void {
    this.#out.f32(v);
  }

  finish(): Uint8Array {
    return this.#out.finish();
  }
}

const utf8 = new TextEncoder();

function fieldString(w: Writer, field: number, s: string): void {
  const b = utf8.encode(s);
  w.tag(field, 2);
  w.varint(b.length);
  w.bytes(b);
}

function fieldBytes(w: Writer, field: number, b: Uint8Array): void {
  w.tag(field, 2);
  w.varint(b.length);
  w.bytes(b);
}

function fieldInt(w: Writer, field: number, v: number | bigint): void {
  w.tag(field, 0);
  w.varint(v);
}

function fieldMessage(w: Writer, field: number, encode: (inner: Writer) => void): void {
  const inner = new Writer();
  encode(inner);
  fieldBytes(w, field, inner.finish());
}

// ---------------------------------------------------------------------------------------------
// The graph model.

/** A graph input/output dim: a fixed size or a symbolic name ("batch", "seq"). */
export type Dim = number | string;

export interface ValueInfo {
  name: string;
  type: DataTypeCode;
  shape: Dim[];
}

export type AttrValue =
  | { kind: 'int'; value: number }
  | { kind: 'float'; value: number }
  | { kind: 'string'; value: string }
  | { kind: 'ints'; value: number[] }
  | { kind: 'floats'; value: number[] }
  | { kind: 'tensor'; value: Initializer };

/** Plain attribute values: integers become INT, other numbers FLOAT; use `attr.*` to force a kind. */
export type AttrInput = AttrValue | number | string | number[];

export const attr = {
  int: (value: number): AttrValue => ({ kind: 'int', value }),
  float: (value: number): AttrValue => ({ kind: 'float', value }),
  ints: (value: number[]): AttrValue => ({ kind: 'ints', value }),
  floats: (value: number[]): AttrValue => ({ kind: 'floats', value }),
  string: (value: string): AttrValue => ({ kind: 'string', value }),
  tensor: (value: Initializer): AttrValue => ({ kind: 'tensor', value }),
};

export interface Node {
  op: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attrs: Record<string, AttrValue>;
}

export interface Initializer {
  name: string;
  type: DataTypeCode;
  dims: number[];
  /** Little-endian element bytes (empty when `external` is set). */
  raw: Uint8Array;
  /** Where the bytes are when stored as external data. */
  external?: ExternalRef;
}

/** An initializer's bytes in an external-data file: TensorProto.external_data's three entries. */
export interface ExternalRef {
  /** File name relative to the model file's folder. */
  location: string;
  offset: number;
  length: number;
}

/**
 * Takes initializers' bytes for an external-data file and says where it put them. `append` is
 * called synchronously, in initializer order, once per tensor of at least `threshold` bytes.
 */
export interface ExternalDataSink {
  readonly threshold: number;
  append(raw: Uint8Array): ExternalRef;
}

/** onnx's `convert_model_to_external_data` default: tensors under 1 KB stay inline. */
export const EXTERNAL_DATA_THRESHOLD = 1024;

function normalizeAttr(v: AttrInput): AttrValue {
  if (typeof v === 'number') return Number.isInteger(v) ? { kind: 'int', value: v } : { kind: 'float', value: v };
  if (typeof v === 'string') return { kind: 'string', value: v };
  if (Array.isArray(v)) return { kind: 'ints', value: v };
  return v;
}

/** Opsets of every graph we build: ONNX 20 and the com.microsoft contrib ops. */
export const OPSET: Readonly<Record<string, number>> = { '': 20, 'com.microsoft': 1 };

/**
 * Builds one graph. Node outputs are named by the caller or generated (`name_N`), so graph code
 * reads as dataflow: `const y = g.op('Add', [a, b])`.
 */

export class GraphBuilder {
  readonly nodes: Node[] = [];
  readonly inputs: ValueInfo[] = [];
  readonly outputs: ValueInfo[] = [];
  readonly initializers: Initializer[] = [];
  private counter = 0;
  private readonly used = new Set<string>();

  /** `external`: where initializers of at least `external.threshold` bytes go (default: all inline). */
  constructor(
    readonly name: string,
    readonly external: ExternalDataSink | null = null,
  ) {}

  private fresh(hint: string): string {
    let n: string;
    do n = `${hint}_${this.counter++}`;
    while (this.used.has(n));
    this.used.add(n);
    return n;
  }

  input(name: string, type: DataTypeCode, shape: Dim[]): string {
    if (this.used.has(name)) throw new Error(`duplicate value name ${name}`);
    this.used.add(name);
    this.inputs.push({ name, type, shape });
    return name;
  }

  /** Declares `value` (produced by some node) as a graph output. */
  output(value: string, type: DataTypeCode, shape: Dim[]): void {
    this.outputs.push({ name: value, type, shape });
  }

  /** A constant tensor stored in the model. */
  initializer(hint: string, type: DataTypeCode, dims: number[], data: Float32Array | Int32Array | BigInt64Array | Uint16Array | Float64Array): string {
    const name = this.fresh(hint);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (this.external && bytes.length >= this.external.threshold) {
      this.initializers.push({ name, type, dims, raw: new Uint8Array(0), external: this.external.append(bytes) });
    } else {
      this.initializers.push({ name, type, dims, raw: bytes.slice() });
    }
    return name;
  }

  constF32(hint: string, values: number[], dims: number[] = [values.length]): string {
    return this.initializer(hint, DataType.FLOAT, dims, Float32Array.from(values));
  }

  constI64(hint: string, values: number[], dims: number[] = [values.length]): string {
    return this.initializer(hint, DataType.INT64, dims, BigInt64Array.from(values.map((v) => BigInt(v))));
  }

  /**
   * Adds a node and returns its outputs. `outputs` is a count (names generated from the op) or
   * explicit names (used for graph outputs). An empty-string input means "optional, absent".
   * `name` names the node itself (session options refer to nodes by name), else one is generated.
   */
  node(
    op: string,
    inputs: string[],
    attrs: Record<string, AttrInput> = {},
    opts: { domain?: string; outputs?: number | string[]; name?: string } = {},
  ): string[] {
    const o = opts.outputs ?? 1;
    const outputs = typeof o === 'number' ? Array.from({ length: o }, () => this.fresh(op.toLowerCase())) : o;
    for (const name of outputs) if (typeof o !== 'number') this.used.add(name);
    const a: Record<string, AttrValue> = {};
    for (const [k, v] of Object.entries(attrs)) a[k] = normalizeAttr(v);
    if (opts.name !== undefined && this.nodes.some((n) => n.name === opts.name)) throw new Error(`duplicate node name ${opts.name}`);
    this.nodes.push({ op, domain: opts.domain ?? '', inputs, outputs, name: opts.name ?? this.fresh(`n_${op}`), attrs: a });
    return outputs;
  }

  /** Single-output node. */
  op(op: string, inputs: string[], attrs: Record<string, AttrInput> = {}, domain = ''): string {
    return this.node(op, inputs, attrs, { domain })[0]!;
  }

  /** Serializes a ModelProto. */
  toModel(opsets: Record<string, number> = OPSET): Uint8Array {
    return encodeModel(this, opsets);
  }
}

// ---------------------------------------------------------------------------------------------
// Message encoders (field numbers from onnx.proto).

function encodeTensor(w: Writer, t: Initializer): void {
  for (const d of t.dims) fieldInt(w, 1, d); // dims (unpacked repeated int64 is accepted by parsers)
  fieldInt(w, 2, t.type); // data_type
  fieldString(w, 8, t.name); // name
  if (t.external) {
    // external_data: StringStringEntryProto {key = 1, value = 2}; then data_location = EXTERNAL.
    const entries: Array<[string, string]> = [
      ['location', t.external.location],
      ['offset', String(t.external.offset)],
      ['length', String(t.external.length)],
    ];
    for (const [key, value] of entries) {
      fieldMessage(w, 13, (e) => {
        fieldString(e, 1, key);
        fieldString(e, 2, value);
      });
    }
    fieldInt(w, 14, 1);
  } else {
    fieldBytes(w, 9, t.raw); // raw_data
  }
}

const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;

function encodeAttribute(w: Writer, name: string, a: AttrValue): void {
  fieldString(w, 1, name);
  switch (a.kind) {
    case 'float':
      w.tag(2, 5);
      w.fixed32f(a.value);
      break;
    case 'int':
      fieldInt(w, 3, a.value);
      break;
    case 'string':
      fieldBytes(w, 4, utf8.encode(a.value));
      break;
    case 'tensor':
      fieldMessage(w, 5, (inner) => encodeTensor(inner, a.value));
      break;
    case 'floats':
      for (const f of a.value) {
        w.tag(7, 5);
        w.fixed32f(f);
      }
      break;
    case 'ints':
      for (const i of a.value) fieldInt(w, 8, i);
      break;
  }
  fieldInt(w, 20, ATTR_TYPE[a.kind]); // type
}

function encodeNode(w: Writer, n: Node): void {
  for (const i of n.inputs) fieldString(w, 1, i);
  for (const o of n.outputs) fieldString(w, 2, o);
  fieldString(w, 3, n.name);
  fieldString(w, 4, n.op);
  for (const [k, v] of Object.entries(n.attrs)) fieldMessage(w, 5, (inner) => encodeAttribute(inner, k, v));
  if (n.domain) fieldString(w, 7, n.domain);
}

function encodeValueInfo(w: Writer, v: ValueInfo): void {
  fieldString(w, 1, v.name);
  fieldMessage(w, 2, (type) =>
    fieldMessage(type, 1, (tensor) => {
      fieldInt(tensor, 1, v.type); // elem_type
      fieldMessage(tensor, 2, (shape) => {
        for (const d of v.shape) {
          fieldMessage(shape, 1, (dim) => (typeof d === 'number' ? fieldInt(dim, 1, d) : fieldString(dim, 2, d)));
        }
      });
    }),
  );
}

function encodeModel(g: GraphBuilder, opsets: Record<string, number>): Uint8Array {
  const w = new Writer();
  fieldInt(w, 1, 8); // ir_version
  fieldString(w, 2, 'compact'); // producer_name
  fieldMessage(w, 7, (graph) => {
    for (const n of g.nodes) fieldMessage(graph, 1, (inner) => encodeNode(inner, n));
    fieldString(graph, 2, g.name);
    for (const t of g.initializers) fieldMessage(graph, 5, (inner) => encodeTensor(inner, t));
    for (const v of g.inputs) fieldMessage(graph, 11, (inner) => encodeValueInfo(inner, v));
    for (const v of g.outputs) fieldMessage(graph, 12, (inner) => encodeValueInfo(inner, v));
  });
  for (const [domain, version] of Object.entries(opsets)) {
    fieldMessage(w, 8, (op) => {
      if (domain) fieldString(op, 1, domain);
      fieldInt(op, 2, version);
    });
  }
  return w.finish();
}
