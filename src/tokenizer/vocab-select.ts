/**
 * Which token ids survive vocabulary pruning.
 *
 * Some tokens are mandatory whatever the budget, because without them text stops round-tripping:
 *  - every added token (special or not): they are matched before the model runs and models,
 *    chat templates and configs refer to them by string;
 *  - the byte alphabet, so every string still has an encoding: byte-level BPE's 256 single
 *    characters, or byte_fallback's `<0x00>`…`<0xFF>` (plus the unk piece it falls back from);
 *  - byte_fallback only: the pieces the decoder's `Replace` steps rewrite (SentencePiece's "▁").
 *    The decoder replaces "▁" → " " *before* `ByteFallback` turns bytes back into text, so a space
 *    encoded as bytes E2 96 81 would decode to a literal "▁" instead of " ".
 * The rest of the budget V′ is filled by the policy. V′ counts the mandatory tokens too.
 */
import { CompactError } from '../errors.ts';
import { byteFallbackPieces, byteLevelAlphabet, components, mergeResult, type TokenizerFile } from './tokenizer-file.ts';

export type VocabPolicy =
  | { policy: 'id'; vocabSize: number; mergeClosure?: boolean }
  | {
    policy: 'freq';
    vocabSize: number;
    /** Occurrences per token id (e.g. from `countTokens`); missing ids count 0. */
    counts: Map<number, number> | Uint32Array;
    /**
     * Strength `a` of the merge-order prior the counts are smoothed with (default
     * `FREQ_PRIOR_STRENGTH`; 0 = raw counts). See `smoothedCounts`.
     */
    priorStrength?: number;
    mergeClosure?: boolean;
  };
/*
 * `mergeClosure` (default true): a token is only taken together with the merge ancestors it needs
 * to be produced at all (one derivation: its lowest-rank merge, recursively); ancestors count
 * towards V′, and a token whose ancestors no longer fit is skipped. Why: only byte-level BPE
 * numbers tokens in merge order. SentencePiece-converted BPE (Mistral, Llama 2, Gemma) numbers
 * them by score and puts the single characters *last* (Mistral's "e" is id 28,706 of 32,000), so
 * plain "ids < V′" at 50% keeps "▁the" but not "t", "h" or "e": nothing can be merged any more and
 * every character falls back to bytes (4× more tokens). Likewise a frequent token ("Ġthe") is
 * useless without its rarely-final intermediates ("Ġt"). With byte-level vocabularies the
 * ancestors already have lower ids, so the id policy is then exactly "the lowest ids".
 */

export interface SelectOptions {
  /**
   * Embedding rows of the model. Rows beyond the tokenizer (padding, as in Qwen2.5) are never
   * kept; a tokenizer id at or beyond this is an inconsistent checkpoint.
   */
  modelRows?: number;
  /**
   * Ids the model's configs name (bos/eos/pad in config.json, generation_config.json): kept like
   * added tokens, since a config pointing at a removed token is a broken checkpoint.
   */
  extraIds?: ArrayLike<number>;
}

/** The ids that are kept whatever the budget, sorted ascending. */
export function mandatoryIds(tok: TokenizerFile): Int32Array {
  const ids = new Set<number>();
  for (const t of tok.addedTokens) ids.add(t.id);
  const alphabet = tok.flavour === 'byte-level' ? byteLevelAlphabet() : byteFallbackPieces();
  for (const s of alphabet) {
    const id = tok.vocab[s];
    if (id !== undefined) ids.add(id);
  }
  if (tok.flavour === 'byte-fallback') {
    const unk = tok.unkToken === null ? undefined : tok.vocab[tok.unkToken];
    if (unk !== undefined) ids.add(unk);
    for (const c of components(tok.json.decoder)) {
      const pattern = c.pattern as { String?: unknown } | undefined;
      const replaced = c.type === 'Replace' && typeof pattern?.String === 'string' ? tok.vocab[pattern.String] : undefined;
      if (replaced !== undefined) ids.add(replaced);
    }
  }
  return Int32Array.from([...ids].sort((a, b) => a - b));
}

/** Chooses the kept old ids (sorted ascending) for a policy; see the module comment. */
export function selectKeptIds(tok: TokenizerFile, policy: VocabPolicy, opts: SelectOptions = {}): Int32Array {
  const size = tok.size;
  if (opts.modelRows !== undefined && size > opts.modelRows) {
    throw new CompactError(`${tok.file}: token id ${size - 1} (${JSON.stringify(tok.idToToken[size - 1])}) has no embedding row (the model has ${opts.modelRows} rows)`);
  }
  const target = policy.vocabSize;
  const base = mandatoryIds(tok);
  const extra = Array.from(opts.extraIds ?? []).filter((id) => id >= 0 && id < size && tok.idToToken[id] !== undefined);
  const mandatory = extra.length ? Int32Array.from(new Set([...base, ...extra])).sort() : base;
  if (!Number.isInteger(target) || target < mandatory.length) {
    throw new CompactError(`${tok.file}: vocabulary size ${target} is below the minimum of ${mandatory.length} (added tokens, byte alphabet${tok.flavour === 'byte-fallback' ? ', unk and "▁"' : ''}${extra.length ? ', ids named by the configs' : ''})`);
  }
  const kept = new Uint8Array(size);
  for (const id of mandatory) kept[id] = 1;
  let count = mandatory.length;
  const existing = (id: number): boolean => tok.idToToken[id] !== undefined;

  let order: number[];
  if (policy.policy === 'id') {
    // BPE merge order: low ids are the frequent, early-merged tokens.
    order = [];
    for (let id = 0; id < size; id++) if (!kept[id] && existing(id)) order.push(id);
  } else if (policy.policy === 'freq') {
    const a = policy.priorStrength ?? FREQ_PRIOR_STRENGTH;
    if (!(a >= 0 && Number.isFinite(a))) throw new CompactError(`${tok.file}: freq policy prior strength must be a finite number ≥ 0, got ${a}`);
    const countOf = countLookup(policy.counts);
    const score = a === 0 ? Float64Array.from({ length: size }, (_, id) => countOf(id)) : smoothedCounts(size, countOf, a, kept);
    order = [];
    for (let id = 0; id < size; id++) if (!kept[id] && existing(id)) order.push(id);
    order.sort((x, y) => score[y]! - score[x]! || x - y);
  } else {
    throw new CompactError(`${tok.file}: unknown vocabulary policy ${JSON.stringify((policy as { policy: unknown }).policy)}`);
  }

  if (policy.mergeClosure === false) {
    for (const id of order) {
      if (count >= target) break;
      kept[id] = 1; count++;
    }
  } else {
    const producer = producingMerges(tok);
    const pending: number[] = [];
    const stack: number[] = [];
    for (const id of order) {
      if (count >= target) break;
      if (kept[id]) continue;
      // The not-yet-kept tokens of one derivation of `id` (no duplicates: marked 2 while pending).
      pending.length = 0;
      stack.push(id);
      while (stack.length > 0) {
        const t = stack.pop()!;
        if (kept[t]) continue;
        kept[t] = 2;
        pending.push(t);
        const p = producer.get(t);
        if (p !== undefined) stack.push(p[0], p[1]);
      }
      if (count + pending.length > target) {
        for (const t of pending) kept[t] = 0; // does not fit: try the next ones
        continue;
      }
      for (const t of pending) kept[t] = 1;
      count += pending.length;
    }
  }

  const out = new Int32Array(count);
  let j = 0;
  for (let id = 0; id < size; id++) if (kept[id]) out[j++] = id;
  return out;
}

/**
 * Default strength of the merge-order prior of the `freq` policy, from the measurements in
 * docs/results.md ("vocabulary policies"): a few hundred KB of text cannot rank 50k tokens alone.
 */
export const FREQ_PRIOR_STRENGTH = 16;

/**
 * Corpus counts smoothed with the merge-order prior (Gamma–Poisson empirical Bayes). BPE numbers
 * tokens roughly by frequency in its (large, general) training corpus, so the prior mean μ(id) of a
 * token's count is a decreasing power law of its id, fitted to this corpus's own counts over
 * log-spaced id bins; a token's score is the posterior mean of its rate after seeing c occurrences,
 * μ·(a + c)/(a + μ). With equal counts the order is the id order (μ decreases); a rare-by-id token
 * overtakes a frequent-by-id one only when the corpus shows it clearly more often, by a margin that
 * grows with the prior strength a (a → ∞: the id policy; a = 0: raw counts).
 */
export function smoothedCounts(size: number, countOf: (id: number) => number, a: number, mandatory: Uint8Array): Float64Array {
  // Log-binned mean counts over the non-mandatory ids, then a least-squares line in log–log space.
  const xs: number[] = [];
  const ys: number[] = [];
  const ws: number[] = [];
  for (let lo = 1; lo < size; lo *= 2) {
    const hi = Math.min(size, lo * 2);
    let sum = 0;
    let n = 0;
    for (let id = lo; id < hi; id++) if (!mandatory[id]) { sum += countOf(id); n++; }
    if (n === 0 || sum === 0) continue;
    xs.push(Math.log((lo + hi) / 2));
    ys.push(Math.log(sum / n));
    ws.push(n);
  }
  let slope = -1;
  let icept = 0;
  if (xs.length >= 2) {
    const W = ws.reduce((p, w) => p + w, 0);
    const mx = xs.reduce((p, x, i) => p + ws[i]! * x, 0) / W;
    const my = ys.reduce((p, y, i) => p + ws[i]! * y, 0) / W;
    let sxy = 0;
    let sxx = 0;
    for (let i = 0; i < xs.length; i++) { sxy += ws[i]! * (xs[i]! - mx) * (ys[i]! - my); sxx += ws[i]! * (xs[i]! - mx) ** 2; }
    // A prior that does not decrease would not encode merge order: keep it strictly decreasing.
    slope = Math.min(sxx > 0 ? sxy / sxx : -1, -1e-3);
    icept = my - slope * mx;
  } else if (xs.length === 1) {
    icept = ys[0]! + xs[0]!;
  }
  const out = new Float64Array(size);
  for (let id = 0; id < size; id++) {
    const mu = Math.exp(icept + slope * Math.log(id + 1));
    out[id] = (mu * (a + countOf(id))) / (a + mu);
  }
  return out;
}

function countLookup(counts: Map<number, number> | Uint32Array): (id: number) => number {
  if (counts instanceof Map) return (id) => counts.get(id) ?? 0;
  return (id) => counts[id] ?? 0;
}

/** result id → [left id, right id] of the lowest-rank merge producing it. */
function producingMerges(tok: TokenizerFile): Map<number, [number, number]> {
  const out = new Map<number, [number, number]>();
  for (const [a, b] of tok.merges) {
    const r = tok.vocab[mergeResult(a, b, tok.continuingSubwordPrefix)];
    const ia = tok.vocab[a];
    const ib = tok.vocab[b];
    if (r === undefined || ia === undefined || ib === undefined || out.has(r)) continue;
    out.set(r, [ia, ib]);
  }
  return out;
}

/** Anything that turns text into ids without special tokens, e.g. `loadTokenizer(dir)`. */
export interface TokenCounter {
  encode(text: string): Int32Array;
  readonly vocabSize: number;
}

/** Token occurrences in `text` (index = token id), the input of the `freq` policy. */
export function countTokens(tokenizer: TokenCounter, text: string): Uint32Array {
  const counts = new Uint32Array(tokenizer.vocabSize);
  for (const id of tokenizer.encode(text)) if (id >= 0 && id < counts.length) counts[id]!++;
  return counts;
}
