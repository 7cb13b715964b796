/**
 * Remaps token ids stored outside tokenizer.json after vocabulary pruning:
 *  - config.json / generation_config.json: `bos_token_id`, `eos_token_id`, `pad_token_id`,
 *    `decoder_start_token_id`, `sep_token_id`, … — every key ending in `_token_id`, `_token_ids` or
 *    `_token_index` (Gemma 3's `image_token_index`), as an int, null or an array of ints, at any
 *    nesting level (`text_config`);
 *  - generation_config.json: `suppress_tokens` / `begin_suppress_tokens` (removed ids are simply
 *    dropped: a removed token can never be generated) and `bad_words_ids` (sequences containing a
 *    removed id are dropped);
 *  - tokenizer_config.json: `added_tokens_decoder`, keyed by id strings, re-keyed by new id.
 * Special tokens are always kept by vocab-select.ts, so a removed special id means the inputs
 * disagree with each other: that is a one-line error naming the file and the key.
 * Returns a new object; the input is not mutated and key order is preserved.
 */
import { isJsonObject } from '../json-text.ts';
import { CompactError } from '../errors.ts';

type Json = unknown;
const ID_KEY = /_token_ids?$|_token_index$/;
const MAX_DEPTH = 64;

export function remapSpecialIds<T>(obj: T, oldToNew: Int32Array, file: string): T {
  return remap(obj, oldToNew, file, '', 0) as T;
}

function remap(value: Json, oldToNew: Int32Array, file: string, path: string, depth: number): Json {
  if (typeof value !== 'object' || value === null) return value;
  if (depth > MAX_DEPTH) throw new CompactError(`${file}: JSON nested deeper than ${MAX_DEPTH} levels at ${path}`);
  if (Array.isArray(value)) return value.map((v, i) => remap(v, oldToNew, file, `${path}[${i}]`, depth + 1));
  const src = value as Record<string, Json>;
  const out: Record<string, Json> = {};
  for (const key of Object.keys(src)) {
    const v = src[key];
    const where = path === '' ? key : `${path}.${key}`;
    if (ID_KEY.test(key)) out[key] = remapIdValue(v, oldToNew, file, where);
    else if (key === 'suppress_tokens' || key === 'begin_suppress_tokens') out[key] = dropRemoved(v, oldToNew);
    else if (key === 'bad_words_ids' && Array.isArray(v)) {
      out[key] = v.filter((seq) => !Array.isArray(seq) || seq.every((id) => mapId(id, oldToNew) !== -1))
        .map((seq) => (Array.isArray(seq) ? seq.map((id) => mapId(id, oldToNew)) : seq));
    } else if (key === 'added_tokens_decoder' && isJsonObject(v)) {
      out[key] = rekeyAddedTokens(v as Record<string, Json>, oldToNew, file, where);
    } else out[key] = remap(v, oldToNew, file, where, depth + 1);
  }
  return out;
}

/** New id, −1 if removed or out of range; non-ids (negative "unset" markers) pass through as NaN. */
function mapId(id: Json, oldToNew: Int32Array): number {
  if (typeof id !== 'number' || !Number.isInteger(id)) return Number.NaN;
  if (id < 0) return id; // e.g. pad_token_id: -1 means "none" in some configs
  return id < oldToNew.length ? oldToNew[id]! : -1;
}

function remapIdValue(v: Json, oldToNew: Int32Array, file: string, where: string): Json {
  const one = (id: Json, at: string): Json => {
    if (typeof id !== 'number') return id; // null or a non-id value: not ours to judge
    const n = mapId(id, oldToNew);
    if (Number.isNaN(n)) return id;
    if (id >= 0 && n < 0) {
      throw new CompactError(`${file}: ${at} = ${id} refers to a token removed from (or absent in) the pruned tokenizer`);
    }
    return n;
  };
  return Array.isArray(v) ? v.map((id, i) => one(id, `${where}[${i}]`)) : one(v, where);
}

function dropRemoved(v: Json, oldToNew: Int32Array): Json {
  if (!Array.isArray(v)) return v;
  const out: Json[] = [];
  for (const id of v) {
    const n = mapId(id, oldToNew);
    if (Number.isNaN(n)) out.push(id);
    else if (n !== -1) out.push(n);
  }
  return out;
}

/**
 * Re-keys `added_tokens_decoder`. JS objects enumerate integer-like keys in ascending numeric
 * order, which is exactly the "sorted by new id" order transformers writes.
 */
function rekeyAddedTokens(src: Record<string, Json>, oldToNew: Int32Array, file: string, where: string): Json {
  const out: Record<string, Json> = {};
  for (const key of Object.keys(src)) {
    const old = /^\d+$/.test(key) ? Number(key) : Number.NaN;
    const n = Number.isNaN(old) ? -1 : mapId(old, oldToNew);
    if (n < 0) {
      throw new CompactError(`${file}: ${where}[${JSON.stringify(key)}] is not a token of the pruned tokenizer`);
    }
    out[String(n)] = src[key];
  }
  return out;
}

/** Every token id the remapper would touch in `obj` (so they can be kept whatever the budget). */
export function referencedIds(obj: unknown, depth = 0): number[] {
  if (typeof obj !== 'object' || obj === null || depth > MAX_DEPTH) return [];
  const out: number[] = [];
  for (const [k, v] of Object.entries(obj)) {
    if (ID_KEY.test(k)) {
      for (const x of Array.isArray(v) ? v.flat(2) : [v]) if (typeof x === 'number' && Number.isInteger(x)) out.push(x);
    } else if (typeof v === 'object') {
      out.push(...referencedIds(v, depth + 1));
    }
  }
  return out;
}
