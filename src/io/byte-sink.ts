/**
 * Growable little-endian byte buffer: the one place both binary headers we write (GGUF's key/value
 * header and the ONNX protobuf) append into. Tensor data never goes here; it is streamed.
 */
export class ByteSink {
  #buf: Uint8Array;
  #view: DataView;
  #len = 0;

  constructor(initialCapacity = 256) {
    this.#buf = new Uint8Array(initialCapacity);
    this.#view = new DataView(this.#buf.buffer);
  }

  get length(): number { return this.#len; }

  // Every writer below reserves before it touches #buf/#view: reserve may replace both, and
  // `this.#view.set…(this.reserve(n), …)` would evaluate the old view first.

  /** Room for n more bytes; returns the offset they start at. Doubling keeps appends amortised O(1). */
  reserve(n: number): number {
    const need = this.#len + n;
    if (need > this.#buf.length) {
      let cap = this.#buf.length * 2;
      while (cap < need) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.#buf.subarray(0, this.#len));
      this.#buf = next;
      this.#view = new DataView(next.buffer);
    }
    const at = this.#len;
    this.#len = need;
    return at;
  }

  byte(v: number): void { const at = this.reserve(1); this.#buf[at] = v; }
  u8(v: number): void { const at = this.reserve(1); this.#view.setUint8(at, v); }
  i8(v: number): void { const at = this.reserve(1); this.#view.setInt8(at, v); }
  u16(v: number): void { const at = this.reserve(2); this.#view.setUint16(at, v, true); }
  i16(v: number): void { const at = this.reserve(2); this.#view.setInt16(at, v, true); }
  u32(v: number): void { const at = this.reserve(4); this.#view.setUint32(at, v, true); }
  i32(v: number): void { const at = this.reserve(4); this.#view.setInt32(at, v, true); }
  f32(v: number): void { const at = this.reserve(4); this.#view.setFloat32(at, v, true); }
  f64(v: number): void { const at = this.reserve(8); this.#view.setFloat64(at, v, true); }
  u64(v: number | bigint): void { const at = this.reserve(8); this.#view.setBigUint64(at, BigInt(v), true); }
  i64(v: number | bigint): void { const at = this.reserve(8); this.#view.setBigInt64(at, BigInt(v), true); }
  raw(b: Uint8Array): void { const at = this.reserve(b.length); this.#buf.set(b, at); }
  zeros(n: number): void { const at = this.reserve(n); this.#buf.fill(0, at, at + n); }

  /** A copy of what was written (the sink may be reused or dropped). */
  finish(): Uint8Array { return this.#buf.slice(0, this.#len); }
}
