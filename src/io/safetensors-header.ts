/**
 * Parsing and validation of one safetensors header. Kept apart from the reader so the rules a
 * file must satisfy are in one place; everything here is synchronous and works on bytes already
 * read, so it can be tested without files.
 *
 * Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the data area. Each
 * tensor's `data_offsets` are relative to the start of the data area.
 */
import { CompactError } from '../errors.ts';
import { DTYPE_SIZE, isDType, type DType } from './dtype.ts';

/** Headers of real checkpoints are a few hundred KB; anything this large is corrupt or hostile. */
export const MAX_HEADER_BYTES = 100_000_000;

/** safetensors headers nest 3 deep; a bound keeps a hostile file from exhausting the stack. */
const MAX_JSON_DEPTH = 64;

export interface HeaderTensor {
  name: string;
  dtype: DType;
  shape: number[];
  /** Relative to the start of the data area. */
  begin: number;
  end: number;
}

export interface ParsedHeader {
  metadata: Record<string, string>;
  tensors: HeaderTensor[];
  /** Absolute offset of the data area in the file (8 + header length). */
  dataStart: number;
}

/** Validates the 8-byte length prefix; returns the header length. */
export function headerLength(prefix: Uint8Array, fileSize: number, label: string): number {
  if (fileSize < 8) {
    throw new CompactError(`${label}: file is ${fileSize} bytes, too short for a safetensors header`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new CompactError(
      `${label}: header length ${n} is over the ${MAX_HEADER_BYTES}-byte bound (corrupt or not a safetensors file)`,
    );
  }
  if (n > BigInt(fileSize - 8)) {
    throw new CompactError(`${label}: header length ${n} goes beyond the end of the file (${fileSize} bytes; truncated?)`);
  }
  if (n < 2n) throw new CompactError(`${label}: header length ${n} is too short for a JSON object`);
  return Number(n);
}

/**
 * One pass over JSON text that checks nesting depth and returns the raw keys of the top-level
 * object, so duplicate tensor names (which JSON.parse silently collapses) can be reported.
 */
function scanJson(text: string, label: string, what: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let expectKey = false; // at depth 1, the next string is a key
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      const start = i;
      i++;
      while (i < text.length && text.charCodeAt(i) !== 0x22) {
        if (text.charCodeAt(i) === 0x5c /* \ */) i++;
        i++;
      }
      if (depth === 1 && expectKey) {
        keys.push(text.slice(start, i + 1));
        expectKey = false;
      }
    } else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      depth++;
      if (depth > MAX_JSON_DEPTH) throw new CompactError(`${label}: ${what} JSON nests deeper than ${MAX_JSON_DEPTH} levels`);
      if (depth === 1) expectKey = c === 0x7b;
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) {
      depth--;
    } else if (c === 0x2c /* , */ && depth === 1) {
      expectKey = true;
    }
  }
  return keys;
}

/** Parses JSON from UTF-8 bytes into a plain object, or throws a CompactError naming `label`. */
export function parseJsonObject(bytes: Uint8Array, label: string, what: string): { obj: Record<string, unknown>; keys: string[] } {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CompactError(`${label}: ${what} is not valid UTF-8`);
  }
  const rawKeys = scanJson(text, label, what);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CompactError(`${label}: malformed ${what} JSON (${(e as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CompactError(`${label}: ${what} JSON is not an object`);
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  if (rawKeys.length !== keys.length) {
    const seen = new Set<string>();
    for (const raw of rawKeys) {
      const k = JSON.parse(raw) as string;
      if (seen.has(k)) throw new CompactError(`${label}: ${what} lists "${k}" twice`);
      seen.add(k);
    }
  }
  return { obj, keys };
}

function isNonNegativeSafeInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Validates a parsed header against the data area size (file size − 8 − header length). */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, label: string): ParsedHeader {
  const dataStart = 8 + headerBytes.length;
  const dataSize = fileSize - dataStart;
  const { obj, keys } = parseJsonObject(headerBytes, label, 'header');
  let metadata: Record<string, string> = {};
  const tensors: HeaderTensor[] = [];
  for (const name of keys) {
    const entry = obj[name];
    if (name === '__metadata__') {
      metadata = parseMetadata(entry, label);
      continue;
    }
    const where = `${label}: tensor "${name}"`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      throw new CompactError(`${where} has no {dtype, shape, data_offsets} entry`);
    }
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDType(dtype)) {
      throw new CompactError(`${where} has unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_SIZE).join(', ')})`);
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegativeSafeInt)) {
      throw new CompactError(`${where} has shape ${JSON.stringify(shape)}, not a list of non-negative integers`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeSafeInt)) {
      throw new CompactError(`${where} has data_offsets ${JSON.stringify(offsets)}, not two non-negative integers`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end) throw new CompactError(`${where} has data_offsets [${begin}, ${end}] that run backwards`);
    if (end > dataSize) {
      throw new CompactError(`${where} ends at byte ${end} beyond the data area (${dataSize} bytes)`);
    }
    // BigInt: a hostile shape can overflow doubles long before the comparison would catch it.
    let expected = BigInt(DTYPE_SIZE[dtype]);
    for (const d of shape as number[]) expected *= BigInt(d);
    if (expected !== BigInt(end - begin)) {
      throw new CompactError(
        `${where}: shape [${(shape as number[]).join(', ')}] × ${dtype} is ${expected} bytes but data_offsets span ${end - begin}`,
      );
    }
    tensors.push({ name, dtype, shape: shape as number[], begin, end });
  }
  checkNoOverlap(tensors, label);
  return { metadata, tensors, dataStart };
}

function parseMetadata(entry: unknown, label: string): Record<string, string> {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
    throw new CompactError(`${label}: __metadata__ is not an object`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(entry)) {
    if (typeof v !== 'string') throw new CompactError(`${label}: __metadata__ "${k}" is not a string`);
    out[k] = v;
  }
  return out;
}

/** Overlapping tensors would alias each other's bytes; gaps are harmless and tolerated. */
function checkNoOverlap(tensors: HeaderTensor[], label: string): void {
  const byBegin = tensors.filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < byBegin.length; i++) {
    const prev = byBegin[i - 1]!;
    const cur = byBegin[i]!;
    if (cur.begin < prev.end) {
      throw new CompactError(
        `${label}: tensor "${cur.name}" [${cur.begin}, ${cur.end}) overlaps tensor "${prev.name}" [${prev.begin}, ${prev.end})`,
      );
    }
  }
}
