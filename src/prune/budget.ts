/**
 * Turning a target total-parameter reduction R into kept sizes (V′, I′, layers).
 *
 * Everything is exact integer arithmetic on `countParams`, which is linear in V′, I′ and the layer
 * count, so "parameters per vocabulary row" and "per FFN channel" are differences of two counts
 * (biases and untied heads included). Kept sizes are rounded to the nearest integer, so the
 * achieved reduction is R within half a row or half a channel; every split reports what it
 * achieved.
 *
 * Vocabulary rows are counted from the embedding matrix (config `vocab_size`), which can exceed
 * the tokenizer (Qwen2.5, wiki-28m: padding rows). Those rows are dropped by any vocabulary cut,
 * so V′ is capped at the tokenizer's size.
 */
import type { ModelSpec } from '../families/types.ts';
import { countParams } from '../report/params.ts';

export interface VocabLimits {
  /** Tokens in the tokenizer: the largest V′. */
  tokenizerSize: number;
  /** Tokens kept whatever the budget (added tokens, byte alphabet, config ids): the smallest V′. */
  minVocab: number;
  /**
   * Round every solved I′ to a multiple of this (default 1: no rounding). Kernels tile the FFN's
   * inner dimension: llama.cpp's x86 prefill ran 2–2.8× faster at I′ 800 than at I′ 797 (see
   * docs/performance.md §4b). With a share of the budget, V′ is then re-solved so R still holds.
   */
  ffnMultiple?: number;
}

export interface Split {
  /** Share of the removed parameters taken from the vocabulary (null when V′/I′ were given). */
  share: number | null;
  vocab: number;
  ffn: number;
  /** Achieved total-parameter reduction. */
  ratio: number;
  /** Why the split cannot be built (V′ below the mandatory minimum, I′ < 1, …); null if it can. */
  infeasible: string | null;
}

/**
 * The default `--ffn-multiple` for an intermediate size I: the largest of 256, 128, 64, 32 that
 * still leaves at least 8 widths to choose from (I / m ≥ 8), or 1 (no rounding) when I < 256.
 *
 * Why: llama.cpp quantizes in blocks along each row, and `ffn_down`'s rows are I′ long. K-quants
 * (Q4_K_M, Q5_K_M, Q6_K) need rows that are a multiple of 256 or fall back to 32-value blocks
 * (Q5_0, Q5_1, Q8_0); a row that is not a multiple of 32 falls back to F16, giving back much of
 * what pruning saved (issue #20). 256 also suits GPU kernels' tiles. Where 256 would leave fewer
 * than 8 widths (I < 2,048, e.g. wiki-28m's 1,280 → 128) the planner's candidates would collapse
 * onto a handful of sizes, so a smaller multiple keeps its choice while still avoiding F16.
 */
export function defaultFfnMultiple(intermediate: number): number {
  for (const m of [256, 128, 64, 32]) if (intermediate / m >= 8) return m;
  return 1;
}

function total(spec: ModelSpec, vocab: number, ffn: number, layers = spec.layers): number {
  return countParams(spec, { vocab, intermediate: ffn, layers }).total_params;
}

export function achievedRatio(spec: ModelSpec, vocab: number, ffn: number, layers = spec.layers): number {
  return 1 - total(spec, vocab, ffn, layers) / total(spec, spec.vocabSize, spec.intermediate);
}

/** Parameters one vocabulary row / one FFN channel (in every layer) / one layer stands for. */
export function unitParams(spec: ModelSpec): { row: number; channel: number; layer: number } {
  const V = spec.vocabSize;
  const I = spec.intermediate;
  return {
    row: total(spec, V, I) - total(spec, V - 1, I),
    channel: total(spec, V, I) - total(spec, V, I - 1),
    layer: total(spec, V, I) - total(spec, V, I, spec.layers - 1),
  };
}

/** I′ that, with V′ tokens kept, removes R of all parameters (may be < 1 or > I: check it). */
export function solveFfn(spec: ModelSpec, vocab: number, ratio: number): number {
  const target = total(spec, spec.vocabSize, spec.intermediate) * (1 - ratio);
  const excess = total(spec, vocab, spec.intermediate) - target;
  return spec.intermediate - Math.round(excess / unitParams(spec).channel);
}

/** V′ that, with I′ channels kept, removes R of all parameters (capped at the tokenizer's size). */
export function solveVocab(spec: ModelSpec, ffn: number, ratio: number, limits: VocabLimits): number {
  const target = total(spec, spec.vocabSize, spec.intermediate) * (1 - ratio);
  const excess = total(spec, spec.vocabSize, ffn) - target;
  return Math.min(limits.tokenizerSize, spec.vocabSize - Math.round(excess / unitParams(spec).row));
}

function split(spec: ModelSpec, share: number | null, vocab: number, ffn: number, limits: VocabLimits): Split {
  let infeasible: string | null = null;
  if (vocab < limits.minVocab) infeasible = `V′ ${vocab} is below the mandatory minimum of ${limits.minVocab} tokens`;
  else if (ffn < 1) infeasible = `I′ ${ffn} < 1: the FFN cannot give that much`;
  else if (ffn > spec.intermediate) infeasible = `the vocabulary cut alone already exceeds the ratio (I′ would be ${ffn})`;
  return { share, vocab, ffn, ratio: infeasible ? NaN : achievedRatio(spec, vocab, ffn), infeasible };
}

/** I′ rounded to the nearest multiple of `limits.ffnMultiple` (at least one multiple, at most I). */
export function alignFfn(spec: ModelSpec, ffn: number, limits: VocabLimits): number {
  const m = limits.ffnMultiple ?? 1;
  if (m <= 1 || ffn < 1 || ffn >= spec.intermediate) return ffn;
  return Math.min(spec.intermediate, Math.max(m, Math.round(ffn / m) * m));
}

/** The split taking `share` of the removed parameters from the vocabulary and the rest from the FFN. */
export function splitForShare(spec: ModelSpec, ratio: number, share: number, limits: VocabLimits): Split {
  const budget = total(spec, spec.vocabSize, spec.intermediate) * ratio;
  const rows = Math.round((share * budget) / unitParams(spec).row);
  let vocab = Math.min(limits.tokenizerSize, spec.vocabSize - rows);
  // The FFN takes whatever the (rounded, capped) vocabulary cut left of the budget.
  if (share === 1) return split(spec, share, vocab, spec.intermediate, limits);
  const solved = solveFfn(spec, vocab, ratio);
  const ffn = alignFfn(spec, solved, limits);
  // An aligned I′ moves the FFN's part; the vocabulary absorbs the difference (FFN-only keeps it whole).
  if (ffn !== solved && share > 0) vocab = solveVocab(spec, ffn, ratio, limits);
  return split(spec, share, vocab, ffn, limits);
}

/** Given V′ (or I′), the other solved for R. */
export function splitForVocab(spec: ModelSpec, ratio: number, vocab: number, limits: VocabLimits): Split {
  return split(spec, null, vocab, alignFfn(spec, solveFfn(spec, vocab, ratio), limits), limits);
}
export function splitForFfn(spec: ModelSpec, ratio: number, ffn: number, limits: VocabLimits): Split {
  return split(spec, null, solveVocab(spec, ffn, ratio, limits), ffn, limits);
}

/**
 * The planner's candidates: vocabulary shares 0, step, 2·step, …, 1 (0 = FFN-only, 1 =
 * vocab-only), infeasible ones kept with their reason so the report shows why they were skipped;
 * splits that round to the same (V′, I′) appear once.
 */
export function candidateSplits(spec: ModelSpec, ratio: number, step: number, limits: VocabLimits): Split[] {
  if (!(step > 0 && step <= 1)) throw new Error(`share step ${step} outside (0, 1]`);
  const n = Math.round(1 / step);
  const out: Split[] = [];
  const seen = new Set<string>();
  for (let i = 0; i <= n; i++) {
    const s = splitForShare(spec, ratio, i / n, limits);
    const key = `${s.vocab}/${s.ffn}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(s);
  }
  return out;
}

/** ShortGPT: the number of whole layers whose removal comes closest to R (1 ≤ k ≤ L − 1). */
export function layersToDrop(spec: ModelSpec, ratio: number, vocab: number): { drop: number; ratio: number } {
  let best = { drop: 1, ratio: achievedRatio(spec, vocab, spec.intermediate, spec.layers - 1) };
  for (let k = 2; k < spec.layers; k++) {
    const r = achievedRatio(spec, vocab, spec.intermediate, spec.layers - k);
    if (Math.abs(r - ratio) < Math.abs(best.ratio - ratio)) best = { drop: k, ratio: r };
  }
  return best;
}
