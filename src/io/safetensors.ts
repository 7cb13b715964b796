/**
 * Reading Hugging Face safetensors checkpoints (single file or sharded with an index).
 *
 * Tensors are read one at a time with positioned reads: shards can be 5 GB and whole models larger
 * than RAM, and Node cannot hold a buffer over 4 GiB anyway. Headers are validated up front so a
 * corrupt file fails at open time with a message naming the file and tensor, not mid-pipeline.
 */
import { promises as fsp, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CompactError } from '../errors.ts';
import {
  bf16ToF32Bits,
  countNonFinite,
  countNonFiniteF32,
  DTYPE_SIZE,
  f16ToF32Bits,
  HOST_LITTLE_ENDIAN,
  isFloatDType,
  toFloat32,
  type DType,
} from './dtype.ts';
import { headerLength, parseHeader, parseJsonObject, type ParsedHeader } from './safetensors-header.ts';

export interface TensorInfo {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute path of the file holding the tensor. */
  file: string;
  /** Absolute byte offset of the tensor's data in `file`. */
  offset: number;
  byteLength: number;
}

export interface Checkpoint {
  readonly dir: string;
  /** `__metadata__` of the first shard (by file name). */
  readonly metadata: Record<string, string>;
  /** Tensor names, sorted. */
  names(): string[];
  has(name: string): boolean;
  /** Throws CompactError "<dir>: no tensor named X" when missing. The result is frozen. */
  info(name: string): TensorInfo;
  /** Raw little-endian bytes, in a fresh buffer the caller owns. */
  readBytes(name: string): Promise<Uint8Array>;
  /**
   * The same bytes into the start of `dst` (at least the tensor's byte length): a caller that
   * reads tensor after tensor into one reused buffer leaves no per-tensor garbage for the GC.
   */
  readBytesInto(name: string, dst: Uint8Array): Promise<void>;
  /** F32/F16/BF16/F64 converted to f32 (other dtypes are a CompactError). */
  readFloat32(name: string): Promise<Float32Array>;
  /** Rows of a 2-D tensor ([rows, cols], row-major), in the order given (repeats allowed), as f32. */
  readRowsFloat32(name: string, rows: ArrayLike<number>): Promise<Float32Array>;
  /** Same as readRowsFloat32 but the raw bytes of the tensor's dtype. */
  readRowsBytes(name: string, rows: ArrayLike<number>): Promise<Uint8Array>;
  /** Sum of all tensors' byte lengths. */
  totalBytes(): number;
  close(): Promise<void>;
}

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

/** One read() call is capped well under the 2 GiB a single syscall can move. */
const MAX_READ_CHUNK = 1 << 30;
/** Concurrent positioned reads in a row gather; libuv's pool is 4 threads, a few more hides latency. */
const ROW_READ_CONCURRENCY = 8;
/** Row gathers read through gaps up to this size rather than issue another read. */
const ROW_GAP_BYTES = 64 * 1024;
/** …and read at most this much per span, bounding the scratch buffer. */
const ROW_SPAN_BYTES = 8 * 1024 * 1024;

export async function openCheckpoint(dir: string): Promise<Checkpoint> {
  const absDir = path.resolve(dir);
  const stat = await statOrNull(absDir);
  if (!stat) throw new CompactError(`${dir}: no such folder`);
  if (!stat.isDirectory()) throw new CompactError(`${dir}: not a folder`);

  const shards = await locateShards(dir, absDir);
  const headers = new Map<string, ParsedHeader & { size: number }>();
  for (const file of shards.files) {
    headers.set(file, await readHeader(path.join(absDir, file), path.join(dir, file)));
  }

  const tensors = new Map<string, TensorInfo>();
  const shardOf = new Map<string, string>();
  for (const file of shards.files) {
    const h = headers.get(file)!;
    for (const t of h.tensors) {
      const other = shardOf.get(t.name);
      if (other !== undefined) {
        throw new CompactError(`${path.join(dir, file)}: tensor "${t.name}" is listed twice: also in ${other}`);
      }
      shardOf.set(t.name, file);
      const info: TensorInfo = {
        name: t.name,
        dtype: t.dtype,
        shape: Object.freeze(t.shape.slice()) as number[],
        file: path.join(absDir, file),
        offset: h.dataStart + t.begin,
        byteLength: t.end - t.begin,
      };
      tensors.set(t.name, Object.freeze(info));
    }
  }
  // Every index entry must be where the index says. Tensors a listed shard holds beyond the index
  // are kept, as transformers loads them too.
  if (shards.weightMap) {
    for (const [name, file] of shards.weightMap) {
      const actual = shardOf.get(name);
      if (actual !== file) {
        throw new CompactError(
          `${path.join(dir, INDEX_FILE)}: tensor "${name}" is mapped to ${file}, which does not contain it` +
            (actual ? ` (it is in ${actual})` : ''),
        );
      }
    }
  }
  const sizes = new Map([...headers].map(([file, h]) => [path.join(absDir, file), h.size]));
  const metadata = Object.freeze({ ...headers.get(shards.files[0]!)!.metadata });
  return new SafetensorsCheckpoint(dir, absDir, metadata, tensors, sizes);
}

interface ShardList {
  /** Shard file names relative to the folder, sorted. */
  files: string[];
  /** tensor → shard file, when the checkpoint has an index. */
  weightMap?: Map<string, string>;
}

/** Same preference order as transformers: a single model.safetensors, then the index, then a lone *.safetensors. */
async function locateShards(dir: string, absDir: string): Promise<ShardList> {
  if (await isFile(path.join(absDir, SINGLE_FILE))) return { files: [SINGLE_FILE] };
  const indexPath = path.join(absDir, INDEX_FILE);
  if (await isFile(indexPath)) return readIndex(dir, absDir, indexPath);
  const candidates = (await fsp.readdir(absDir)).filter((f) => f.endsWith('.safetensors')).sort();
  if (candidates.length === 1) return { files: candidates };
  if (candidates.length === 0) {
    throw new CompactError(`${dir}: no ${SINGLE_FILE}, ${INDEX_FILE} or other .safetensors file`);
  }
  throw new CompactError(
    `${dir}: ${candidates.length} .safetensors files (${candidates.join(', ')}) but no ${INDEX_FILE} saying how they fit together`,
  );
}

async function readIndex(dir: string, absDir: string, indexPath: string): Promise<ShardList> {
  const label = path.join(dir, INDEX_FILE);
  const size = (await fsp.stat(indexPath)).size;
  if (size > 100_000_000) throw new CompactError(`${label}: ${size} bytes is too large for an index`);
  const { obj } = parseJsonObject(await fsp.readFile(indexPath), label, 'index');
  const wm = obj['weight_map'];
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) {
    throw new CompactError(`${label}: no "weight_map" object`);
  }
  const weightMap = new Map<string, string>();
  const files = new Set<string>();
  for (const [name, file] of Object.entries(wm)) {
    // Shards must sit in the folder itself: an index must not be able to point anywhere else.
    if (typeof file !== 'string' || file === '' || file !== path.basename(file) || file === '.' || file === '..') {
      throw new CompactError(`${label}: tensor "${name}" maps to ${JSON.stringify(file)}, not a file name in the folder`);
    }
    weightMap.set(name, file);
    files.add(file);
  }
  if (files.size === 0) throw new CompactError(`${label}: "weight_map" is empty`);
  const sorted = [...files].sort();
  for (const file of sorted) {
    if (!(await isFile(path.join(absDir, file)))) {
      throw new CompactError(`${path.join(dir, file)}: shard listed in ${INDEX_FILE} is missing from disk`);
    }
  }
  return { files: sorted, weightMap };
}

async function readHeader(absFile: string, label: string): Promise<ParsedHeader & { size: number }> {
  let fh: FileHandle;
  try {
    fh = await fsp.open(absFile, 'r');
  } catch (e) {
    throw new CompactError(`${label}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const size = (await fh.stat()).size;
    const prefix = new Uint8Array(8);
    if (size >= 8) await readFully(fh, prefix, 0, 8, 0, label);
    const n = headerLength(prefix, size, label);
    const header = new Uint8Array(n);
    await readFully(fh, header, 0, n, 8, label);
    return { ...parseHeader(header, size, label), size };
  } finally {
    await fh.close();
  }
}

/** FileHandle.read may return short counts; loop until `length` bytes land at `buf[bufOffset…]`. */
async function readFully(fh: FileHandle, buf: Uint8Array, bufOffset: number, length: number, position: number, label: string): Promise<void> {
  let done = 0;
  while (done < length) {
    const want = Math.min(length - done, MAX_READ_CHUNK);
    const { bytesRead } = await fh.read(buf, bufOffset + done, want, position + done);
    if (bytesRead === 0) {
      throw new CompactError(`${label}: unexpected end of file at byte ${position + done} (file changed or truncated while reading)`);
    }
    done += bytesRead;
  }
}

/** null when nothing can be there (a name over the OS limit cannot exist either); other failures are a CompactError. */
async function statOrNull(p: string): Promise<Stats | null> {
  try {
    return await fsp.stat(p);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENAMETOOLONG') return null;
    throw new CompactError(`${p}: cannot access (${code ?? (e as Error).message})`);
  }
}

async function isFile(p: string): Promise<boolean> {
  return (await statOrNull(p))?.isFile() ?? false;
}

/** Bytes backed by their own ArrayBuffer at offset 0, so typed-array views over them are aligned. */
function allocBytes(n: number): Uint8Array {
  return new Uint8Array(new ArrayBuffer(n));
}

class SafetensorsCheckpoint implements Checkpoint {
  readonly #tensors: Map<string, TensorInfo>;
  readonly #sorted: string[];
  readonly #sizes: Map<string, number>;
  /** Handles are opened on first read and shared by all reads of that file until close(). */
  readonly #handles = new Map<string, Promise<FileHandle>>();
  #closed = false;

  constructor(
    readonly dir: string,
    private readonly absDir: string,
    readonly metadata: Record<string, string>,
    tensors: Map<string, TensorInfo>,
    sizes: Map<string, number>,
  ) {
    this.#tensors = tensors;
    this.#sorted = [...tensors.keys()].sort();
    this.#sizes = sizes;
  }

  names(): string[] {
    return this.#sorted.slice();
  }

  has(name: string): boolean {
    return this.#tensors.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.#tensors.get(name);
    if (!t) throw new CompactError(`${this.dir}: no tensor named "${name}"`);
    return t;
  }

  totalBytes(): number {
    let n = 0;
    for (const t of this.#tensors.values()) n += t.byteLength;
    return n;
  }

  async readBytes(name: string): Promise<Uint8Array> {
    const t = this.info(name);
    const out = allocBytes(t.byteLength);
    await this.#read(t, out, 0, t.byteLength, t.offset);
    this.#checkFinite(t, countNonFinite(out, t.dtype));
    return out;
  }

  async readBytesInto(name: string, dst: Uint8Array): Promise<void> {
    const t = this.info(name);
    if (dst.length < t.byteLength) throw new Error(`readBytesInto: tensor "${name}" has ${t.byteLength} bytes, the buffer ${dst.length}`);
    const out = dst.subarray(0, t.byteLength);
    await this.#read(t, out, 0, t.byteLength, t.offset);
    this.#checkFinite(t, countNonFinite(out, t.dtype));
  }

  async readFloat32(name: string): Promise<Float32Array> {
    const t = this.#floatInfo(name);
    const count = t.byteLength / (t.dtype === 'F64' ? 8 : t.dtype === 'F32' ? 4 : 2);
    return this.#readAsFloat32(t, count, (dst, at) => this.#read(t, dst, at, t.byteLength, t.offset));
  }

  async readRowsFloat32(name: string, rows: ArrayLike<number>): Promise<Float32Array> {
    const t = this.#floatInfo(name);
    const [rowCount, cols] = this.#matrixShape(t, rows);
    return this.#readAsFloat32(t, rowCount * cols, (dst, at) => this.#gatherRows(t, rows, dst, at));
  }

  async readRowsBytes(name: string, rows: ArrayLike<number>): Promise<Uint8Array> {
    const t = this.info(name);
    const [rowCount, cols] = this.#matrixShape(t, rows);
    const out = allocBytes(rowCount * cols * DTYPE_SIZE[t.dtype]);
    await this.#gatherRows(t, rows, out, 0);
    this.#checkFinite(t, countNonFinite(out, t.dtype));
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const handles = [...this.#handles.values()];
    this.#handles.clear();
    const results = await Promise.allSettled(handles);
    await Promise.all(results.map((r) => (r.status === 'fulfilled' ? r.value.close() : undefined)));
  }

  #floatInfo(name: string): TensorInfo {
    const t = this.info(name);
    if (!isFloatDType(t.dtype)) {
      throw new CompactError(`${this.#label(t)}: tensor "${name}" has dtype ${t.dtype}, not a floating-point type`);
    }
    return t;
  }

  /** Validates a row gather against a 2-D tensor; returns [number of rows requested, columns]. */
  #matrixShape(t: TensorInfo, rows: ArrayLike<number>): [number, number] {
    if (t.shape.length !== 2) {
      throw new CompactError(`${this.#label(t)}: tensor "${t.name}" has shape [${t.shape.join(', ')}], not 2-D`);
    }
    const [n, cols] = t.shape as [number, number];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i]!;
      if (!Number.isInteger(r) || r < 0 || r >= n) {
        throw new CompactError(`${this.#label(t)}: tensor "${t.name}" has ${n} rows; cannot read row ${r}`);
      }
    }
    return [rows.length, cols];
  }

  /**
   * Produces `count` f32 values. Narrower dtypes are read into the upper half of the output's own
   * buffer and widened in place (see bf16ToF32Bits), so a 1 GB bf16 embedding costs 2 GB, not 3.
   */
  async #readAsFloat32(t: TensorInfo, count: number, fill: (dst: Uint8Array, at: number) => Promise<void>): Promise<Float32Array> {
    if (t.dtype === 'F32') {
      const out = new Float32Array(count);
      const bytes = new Uint8Array(out.buffer);
      await fill(bytes, 0);
      const f = HOST_LITTLE_ENDIAN ? out : toFloat32(bytes, 'F32');
      this.#checkFinite(t, countNonFiniteF32(f));
      return f;
    }
    if ((t.dtype === 'BF16' || t.dtype === 'F16') && HOST_LITTLE_ENDIAN) {
      const out = new Float32Array(count);
      const bits = new Uint32Array(out.buffer);
      await fill(new Uint8Array(out.buffer), count * 2);
      const src = new Uint16Array(out.buffer, count * 2, count);
      this.#checkFinite(t, t.dtype === 'BF16' ? bf16ToF32Bits(src, bits, count) : f16ToF32Bits(src, bits, count));
      return out;
    }
    const raw = allocBytes(count * (t.dtype === 'F64' ? 8 : 2));
    await fill(raw, 0);
    // Counted after conversion: a finite F64 beyond the f32 range becomes ±Inf here.
    const f = toFloat32(raw, t.dtype);
    this.#checkFinite(t, countNonFiniteF32(f));
    return f;
  }

  /**
   * Reads the requested rows into `dst` starting at byte `at`. Rows are visited in file order and
   * grouped into spans (nearby rows, small gaps read and discarded), so a scattered keep-list costs
   * a few large reads instead of one syscall per row. A span whose rows land consecutively in the
   * output (a sorted keep-list) is read straight into `dst`; others go through a scratch buffer.
   */
  async #gatherRows(t: TensorInfo, rows: ArrayLike<number>, dst: Uint8Array, at: number): Promise<void> {
    const n = rows.length;
    if (n === 0) return;
    const rowBytes = t.byteLength / t.shape[0]!;
    if (rowBytes === 0) return;
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => rows[a]! - rows[b]! || a - b);
    const gapRows = Math.floor(ROW_GAP_BYTES / rowBytes);
    const maxSpanRows = Math.max(1, Math.floor(ROW_SPAN_BYTES / rowBytes));
    const spans: [first: number, last: number][] = []; // ranges of `order`
    for (let k = 0; k < n; ) {
      const rowStart = rows[order[k]!]!;
      let rowEnd = rowStart + 1;
      let j = k + 1;
      while (j < n) {
        const r = rows[order[j]!]!;
        if (r - rowEnd > gapRows || Math.max(rowEnd, r + 1) - rowStart > maxSpanRows) break;
        rowEnd = Math.max(rowEnd, r + 1);
        j++;
      }
      spans.push([k, j]);
      k = j;
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      let scratch: Uint8Array = new Uint8Array(0);
      while (next < spans.length) {
        const [first, last] = spans[next++]!;
        const rowStart = rows[order[first]!]!;
        const rowEnd = rows[order[last - 1]!]! + 1;
        const position = t.offset + rowStart * rowBytes;
        let direct = rowEnd - rowStart === last - first;
        for (let k = first + 1; direct && k < last; k++) direct = order[k] === order[k - 1]! + 1;
        if (direct) {
          await this.#read(t, dst, at + order[first]! * rowBytes, (last - first) * rowBytes, position);
          continue;
        }
        const spanBytes = (rowEnd - rowStart) * rowBytes;
        if (scratch.length < spanBytes) scratch = allocBytes(spanBytes);
        await this.#read(t, scratch, 0, spanBytes, position);
        for (let k = first; k < last; k++) {
          const i = order[k]!;
          const from = (rows[i]! - rowStart) * rowBytes;
          dst.set(scratch.subarray(from, from + rowBytes), at + i * rowBytes);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(ROW_READ_CONCURRENCY, spans.length) }, worker));
  }

  async #read(t: TensorInfo, dst: Uint8Array, dstOffset: number, length: number, position: number): Promise<void> {
    if (length === 0) return;
    const fh = await this.#handle(t.file);
    await readFully(fh, dst, dstOffset, length, position, this.#label(t));
  }

  #handle(file: string): Promise<FileHandle> {
    if (this.#closed) throw new Error(`checkpoint ${this.dir} is closed`);
    let h = this.#handles.get(file);
    if (!h) {
      h = this.#openChecked(file);
      this.#handles.set(file, h);
      // A failed open must not be cached, so a later read reports the problem afresh.
      h.catch(() => this.#handles.delete(file));
    }
    return h;
  }

  /** Offsets were validated against the size seen at open time; a file that changed since is refused. */
  async #openChecked(file: string): Promise<FileHandle> {
    const label = path.join(this.dir, path.relative(this.absDir, file));
    let fh: FileHandle;
    try {
      fh = await fsp.open(file, 'r');
    } catch (e) {
      throw new CompactError(`${label}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const size = (await fh.stat()).size;
    if (size !== this.#sizes.get(file)) {
      await fh.close();
      throw new CompactError(`${label}: file changed on disk since it was opened (${this.#sizes.get(file)} → ${size} bytes)`);
    }
    return fh;
  }

  /**
   * Weights with NaN or ±Inf make every score computed from them NaN, and a NaN ranking silently
   * keeps channels 0…I′−1: refuse them where they are read, naming file, tensor and count.
   */
  #checkFinite(t: TensorInfo, nonFinite: number): void {
    if (nonFinite > 0) {
      throw new CompactError(`${this.#label(t)}: tensor "${t.name}" has ${nonFinite} non-finite value${nonFinite === 1 ? '' : 's'} (NaN or ±Inf); compact does not use broken weights`);
    }
  }

  #label(t: TensorInfo): string {
    return path.join(this.dir, path.relative(this.absDir, t.file));
  }
}
