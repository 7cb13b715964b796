/**
 * tokenizer.json → GGUF tokenizer metadata, following convert_hf_to_gguf.py:
 *
 * - byte-level BPE (GPT-2, Llama 3, Qwen) → `tokenizer.ggml.model = "gpt2"`: tokens in id order,
 *   token types, merges as "a b", and `tokenizer.ggml.pre` naming llama.cpp's pre-tokenizer.
 *   The converter picks `pre` by hashing the ids of a probe text against a table of known
 *   checkpoints; that cannot work after vocabulary pruning (the ids change), so we identify the
 *   pre-tokenizer by what it is: its split regex (see PRE_TOKENIZERS).
 * - SentencePiece-style BPE with byte_fallback (Llama 2, Mistral, Gemma) → `"llama"` (llama.cpp's
 *   SPM tokenizer), which merges by token score rather than a merge list. Scores are derived from
 *   the merge ranks (score of t = −rank of the first merge producing t): SentencePiece-derived
 *   tokenizer.json files list merges in score order, so the highest-score bigram is the
 *   lowest-rank merge, as in the original model.
 *
 * Rows of the embedding beyond the tokenizer (padding rows, e.g. 50,304 rows for a 50,257-token
 * GPT-2 vocabulary) become `[PAD{i}]` tokens of type UNUSED, as the converter writes them.
 * Anything llama.cpp cannot reproduce is a CompactError saying why, before any byte is written.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CompactError } from '../errors.ts';
import { isJsonObject, readJsonObject } from '../json-text.ts';
import { components, MAX_JSON_DEPTH, readTokenizerFile, type JsonObject, type TokenizerFile } from '../tokenizer/tokenizer-file.ts';
import { kv, type GgufValue } from './gguf-writer.ts';

/** gguf-py TokenType. */
export const TokenType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/**
 * Split regexes of byte-level pre-tokenizers → llama.cpp `tokenizer.ggml.pre` names (the names
 * convert_hf_to_gguf.py assigns to Llama 3, Qwen2/2.5/3 and GPT-2 tokenizers; llama.cpp's
 * llama-vocab.cpp maps each to the same regex).
 */
export const PRE_TOKENIZERS: ReadonlyArray<{ name: string; regex: string; models: string }> = [
  {
    name: 'gpt-2',
    regex: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
    models: 'GPT-2 (ByteLevel with use_regex)',
  },
  {
    name: 'llama-bpe',
    regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    models: 'Llama 3',
  },
  {
    name: 'qwen2',
    regex: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    models: 'Qwen2/2.5/3',
  },
];

export interface GgufTokenizer {
  model: 'gpt2' | 'llama';
  /** Metadata entries, in the order the converter writes them. */
  metadata: Array<[string, GgufValue]>;
  /** Token count (= embedding rows written). */
  size: number;
}

const readJsonIfPresent = (path: string): JsonObject => (existsSync(path) ? readJsonObject(path, path, MAX_JSON_DEPTH) : {});
const isObj = isJsonObject;

/** The converter's does_token_look_special: added tokens that ought to be control tokens. */
function looksSpecial(t: string): boolean {
  return (
    ['<pad>', '<mask>', '<2mass>', '[@BOS@]'].includes(t) ||
    (t.startsWith('<|') && t.endsWith('|>')) ||
    (t.startsWith('<｜') && t.endsWith('｜>')) ||
    (t.startsWith('<unused') && t.endsWith('>'))
  );
}

/** `"<s>"` or `{ "content": "<s>" }` in tokenizer_config.json. */
function tokenContent(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (isObj(v) && typeof v.content === 'string') return v.content;
  return null;
}

/** Which pre-tokenizer a byte-level tokenizer uses, or a CompactError saying why llama.cpp cannot run it. */
function bytePreTokenizer(tok: TokenizerFile, file: string): string {
  const norm = tok.json.normalizer;
  const normParts = components(norm).filter((c) => c.type !== 'Sequence');
  // NFC is dropped exactly as the converter drops it for Qwen: llama.cpp does not normalize, and
  // NFC text (nearly all text) tokenizes the same either way.
  const badNorm = normParts.find((c) => c.type !== 'NFC');
  if (badNorm) {
    throw new CompactError(`${file}: normalizer ${String(badNorm.type)} has no llama.cpp equivalent for byte-level BPE (supported: none or NFC)`);
  }
  const pre = components(tok.json.pre_tokenizer).filter((c) => c.type !== 'Sequence');
  const byteLevel = pre.filter((c) => c.type === 'ByteLevel');
  const splits = pre.filter((c) => c.type === 'Split');
  const other = pre.find((c) => c.type !== 'ByteLevel' && c.type !== 'Split');
  if (other) throw new CompactError(`${file}: pre-tokenizer ${String(other.type)} has no llama.cpp equivalent (supported: ${supportedPre()})`);
  if (byteLevel.some((c) => c.add_prefix_space === true)) {
    throw new CompactError(`${file}: ByteLevel add_prefix_space=true has no llama.cpp equivalent for byte-level BPE`);
  }
  let regex: string | null = null;
  if (splits.length === 0 && byteLevel.length === 1 && byteLevel[0]!.use_regex !== false) regex = PRE_TOKENIZERS[0]!.regex;
  else if (splits.length === 1 && byteLevel.length === 1 && byteLevel[0]!.use_regex === false) {
    const p = splits[0]!.pattern;
    if (isObj(p) && typeof p.Regex === 'string' && splits[0]!.behavior === 'Isolated' && splits[0]!.invert !== true) regex = p.Regex;
  }
  const known = regex === null ? undefined : PRE_TOKENIZERS.find((p) => p.regex === regex);
  if (!known) {
    const what = regex === null ? 'this pre-tokenizer layout' : `split regex ${JSON.stringify(regex)}`;
    throw new CompactError(`${file}: ${what} matches no llama.cpp pre-tokenizer (supported: ${supportedPre()})`);
  }
  return known.name;
}

function supportedPre(): string {
  return PRE_TOKENIZERS.map((p) => `${p.name} = ${p.models}`).join(', ');
}

/** Whether a SentencePiece-style tokenizer prepends "▁" (llama.cpp's add_space_prefix). */
function spmSpacePrefix(tok: TokenizerFile, file: string): boolean {
  let prefix = false;
  for (const c of components(tok.json.normalizer)) {
    if (c.type === 'Sequence') continue;
    if (c.type === 'Prepend' && c.prepend === '▁') prefix = true;
    else if (c.type === 'Replace' && isObj(c.pattern) && c.pattern.String === ' ' && c.content === '▁') continue;
    else throw new CompactError(`${file}: normalizer ${String(c.type)} has no llama.cpp equivalent for SentencePiece-style BPE (supported: Prepend "▁", Replace " " → "▁")`);
  }
  for (const c of components(tok.json.pre_tokenizer)) {
    if (c.type === 'Sequence') continue;
    if (c.type === 'Metaspace') {
      if (c.replacement !== undefined && c.replacement !== '▁') throw new CompactError(`${file}: Metaspace replacement ${JSON.stringify(c.replacement)} is not "▁"`);
      const scheme = c.prepend_scheme ?? (c.add_prefix_space === false ? 'never' : 'always');
      if (scheme !== 'never') prefix = true;
    } else if (c.type === 'Split' && isObj(c.pattern) && c.pattern.String === ' ') {
      // Gemma: splits on " " after the normalizer has replaced every space by "▁" — a no-op.
      continue;
    } else {
      throw new CompactError(`${file}: pre-tokenizer ${String(c.type)} has no llama.cpp equivalent for SentencePiece-style BPE`);
    }
  }
  return prefix;
}

/** Whether the HF tokenizer adds BOS/EOS to an encoded text (tokenizer_config flags, else the post-processor template). */
function addsSpecial(json: JsonObject, config: JsonObject, which: 'bos' | 'eos', id: number | null): boolean {
  const flag = config[`add_${which}_token`];
  if (typeof flag === 'boolean') return flag;
  if (id === null) return false;
  const post = components(json.post_processor).find((c) => c.type === 'TemplateProcessing');
  const single = post?.single;
  if (!Array.isArray(single) || single.length === 0) return false;
  const item = which === 'bos' ? single[0] : single[single.length - 1];
  const special = isObj(item) && isObj(item.SpecialToken) ? item.SpecialToken : null;
  if (!special || typeof special.id !== 'string') return false;
  const tokens = isObj(post!.special_tokens) ? post!.special_tokens : {};
  const entry = tokens[special.id];
  return isObj(entry) && Array.isArray(entry.ids) && entry.ids.includes(id);
}

/**
 * Builds the tokenizer metadata for a model folder. `rows` is the number of embedding rows the
 * GGUF will hold; the token list is padded to it.
 */
export function ggufTokenizer(dir: string, rows: number, modelConfig: JsonObject): GgufTokenizer {
  const path = join(dir, 'tokenizer.json');
  if (!existsSync(path)) throw new CompactError(`${path}: missing (GGUF embeds the tokenizer, so a tokenizer.json is required)`);
  const tok = readTokenizerFile(path);
  const tcfg = readJsonIfPresent(join(dir, 'tokenizer_config.json'));
  if (tok.size > rows) {
    throw new CompactError(`${path}: ${tok.size} tokens but the embedding has only ${rows} rows`);
  }
  if (tok.continuingSubwordPrefix !== '' || (typeof (tok.json.model as JsonObject).end_of_word_suffix === 'string' && (tok.json.model as JsonObject).end_of_word_suffix !== '')) {
    throw new CompactError(`${path}: BPE with continuing_subword_prefix/end_of_word_suffix has no llama.cpp equivalent`);
  }

  const added = new Map(tok.addedTokens.map((t) => [t.id, t]));
  const tokens: string[] = new Array(rows);
  const types = new Int32Array(rows);
  const spm = tok.flavour === 'byte-fallback';
  const bytePiece = /^<0x[0-9A-Fa-f]{2}>$/;
  for (let id = 0; id < rows; id++) {
    const text = id < tok.size ? tok.idToToken[id] : undefined;
    if (text === undefined) {
      tokens[id] = `[PAD${id}]`;
      types[id] = TokenType.UNUSED;
      continue;
    }
    tokens[id] = text;
    const a = added.get(id);
    if (a) {
      if (a.special || looksSpecial(text)) types[id] = TokenType.CONTROL;
      else {
        // The converter pre-normalizes user-defined SentencePiece spaces (llama.cpp matches them in raw text).
        if (spm) tokens[id] = text.replaceAll('▁', ' ');
        types[id] = TokenType.USER_DEFINED;
      }
    } else if (spm && bytePiece.test(text)) types[id] = TokenType.BYTE;
    else if (spm && text === tok.unkToken) types[id] = TokenType.UNKNOWN;
    else types[id] = TokenType.NORMAL;
  }
  const seen = new Map<string, number>();
  tokens.forEach((t, id) => {
    const prior = seen.get(t);
    if (prior !== undefined) throw new CompactError(`${path}: token ${JSON.stringify(t)} appears at ids ${prior} and ${id}; llama.cpp needs distinct token strings`);
    seen.set(t, id);
  });

  const md: Array<[string, GgufValue]> = [];
  if (spm) {
    const addPrefix = spmSpacePrefix(tok, path);
    const scores = new Float32Array(rows);
    const rank = new Map<string, number>();
    tok.merges.forEach(([a, b], i) => {
      const r = a + b;
      if (!rank.has(r)) rank.set(r, i);
    });
    for (let id = 0; id < rows; id++) {
      const r = rank.get(tokens[id]!);
      // Tokens no merge produces (single symbols, bytes, specials) are never a merge target: any
      // score works; 0 keeps them neutral as in SentencePiece's own files for control pieces.
      scores[id] = r === undefined ? 0 : -(r + 1);
    }
    md.push(['tokenizer.ggml.model', kv.str('llama')]);
    md.push(['tokenizer.ggml.tokens', kv.strings(tokens)]);
    md.push(['tokenizer.ggml.scores', kv.f32s(scores)]);
    md.push(['tokenizer.ggml.token_type', kv.i32s(types)]);
    md.push(['tokenizer.ggml.add_space_prefix', kv.bool(addPrefix)]);
  } else {
    const pre = bytePreTokenizer(tok, path);
    md.push(['tokenizer.ggml.model', kv.str('gpt2')]);
    md.push(['tokenizer.ggml.pre', kv.str(pre)]);
    md.push(['tokenizer.ggml.tokens', kv.strings(tokens)]);
    md.push(['tokenizer.ggml.token_type', kv.i32s(types)]);
    const merges = tok.merges.map(([a, b]) => {
      // llama.cpp splits a merge at the first space after position 0: a space inside a part
      // (possible only in the pair encoding) would be split wrongly.
      if (a.slice(1).includes(' ') || b.includes(' ')) throw new CompactError(`${path}: merge ${JSON.stringify([a, b])} contains a space, which GGUF's "a b" merge strings cannot hold`);
      return `${a} ${b}`;
    });
    md.push(['tokenizer.ggml.merges', kv.strings(merges)]);
  }

  // Special ids: tokenizer_config.json's token strings first, then config.json's ids (SpecialVocab's order).
  const idOf = (content: string | null): number | null => {
    if (content === null) return null;
    const id = tok.vocab[content] ?? tok.addedTokens.find((t) => t.content === content)?.id;
    return id === undefined ? null : id;
  };
  const fromConfig = (key: string): number | null => {
    const v = modelConfig[key];
    if (typeof v === 'number') return v;
    if (Array.isArray(v) && typeof v[0] === 'number') return v[0];
    return null;
  };
  const special = (name: string): number | null => idOf(tokenContent(tcfg[`${name}_token`])) ?? fromConfig(`${name}_token_id`);
  const bos = special('bos');
  const eos = special('eos');
  const unk = special('unk') ?? idOf(tok.unkToken);
  const pad = special('pad');
  const sep = idOf(tokenContent(tcfg.sep_token));
  for (const [key, id] of [['bos', bos], ['eos', eos], ['unknown', unk], ['seperator', sep], ['padding', pad]] as const) {
    if (id === null) continue;
    if (!(id >= 0 && id < rows)) throw new CompactError(`${path}: ${key} token id ${id} is outside the ${rows}-token vocabulary`);
    md.push([`tokenizer.ggml.${key}_token_id`, kv.u32(id)]);
  }
  md.push(['tokenizer.ggml.add_bos_token', kv.bool(addsSpecial(tok.json, tcfg, 'bos', bos))]);
  md.push(['tokenizer.ggml.add_eos_token', kv.bool(addsSpecial(tok.json, tcfg, 'eos', eos))]);
  if (typeof tcfg.chat_template === 'string') md.push(['tokenizer.chat_template', kv.str(tcfg.chat_template)]);
  return { model: spm ? 'llama' : 'gpt2', metadata: md, size: rows };
}
