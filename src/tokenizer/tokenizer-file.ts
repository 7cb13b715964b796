/**
 * Reading and writing Hugging Face `tokenizer.json` files for vocabulary surgery.
 *
 * Only BPE models are supported: COMPACT's "drop the rarest tokens" rule relies on BPE's property
 * that removing a token and every merge touching it leaves a valid, still lossless tokenizer, as long
 * as the byte alphabet survives. Two BPE flavours guarantee that every string stays encodable:
 *  - `byte-level` (GPT-2, Llama 3, Qwen): text is mapped to 256 printable "byte" characters first,
 *    so the 256 single-character tokens cover everything;
 *  - `byte-fallback` (SentencePiece-style: Llama 2, Mistral, Gemma 3): unknown pieces become
 *    `<0x00>`…`<0xFF>` tokens.
 * Anything else (Unigram, WordPiece, WordLevel, BPE with an `<unk>` and no fallback) cannot be
 * pruned without making some text unencodable, and is refused with a one-line error.
 *
 * No tokenizer library writes tokenizer.json, so we edit the parsed JSON ourselves and serialize it
 * exactly as the Rust `tokenizers` crate does (serde_json pretty printing, vocab in id order).
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { CompactError } from '../errors.ts';
import { isJsonObject, parseJson } from '../json-text.ts';

export type BpeFlavour = 'byte-level' | 'byte-fallback';
/** `"a b"` strings (older files, Llama 3) or `["a", "b"]` pairs (newer files, Qwen, Gemma). */
export type MergeEncoding = 'string' | 'pair';
export type JsonObject = Record<string, unknown>;

export interface AddedTokenJson {
  id: number;
  content: string;
  special: boolean;
  [key: string]: unknown;
}

export interface TokenizerFile {
  /** Name used in error messages (the file's base name). */
  readonly file: string;
  /** The parsed document itself (not a copy; treat as read-only). */
  readonly json: JsonObject;
  readonly flavour: BpeFlavour;
  /** `model.vocab`: token string → id. */
  readonly vocab: Readonly<Record<string, number>>;
  /** id → token string for every id in the vocab or the added tokens; `undefined` for holes. */
  readonly idToToken: ReadonlyArray<string | undefined>;
  /** Max id + 1 over vocab and added tokens (what Rust `get_vocab_size(true)` reports for dense files). */
  readonly size: number;
  /** Merges decoded to pairs, in rank order. */
  readonly merges: ReadonlyArray<readonly [string, string]>;
  readonly mergeEncoding: MergeEncoding;
  readonly addedTokens: ReadonlyArray<AddedTokenJson>;
  /** `model.unk_token` or null. */
  readonly unkToken: string | null;
  /** `model.continuing_subword_prefix` ('' when absent): merge results drop it from the right part. */
  readonly continuingSubwordPrefix: string;
}

/** Real tokenizer.json files nest about 8 levels; anything far deeper is not a tokenizer file. */
export const MAX_JSON_DEPTH = 64;

/**
 * Ids index arrays sized max id + 1 (here and in every step after), so they are bounded: far
 * above any real vocabulary (Gemma 3's 262,144 is the largest we know), far below sizes that
 * would exhaust memory or stop being array indices (2^32 − 1 and up are plain property keys).
 */
export const MAX_TOKEN_ID = 2 ** 24 - 1;

function isTokenId(v: unknown): v is number {
  return Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_TOKEN_ID;
}

const SUPPORTED = 'supported: BPE with a byte-level pre-tokenizer/decoder (GPT-2, Llama 3, Qwen) or byte_fallback (Llama 2, Mistral, Gemma)';

/** Reads and validates a tokenizer.json file. */
export function readTokenizerFile(path: string): TokenizerFile {
  const file = basename(path);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CompactError(`${path}: cannot read tokenizer file (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  return parseTokenizerJson(text, file);
}

/** Parses tokenizer.json text; `file` names it in error messages. */
export function parseTokenizerJson(text: string, file = 'tokenizer.json'): TokenizerFile {
  return tokenizerFromJson(parseJsonGuarded(text, file), file);
}

/** JSON.parse with a nesting-depth guard sized for tokenizer files (see `parseJson`). */
export function parseJsonGuarded(text: string, file: string, maxDepth = MAX_JSON_DEPTH): unknown {
  return parseJson(text, file, maxDepth);
}

const isObject = isJsonObject;

/** Depth-first list of every component object of a (possibly `Sequence`-nested) pipeline step. */
export function components(step: unknown): JsonObject[] {
  const out: JsonObject[] = [];
  const walk = (s: unknown, depth: number): void => {
    if (!isObject(s) || depth > MAX_JSON_DEPTH) return;
    out.push(s);
    for (const key of ['pretokenizers', 'decoders', 'normalizers', 'processors']) {
      const list = s[key];
      if (Array.isArray(list)) for (const x of list) walk(x, depth + 1);
    }
  };
  walk(step, 0);
  return out;
}

/** Validates an already parsed tokenizer.json document. */
export function tokenizerFromJson(json: unknown, file = 'tokenizer.json'): TokenizerFile {
  if (!isObject(json)) throw new CompactError(`${file}: not a tokenizer.json (top level is not an object)`);
  const model = json.model;
  if (!isObject(model)) throw new CompactError(`${file}: missing "model" object`);
  const type = model.type ?? (isObject(model.vocab) && model.merges !== undefined ? 'BPE' : undefined);
  if (type !== 'BPE') {
    throw new CompactError(`${file}: tokenizer model type ${JSON.stringify(type ?? null)} is not supported (${SUPPORTED})`);
  }
  const vocab = model.vocab;
  if (!isObject(vocab)) throw new CompactError(`${file}: missing model.vocab`);

  const idToToken: (string | undefined)[] = [];
  for (const token in vocab) {
    const id = vocab[token];
    if (!isTokenId(id)) {
      throw new CompactError(`${file}: model.vocab[${JSON.stringify(token)}] is not an integer id in [0, ${MAX_TOKEN_ID}]`);
    }
    if (idToToken[id as number] !== undefined) {
      throw new CompactError(`${file}: model.vocab id ${id} is used by both ${JSON.stringify(idToToken[id as number])} and ${JSON.stringify(token)}`);
    }
    idToToken[id as number] = token;
  }

  const addedRaw = json.added_tokens ?? [];
  if (!Array.isArray(addedRaw)) throw new CompactError(`${file}: "added_tokens" is not an array`);
  const addedTokens: AddedTokenJson[] = [];
  for (const [i, t] of addedRaw.entries()) {
    if (!isObject(t) || !isTokenId(t.id) || typeof t.content !== 'string') {
      throw new CompactError(`${file}: added_tokens[${i}] needs an integer "id" in [0, ${MAX_TOKEN_ID}] and a string "content"`);
    }
    const id = t.id as number;
    const prior = idToToken[id];
    if (prior !== undefined && prior !== t.content) {
      throw new CompactError(`${file}: added token ${JSON.stringify(t.content)} has id ${id}, which model.vocab gives to ${JSON.stringify(prior)}`);
    }
    if (vocab[t.content] !== undefined && vocab[t.content] !== id) {
      throw new CompactError(`${file}: added token ${JSON.stringify(t.content)} has id ${id} but model.vocab says ${vocab[t.content]}`);
    }
    idToToken[id] = t.content;
    addedTokens.push(t as AddedTokenJson);
  }

  const mergesRaw = model.merges ?? [];
  if (!Array.isArray(mergesRaw)) throw new CompactError(`${file}: model.merges is not an array`);
  let mergeEncoding: MergeEncoding = 'pair';
  const merges: [string, string][] = new Array(mergesRaw.length);
  for (let i = 0; i < mergesRaw.length; i++) {
    const m = mergesRaw[i];
    if (typeof m === 'string') {
      mergeEncoding = 'string';
      // Split on the single ASCII space, as the Rust loader does; tokens containing spaces need the
      // pair encoding (SentencePiece uses "▁" and byte-level uses "Ġ", so real files never do).
      const sp = m.indexOf(' ');
      if (sp < 0 || m.indexOf(' ', sp + 1) >= 0) {
        throw new CompactError(`${file}: model.merges[${i}] ${JSON.stringify(m)} is not two space-separated tokens`);
      }
      merges[i] = [m.slice(0, sp), m.slice(sp + 1)];
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === 'string' && typeof m[1] === 'string') {
      merges[i] = [m[0], m[1]];
    } else {
      throw new CompactError(`${file}: model.merges[${i}] is neither "a b" nor ["a", "b"]`);
    }
  }

  const unkToken = typeof model.unk_token === 'string' ? model.unk_token : null;
  const prefix = typeof model.continuing_subword_prefix === 'string' ? model.continuing_subword_prefix : '';
  const byteLevel = [...components(json.pre_tokenizer), ...components(json.decoder)].some((c) => c.type === 'ByteLevel');
  const byteFallback = model.byte_fallback === true;
  let flavour: BpeFlavour;
  if (byteFallback) flavour = 'byte-fallback';
  else if (byteLevel) flavour = 'byte-level';
  else {
    throw new CompactError(`${file}: BPE without byte-level pre-tokenizer or byte_fallback cannot be pruned losslessly (${SUPPORTED})`);
  }

  return {
    file,
    json,
    flavour,
    vocab: vocab as Record<string, number>,
    idToToken,
    size: idToToken.length,
    merges,
    mergeEncoding,
    addedTokens,
    unkToken,
    continuingSubwordPrefix: prefix,
  };
}

/** The token a merge produces, computed as the Rust loader does (it must exist in the vocab). */
export function mergeResult(left: string, right: string, continuingSubwordPrefix: string): string {
  return left + right.slice(continuingSubwordPrefix.length);
}

/**
 * GPT-2's byte → printable character table used by every byte-level BPE: printable Latin-1
 * bytes map to themselves, the other 68 bytes to U+0100 onwards (so space is "Ġ", \n is "Ċ").
 */
export function byteLevelAlphabet(): string[] {
  const printable = (b: number): boolean => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = new Array(256);
  let next = 256;
  for (let b = 0; b < 256; b++) out[b] = String.fromCodePoint(printable(b) ? b : next++);
  return out;
}

/** `<0x00>` … `<0xFF>`: the byte_fallback pieces. */
export function byteFallbackPieces(): string[] {
  return Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
}

/**
 * Serializes a tokenizer.json document byte-for-byte as the Rust crate saves it (2-space indent,
 * no trailing newline), with `model.vocab` written in id order. JS objects enumerate integer-like
 * keys ("0", "1", …) first, so the vocab cannot be left to JSON.stringify.
 */
export function serializeTokenizerJson(json: JsonObject): string {
  const model = json.model;
  if (!isObject(model) || !isObject(model.vocab)) return JSON.stringify(json, null, 2);
  const vocab = model.vocab as Record<string, number>;
  const entries = Object.entries(vocab);
  entries.sort((a, b) => a[1] - b[1]);
  const placeholder = `\u0000vocab-placeholder-${entries.length}\u0000`;
  const text = JSON.stringify({ ...json, model: { ...model, vocab: placeholder } }, null, 2);
  const block = entries.length === 0
    ? '{}'
    : `{\n${entries.map(([k, id]) => `      ${JSON.stringify(k)}: ${id}`).join(',\n')}\n    }`;
  // The placeholder is JSON-escaped by stringify; replace that exact quoted form once.
  return text.replace(JSON.stringify(placeholder), () => block);
}
