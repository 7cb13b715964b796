/** A minimal GGUF v3 reader for tests: metadata scalars, tensor infos, and one tensor's bytes at a time. */
import { openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { GGML_TYPES, type GgmlTypeName } from '../../src/export/gguf-quant/ggml-types.ts';

export interface GgufTensorInfo { name: string; shape: number[]; type: GgmlTypeName; offset: number; bytes: number }

const TYPE_BY_ID = new Map<number, GgmlTypeName>(Object.entries(GGML_TYPES).map(([k, v]) => [v.id, k as GgmlTypeName]));

export class GgufFile {
  readonly metadata = new Map<string, unknown>();
  readonly tensors = new Map<string, GgufTensorInfo>();
  private readonly fd: number;
  private dataStart = 0;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'r');
    const size = fstatSync(this.fd).size;
    const head = Buffer.alloc(Math.min(size, 64 << 20));
    readSync(this.fd, head, 0, head.length, 0);
    let at = 0;
    const u32 = () => { const v = head.readUInt32LE(at); at += 4; return v; };
    const u64 = () => { const v = Number(head.readBigUInt64LE(at)); at += 8; return v; };
    const str = () => { const n = u64(); const s = head.toString('utf8', at, at + n); at += n; return s; };
    const scalar = (t: number): unknown => {
      switch (t) {
        case 0: return head.readUInt8(at++);
        case 1: return head.readInt8(at++);
        case 2: { const v = head.readUInt16LE(at); at += 2; return v; }
        case 3: { const v = head.readInt16LE(at); at += 2; return v; }
        case 4: return u32();
        case 5: { const v = head.readInt32LE(at); at += 4; return v; }
        case 6: { const v = head.readFloatLE(at); at += 4; return v; }
        case 7: return head.readUInt8(at++) !== 0;
        case 8: return str();
        case 10: return u64();
        case 11: { const v = Number(head.readBigInt64LE(at)); at += 8; return v; }
        case 12: { const v = head.readDoubleLE(at); at += 8; return v; }
        default: throw new Error(`${path}: GGUF value type ${t}`);
      }
    };
    if (head.toString('latin1', 0, 4) !== 'GGUF') throw new Error(`${path}: not GGUF`);
    at = 4;
    u32();
    const nTensors = u64();
    const nKv = u64();
    for (let i = 0; i < nKv; i++) {
      const key = str();
      const t = u32();
      if (t === 9) {
        const it = u32();
        const n = u64();
        const items: unknown[] = [];
        for (let j = 0; j < n; j++) items.push(scalar(it));
        this.metadata.set(key, items);
      } else {
        this.metadata.set(key, scalar(t));
      }
    }
    for (let i = 0; i < nTensors; i++) {
      const name = str();
      const nd = u32();
      const ne: number[] = [];
      for (let d = 0; d < nd; d++) ne.push(u64());
      const type = TYPE_BY_ID.get(u32());
      if (!type) throw new Error(`${path}: ${name}: unknown ggml type`);
      const offset = u64();
      const shape = ne.reverse();
      const bytes = (shape.reduce((a, b) => a * b, 1) / GGML_TYPES[type].blockSize) * GGML_TYPES[type].typeSize;
      this.tensors.set(name, { name, shape, type, offset, bytes });
    }
    const align = Number(this.metadata.get('general.alignment') ?? 32);
    this.dataStart = Math.ceil(at / align) * align;
  }

  read(name: string): Uint8Array {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.path}: no tensor ${name}`);
    const b = new Uint8Array(t.bytes);
    readSync(this.fd, b, 0, t.bytes, this.dataStart + t.offset);
    return b;
  }

  readF32(name: string): Float32Array {
    const b = this.read(name);
    if (this.tensors.get(name)!.type !== 'F32') throw new Error(`${name} is not F32`);
    return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
  }

  close(): void {
    closeSync(this.fd);
  }
}
