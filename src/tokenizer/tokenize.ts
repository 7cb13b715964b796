/**
 * Text ⇄ ids for calibration and evaluation, on `@huggingface/tokenizers` (pure JS).
 *
 * - No special tokens are added on encode: callers place BOS/EOS themselves (`streamStartId`).
 * - Decoding never "cleans up tokenization spaces" (transformers' legacy `" ."` → `"."` rewrite,
 *   on by default for Llama 3 / GPT-2 configs), so `decode(encode(x)) === x` holds exactly.
 * - Long texts are encoded in chunks cut only where the result provably cannot change (see
 *   `chunkPlan`): the JS BPE is much slower on one huge "word" (SentencePiece-style tokenizers
 *   have no pre-tokenizer, so a whole file is one word) and chunks bound memory.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { CompactError } from '../errors.ts';
import { readJsonObject } from '../json-text.ts';
import { components, MAX_JSON_DEPTH, type JsonObject } from './tokenizer-file.ts';

export interface TextTokenizer {
  /** Ids of `text`, without BOS/EOS or any other added special token. */
  encode(text: string): Int32Array;
  /**
   * The first ids of `text`, at least `minTokens` of them when the text has that many (it may
   * return more): exactly a prefix of `encode(text)`, at the cost of encoding only about that much
   * text. Calibration needs the first 32k tokens of files that can be far longer.
   */
  encodePrefix(text: string, minTokens: number): Int32Array;
  /** Text of `ids`, special tokens included, without space clean-up. */
  decode(ids: ArrayLike<number>): string;
  /** Max id + 1 over the vocab and the added tokens. */
  readonly vocabSize: number;
  readonly bosId: number | null;
  readonly eosId: number | null;
  /** What starts a document in a token stream: BOS if the tokenizer/model has one, else EOS (GPT-2). */
  readonly streamStartId: number;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}

/** Loads tokenizer.json (+ tokenizer_config.json, config.json, generation_config.json if present) from a folder. */
export function loadTokenizer(dir: string): TextTokenizer {
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) throw new CompactError(`${path}: missing (a Hugging Face tokenizer.json is required)`);
  const json = readJson(path, 'tokenizer.json');
  const config = readJsonIfPresent(join(dir, 'tokenizer_config.json'), 'tokenizer_config.json');
  const modelConfig = {
    ...readJsonIfPresent(join(dir, 'generation_config.json'), 'generation_config.json'),
    ...readJsonIfPresent(join(dir, 'config.json'), 'config.json'),
  };
  return createTokenizer(json, config, { modelConfig });
}

const readJson = (path: string, file: string): JsonObject => readJsonObject(path, file, MAX_JSON_DEPTH);

function readJsonIfPresent(path: string, file: string): JsonObject {
  return existsSync(path) ? readJson(path, file) : {};
}

export interface CreateOptions {
  /** config.json / generation_config.json contents, consulted for bos/eos ids the tokenizer config lacks. */
  modelConfig?: JsonObject;
  /** Characters per encode call (a soft target; chunks end at the first safe cut after it). */
  chunkChars?: number;
  /** Longest chunk when only a prefix is encoded (encodePrefix); default 16 × chunkChars. */
  maxChunkChars?: number;
  /** Called with the characters of each encode call: lets tests bound the work a prefix costs. */
  onEncode?: (chars: number) => void;
  file?: string;
}

/** Builds a `TextTokenizer` from parsed tokenizer.json (and tokenizer_config.json) documents. */
export function createTokenizer(json: JsonObject, config: JsonObject = {}, opts: CreateOptions = {}): TextTokenizer {
  const file = opts.file ?? 'tokenizer.json';
  let tok: Tokenizer;
  try {
    tok = new Tokenizer(json, config);
  } catch (e) {
    throw new CompactError(`${file}: cannot be loaded by the tokenizer library (${(e as Error).message})`);
  }
  keepByteOrderMarks(tok.decoder);
  const plan = chunkPlan(json);
  const continuation = plan.continuationJson ? new Tokenizer(plan.continuationJson, config) : tok;
  const chunkChars = opts.chunkChars ?? 4096;

  const maxChunkChars = opts.maxChunkChars ?? 16 * chunkChars;
  const encodeOne = (t: Tokenizer, s: string, chars: number): number[] => {
    opts.onEncode?.(chars);
    return t.encode(s, { add_special_tokens: false }).ids;
  };
  /**
   * Chunk by chunk, cut at safe points: the concatenation is exactly the encoding of the whole
   * text. With `bounded` (a prefix of a long text is wanted), a chunk never grows past
   * `maxChunkChars`: without a safe newline in reach the cut falls before a word (" x"), or at
   * worst on a character boundary. Ids near such a cut may differ from whole-text encoding, which
   * calibration does not need; what it needs is that a 20 MB text on one line costs a few chunks,
   * not the whole file in the tokenizer.
   */
  const encodeChunks = function* (text: string, minTokens: number): Generator<number[]> {
    const bounded = Number.isFinite(minTokens);
    // A tokenizer that cannot be cut exactly gets one chunk large enough for the tokens wanted
    // (16 characters per token is far more than any real text needs), so the ids it returns
    // are those of whole-text encoding except near that one cut, well past the prefix used.
    const target = plan.splittable ? chunkChars : Math.max(maxChunkChars, 16 * minTokens);
    const limit = plan.splittable ? maxChunkChars : target + maxChunkChars;
    if ((!plan.splittable && !bounded) || text.length <= target) {
      yield encodeOne(tok, text, text.length);
      return;
    }
    let start = 0;
    const cut = plan.newlineAfterNonSpace ? /(?<=[^\s\u0085])\n(?=[^\s\u0085]| [^\s\u0085])/g : /\n(?=[^\s\u0085]| [^\s\u0085])/g;
    const word = /(?<=\S) (?=\S)/g;
    while (start < text.length) {
      let end = text.length;
      if (text.length - start > target) {
        if (!bounded) {
          cut.lastIndex = start + target;
          const m = cut.exec(text);
          if (m) end = m.index + 1; // the newline stays with the chunk before the cut
        } else {
          // Searched in a window only, so the search too is bounded.
          const from = start + target - 1;
          const window = text.slice(from, Math.min(text.length, start + limit + 1));
          const safe = plan.splittable ? ((cut.lastIndex = 1), cut.exec(window)) : null;
          word.lastIndex = 1;
          const w = safe ? null : word.exec(window);
          if (safe) end = from + safe.index + 1;
          else if (w) end = from + w.index;
          else if (start + limit < text.length) {
            end = start + limit;
            // Never between the halves of a surrogate pair.
            const c = text.charCodeAt(end - 1);
            if (c >= 0xd800 && c <= 0xdbff) end++;
          }
        }
      }
      yield encodeOne(start === 0 || !plan.splittable ? tok : continuation, text.slice(start, end), end - start);
      start = end;
    }
  };
  const encodeUpTo = (text: string, minTokens: number): Int32Array => {
    const parts: number[][] = [];
    let total = 0;
    for (const ids of encodeChunks(text, minTokens)) {
      parts.push(ids);
      total += ids.length;
      if (total >= minTokens) break;
    }
    const out = new Int32Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  const encode = (text: string): Int32Array => encodeUpTo(text, Infinity);

  const vocabSize = idCount(json);
  const idOf = (v: unknown): number | null => {
    const s = typeof v === 'string' ? v : (typeof v === 'object' && v !== null && typeof (v as JsonObject).content === 'string' ? (v as JsonObject).content as string : null);
    return s === null ? null : tok.token_to_id(s) ?? null;
  };
  const configId = (v: unknown): number | null => {
    const x = Array.isArray(v) ? v[0] : v;
    return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x < vocabSize ? x : null;
  };
  const mc = opts.modelConfig ?? {};
  const bosId = idOf(config.bos_token) ?? configId(mc.bos_token_id) ?? templateBos(json);
  const eosId = idOf(config.eos_token) ?? configId(mc.eos_token_id);
  const streamStartId = bosId ?? eosId;
  if (streamStartId === null) throw new CompactError(`${file}: the tokenizer defines neither a BOS nor an EOS token`);

  return {
    encode,
    encodePrefix: encodeUpTo,
    // (The library throws on an empty id list.)
    decode: (ids) => (ids.length === 0 ? '' : tok.decode(Array.from(ids), { skip_special_tokens: false, clean_up_tokenization_spaces: false })),
    vocabSize,
    bosId,
    eosId,
    streamStartId,
    tokenToId: (t) => tok.token_to_id(t),
    idToToken: (id) => tok.id_to_token(id),
  };
}

/**
 * @huggingface/tokenizers 0.2.0's ByteFallback decoder uses `new TextDecoder()`, which silently
 * drops a U+FEFF at the start of each run of byte tokens (Rust keeps it; the library's own
 * ByteLevel decoder passes `ignoreBOM: true`). Swap in a BOM-preserving decoder so that
 * `decode(encode(x)) === x` also holds for text containing U+FEFF once "\ufeff" is pruned away.
 */
function keepByteOrderMarks(decoder: unknown, depth = 0): void {
  // The library's components are callable objects (functions), hence no `typeof === 'object'` test.
  if (decoder === null || decoder === undefined || depth > 16) return;
  const d = decoder as { text_decoder?: unknown; decoders?: unknown };
  if (d.text_decoder instanceof TextDecoder && !d.text_decoder.ignoreBOM) {
    d.text_decoder = new TextDecoder(d.text_decoder.encoding, { fatal: d.text_decoder.fatal, ignoreBOM: true });
  }
  if (Array.isArray(d.decoders)) for (const x of d.decoders) keepByteOrderMarks(x, depth + 1);
}

/** The special token a TemplateProcessing post-processor puts first (Llama 2 / Mistral `<s>`, Gemma `<bos>`). */
function templateBos(json: JsonObject): number | null {
  for (const p of components(json.post_processor)) {
    if (p.type !== 'TemplateProcessing' || !Array.isArray(p.single)) continue;
    const first = p.single[0] as { SpecialToken?: { id?: unknown } } | undefined;
    const name = first?.SpecialToken?.id;
    const spec = typeof name === 'string' ? (p.special_tokens as Record<string, { ids?: unknown }> | undefined)?.[name] : undefined;
    if (Array.isArray(spec?.ids) && spec.ids.length === 1 && typeof spec.ids[0] === 'number') return spec.ids[0];
  }
  return null;
}

function idCount(json: JsonObject): number {
  const model = json.model as JsonObject | undefined;
  let n = 0;
  const vocab = model?.vocab;
  if (Array.isArray(vocab)) n = vocab.length; // Unigram: [[piece, score], …]
  else if (typeof vocab === 'object' && vocab !== null) {
    for (const id of Object.values(vocab as Record<string, number>)) if (id + 1 > n) n = id + 1;
  }
  for (const t of (json.added_tokens as JsonObject[] | undefined) ?? []) if ((t.id as number) + 1 > n) n = (t.id as number) + 1;
  return n;
}

/**
 * The Split regexes of Llama 3 and Qwen 2/2.5/3. With them (and with GPT-2's built-in ByteLevel
 * regex, see `newlineAfterNonSpace`) no pre-token spans a "\n" that is followed by a non-space, or
 * by one space and a non-space, and the pre-token ending at that "\n" does not depend on what
 * follows: `\s*[\r\n]+` and `[\r\n]*` take whitespace runs that end in newlines greedily, before
 * the look-ahead alternative `\s+(?!\S)` is tried, and no alternative looks behind.
 */
const BOUNDARY_SAFE_REGEXES = new Set([
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
]);

export interface ChunkPlan {
  /** True when cutting after "\n" before `[^\s]` or ` [^\s]` gives the same ids as whole-text encoding. */
  splittable: boolean;
  /**
   * Cut only where the "\n" follows a non-space. GPT-2's regex ends whitespace runs with
   * `\s+(?!\S)`, whose look-ahead sees the next chunk: in "a \n\nif" it splits " \n" + "\n", but at
   * a chunk's end it would take " \n\n" whole.
   */
  newlineAfterNonSpace: boolean;
  /** For a `Prepend` normalizer (Mistral's "▁"): the same tokenizer without it, for every chunk but the first. */
  continuationJson: JsonObject | null;
}

/**
 * Decides whether long texts may be encoded in chunks. A cut is safe when (1) the normalizer works
 * per character (NFC/NFKC/…, Replace of a plain string, Lowercase; Prepend only touches the start,
 * handled by a continuation tokenizer), (2) no added token could match across the cut and none
 * strips whitespace around itself, and (3) no pre-token or BPE merge can span the cut: either the
 * pre-tokenizer guarantees a boundary there (known regexes above), or no token in the vocab
 * contains a newline followed by anything but more whitespace (then merges cannot cross it).
 */
export function chunkPlan(json: JsonObject): ChunkPlan {
  const no: ChunkPlan = { splittable: false, continuationJson: null, newlineAfterNonSpace: false };
  const model = json.model as JsonObject | undefined;
  if (model?.type !== 'BPE' || (model.dropout !== null && model.dropout !== undefined)) return no;
  const vocab = model.vocab as Record<string, number> | undefined;
  if (typeof vocab !== 'object' || vocab === null) return no;

  let hasPrepend = false;
  for (const n of components(json.normalizer)) {
    const pattern = n.pattern as JsonObject | undefined;
    if (n.type === 'Sequence' || n.type === 'NFC' || n.type === 'NFD' || n.type === 'NFKC' || n.type === 'NFKD' || n.type === 'Lowercase') continue;
    if (n.type === 'Replace' && typeof pattern?.String === 'string' && pattern.String !== '' && !pattern.String.includes('\n')) continue;
    if (n.type === 'Prepend') { hasPrepend = true; continue; }
    return no;
  }

  // A newline followed by something a cut can precede ("x" or " x"; " " may be normalized to "▁").
  // Byte-level vocabularies spell "\n" as "Ċ" and whitespace as Ġ ĉ Ċ ċ Č č.
  const byteLevel = [...components(json.pre_tokenizer), ...components(json.decoder)].some((c) => c.type === 'ByteLevel');
  const crossesCut = byteLevel ? /\n(?:[^\s\u0085]| )|Ċ(?:[^ĉĊċČč])/ : /\n(?:[^\s\u0085]| )/;
  for (const t of (json.added_tokens as JsonObject[] | undefined) ?? []) {
    if (t.lstrip === true || t.rstrip === true || typeof t.content !== 'string' || crossesCut.test(t.content)) return no;
  }

  let boundaryGuaranteed = false;
  let newlineAfterNonSpace = false;
  for (const p of components(json.pre_tokenizer)) {
    const pattern = p.pattern as JsonObject | undefined;
    if (p.type === 'ByteLevel' && p.use_regex !== false) boundaryGuaranteed = newlineAfterNonSpace = true;
    else if (p.type === 'Split' && typeof pattern?.Regex === 'string' && BOUNDARY_SAFE_REGEXES.has(pattern.Regex)
      && p.behavior === 'Isolated' && p.invert !== true) boundaryGuaranteed = true;
    else if (p.type === 'Sequence' || p.type === 'ByteLevel') continue;
    else if (p.type === 'Split' && typeof pattern?.String === 'string' && !pattern.String.includes('\n')) continue;
    else return no; // Metaspace (prepends per word), Digits, custom regexes…: not analysed, stay whole
  }
  if (!boundaryGuaranteed) {
    for (const token in vocab) if (crossesCut.test(token)) return no;
  }

  let continuationJson: JsonObject | null = null;
  if (hasPrepend) continuationJson = { ...json, normalizer: withoutPrepend(json.normalizer) };
  return { splittable: true, continuationJson, newlineAfterNonSpace };
}

function withoutPrepend(n: unknown): unknown {
  const node = n as JsonObject;
  if (node.type === 'Prepend') return null;
  if (node.type === 'Sequence' && Array.isArray(node.normalizers)) {
    return { ...node, normalizers: node.normalizers.map(withoutPrepend).filter((x) => x !== null) };
  }
  return node;
}
