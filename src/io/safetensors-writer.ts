/**
 * Writing safetensors checkpoints the way Hugging Face does: one `model.safetensors`, or
 * `model-0000K-of-0000N.safetensors` shards plus `model.safetensors.index.json`.
 *
 * Entries are produced and written one at a time (`bytes()` is called only when its turn comes and
 * the result is dropped after writing), so peak memory is one tensor even for models larger than
 * RAM. The shard plan depends only on names, dtypes and shapes, so it is fixed before any tensor
 * is produced.
 *
 * Determinism: tensors are ordered by name (code-unit order) both for shard assignment and within
 * each file, offsets are contiguous, and the header is `{"__metadata__":{"format":"pt"}, …}` padded
 * with spaces to a multiple of 8 bytes. The same entries therefore give byte-identical files.
 */
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CompactError } from '../errors.ts';
import { DTYPE_SIZE, isDType, type DType } from './dtype.ts';
import { INDEX_FILE, SINGLE_FILE } from './safetensors.ts';

export interface WriteEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Little-endian bytes of the tensor; called once, when the entry is written. */
  bytes: () => Promise<Uint8Array> | Uint8Array;
}

export interface WriteOptions {
  /** Largest shard in bytes of tensor data (headers excluded, as in transformers). Default 5e9. */
  maxShardBytes?: number;
}

export interface WriteResult {
  /** Names of the files written, relative to the output folder, shards first then the index. */
  files: string[];
}

export const DEFAULT_MAX_SHARD_BYTES = 5e9;

const MAX_WRITE_CHUNK = 1 << 30;

interface Planned {
  entry: WriteEntry;
  byteLength: number;
}

export async function writeCheckpoint(dir: string, entries: WriteEntry[], opts: WriteOptions = {}): Promise<WriteResult> {
  const maxShardBytes = opts.maxShardBytes ?? DEFAULT_MAX_SHARD_BYTES;
  if (!(Number.isSafeInteger(maxShardBytes) && maxShardBytes > 0)) {
    throw new RangeError(`maxShardBytes must be a positive integer, got ${maxShardBytes}`);
  }
  const planned = validate(entries);
  const shards = planShards(planned, maxShardBytes);
  await fsp.mkdir(dir, { recursive: true });

  const names = shards.length === 1 ? [SINGLE_FILE] : shards.map((_, i) => shardName(i + 1, shards.length));
  for (let i = 0; i < shards.length; i++) await writeShard(path.join(dir, names[i]!), shards[i]!);
  if (shards.length === 1) return { files: names };

  const mapped: [string, string][] = [];
  let total = 0;
  shards.forEach((shard, i) => {
    for (const p of shard) {
      mapped.push([p.entry.name, names[i]!]);
      total += p.byteLength;
    }
  });
  mapped.sort((a, b) => (a[0] < b[0] ? -1 : 1));
  // transformers writes json.dumps(index, indent=2, sort_keys=True) + "\n"; written by hand so
  // integer-like tensor names keep their sorted place (see encodeHeader).
  const lines = mapped.map(([k, f]) => `    ${JSON.stringify(k)}: ${JSON.stringify(f)}`);
  const index =
    `{\n  "metadata": {\n    "total_size": ${total}\n  },\n  "weight_map": {\n${lines.join(',\n')}\n  }\n}\n`;
  await fsp.writeFile(path.join(dir, INDEX_FILE), index);
  return { files: [...names, INDEX_FILE] };
}

export function shardName(k: number, n: number): string {
  const pad = (x: number) => String(x).padStart(5, '0');
  return `model-${pad(k)}-of-${pad(n)}.safetensors`;
}

function validate(entries: WriteEntry[]): Planned[] {
  const seen = new Set<string>();
  const out: Planned[] = [];
  for (const entry of entries) {
    const { name, dtype, shape } = entry;
    if (typeof name !== 'string' || name === '' || name === '__metadata__') {
      throw new CompactError(`cannot write a tensor named ${JSON.stringify(name)}`);
    }
    if (seen.has(name)) throw new CompactError(`tensor "${name}" is given twice to the checkpoint writer`);
    seen.add(name);
    if (!isDType(dtype)) throw new CompactError(`tensor "${name}": unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new CompactError(`tensor "${name}": shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    let n = BigInt(DTYPE_SIZE[dtype]);
    for (const d of shape) n *= BigInt(d);
    if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new CompactError(`tensor "${name}": ${n} bytes is too large`);
    out.push({ entry, byteLength: Number(n) });
  }
  return out.sort((a, b) => (a.entry.name < b.entry.name ? -1 : a.entry.name > b.entry.name ? 1 : 0));
}

/** Greedy, in name order, like transformers: a new shard starts when the next tensor would overflow. */
function planShards(planned: Planned[], maxShardBytes: number): Planned[][] {
  const shards: Planned[][] = [[]];
  let size = 0;
  for (const p of planned) {
    const cur = shards[shards.length - 1]!;
    if (cur.length > 0 && size + p.byteLength > maxShardBytes) {
      shards.push([p]);
      size = p.byteLength;
    } else {
      cur.push(p);
      size += p.byteLength;
    }
  }
  return shards;
}

/** Header bytes (length prefix included) for tensors laid out contiguously in the given order. */
export function encodeHeader(tensors: { name: string; dtype: DType; shape: number[]; byteLength: number }[]): Uint8Array {
  // Built by hand rather than from an object: JS objects enumerate integer-like keys first, which
  // would move a tensor named "0" ahead of __metadata__ and out of name order.
  const parts = ['"__metadata__":{"format":"pt"}'];
  let offset = 0;
  for (const t of tensors) {
    const info = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.byteLength] };
    parts.push(`${JSON.stringify(t.name)}:${JSON.stringify(info)}`);
    offset += t.byteLength;
  }
  const json = Buffer.from(`{${parts.join(',')}}`, 'utf8');
  // Padding keeps the data area 8-byte aligned, as the reference Rust implementation does.
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded).fill(0x20, 8);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

async function writeShard(file: string, shard: Planned[]): Promise<void> {
  const header = encodeHeader(shard.map((p) => ({ ...p.entry, byteLength: p.byteLength })));
  const fh = await fsp.open(file, 'w');
  try {
    let pos = await writeFully(fh, header, 0);
    for (const p of shard) {
      const bytes = await p.entry.bytes();
      if (!(bytes instanceof Uint8Array)) {
        throw new CompactError(`${path.basename(file)}: tensor "${p.entry.name}" produced no byte array`);
      }
      if (bytes.byteLength !== p.byteLength) {
        throw new CompactError(
          `${path.basename(file)}: tensor "${p.entry.name}" produced ${bytes.byteLength} bytes but shape ` +
            `[${p.entry.shape.join(', ')}] × ${p.entry.dtype} needs ${p.byteLength}`,
        );
      }
      pos = await writeFully(fh, bytes, pos);
    }
  } finally {
    await fh.close();
  }
}

/** FileHandle.write may write less than asked; loop, in chunks a single syscall can take. */
async function writeFully(fh: FileHandle, bytes: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < bytes.byteLength) {
    const want = Math.min(bytes.byteLength - done, MAX_WRITE_CHUNK);
    const { bytesWritten } = await fh.write(bytes, done, want, position + done);
    done += bytesWritten;
  }
  return position + done;
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/**
 * `--max-shard-size`: "5GB" (decimal, as transformers reads it), "500MB", "2GiB" (binary), a bare
 * byte count, or a number. Units are case-insensitive.
 */
export function parseMaxShardSize(value: string | number): number {
  const bad = () =>
    new CompactError(`--max-shard-size: cannot read ${JSON.stringify(value)} (use e.g. 5GB, 500MB, 2GiB or a byte count)`);
  let bytes: number;
  if (typeof value === 'number') {
    bytes = value;
  } else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
    if (!m) throw bad();
    const unit = m[2] === '' ? 1 : SIZE_UNITS[m[2]!.toLowerCase()];
    if (unit === undefined) throw bad();
    bytes = Math.floor(Number(m[1]) * unit);
  }
  if (!Number.isFinite(bytes) || bytes < 1 || !Number.isSafeInteger(Math.floor(bytes))) throw bad();
  return Math.floor(bytes);
}
