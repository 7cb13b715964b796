/**
 * The calibration data and the one engine pass every pruning method shares.
 *
 * The stream is [BOS or EOS] + the text's tokens, truncated to --calib-tokens. The planner holds
 * out its last fraction: those tokens never feed an importance score, they only score candidate
 * models (as text, so each candidate's own tokenizer encodes them), so the choice of split is not
 * fitted on the data that ranked the channels.
 */
import { CompactError } from '../errors.ts';
import { Engine, type EngineOptions, type GramSink } from '../engine/runner.ts';
import { ProgressReporter, type OnProgress } from '../report/progress-events.ts';
import type { TextTokenizer } from '../tokenizer/tokenize.ts';
import { cutSequences } from './calibration-text.ts';

export interface CalibrationData {
  /** Sequences that importance is computed on. */
  fit: Int32Array[];
  fitTokens: number;
  /** Held-out text (decoded from the stream's tail), or null when nothing is held out. */
  heldoutText: string | null;
  heldoutTokens: number;
  seqLen: number;
}

/**
 * Fewest calibration tokens accepted, even with --allow-short-calib: act² over a handful of
 * positions ranks channels by noise, and the planner's held-out share would be a token or two.
 */
export const MIN_CALIB_TOKENS = 64;

export function calibrationData(tt: TextTokenizer, text: string, opts: { calibTokens: number; seqLen: number; allowShort: boolean; holdout: number; label: string }): CalibrationData {
  // Only the text's first tokens are needed: long files are not encoded whole.
  const ids = tt.encodePrefix(text, opts.calibTokens);
  const stream = new Int32Array(ids.length + 1);
  stream[0] = tt.streamStartId;
  stream.set(ids, 1);
  if (stream.length < MIN_CALIB_TOKENS && opts.calibTokens >= MIN_CALIB_TOKENS) {
    throw new CompactError(`${opts.label}: has ${stream.length} tokens; calibration needs at least ${MIN_CALIB_TOKENS}, even with --allow-short-calib`);
  }
  if (stream.length < opts.calibTokens && !opts.allowShort) {
    throw new CompactError(`${opts.label}: has ${stream.length} tokens, fewer than --calib-tokens ${opts.calibTokens}; pass --allow-short-calib to use them all`);
  }
  const n = Math.min(opts.calibTokens, stream.length);
  const held = opts.holdout > 0 ? Math.round(n * opts.holdout) : 0;
  if (opts.holdout > 0 && (held < 1 || held >= n)) {
    throw new CompactError(`${opts.label}: ${n} calibration tokens are too few to hold out ${opts.holdout} of them for the planner`);
  }
  const fitTokens = n - held;
  return {
    fit: cutSequences(stream, opts.seqLen, fitTokens),
    fitTokens,
    heldoutText: held > 0 ? tt.decode(stream.subarray(fitTokens, n)) : null,
    heldoutTokens: held,
    seqLen: opts.seqLen,
  };
}

/** A token mask over the dense model's ids: 1 = the position counts (its token survives). */
export type TokenMask = Uint8Array;

export interface CalibrationRequest {
  /** act² accumulated once per mask, in the same pass. */
  masks: TokenMask[];
  /** Also act² over every token (act2-all, wanda-sp). */
  all: boolean;
  /** Also each layer's mean input/output cosine (ShortGPT). */
  cosine: boolean;
  /** Also each layer's Gram matrix of down_proj's input, tile by tile (the refit). */
  gram?: GramSink;
}

export interface CalibrationResult {
  /** [mask][layer][channel]. */
  byMask: Float64Array[][];
  /** [layer][channel], when `all`. */
  all: Float64Array[] | null;
  /** [layer], when `cosine`. */
  layerCosine: Float64Array | null;
  tokens: number;
  /** Share of calibration tokens kept by each mask. */
  maskShare: number[];
  seconds: number;
}

/**
 * One pass of the dense model over the fit sequences. act² under K masks costs one pass: the
 * engine takes K weight vectors per token and accumulates a [K, I] statistic per layer.
 */
export async function calibrate(model: string, seqs: Int32Array[], req: CalibrationRequest, engineOpts: EngineOptions, onProgress?: OnProgress): Promise<CalibrationResult> {
  const sets: Float32Array[][] = req.masks.map((m) => seqs.map((s) => Float32Array.from(s, (id) => m[id]!)));
  if (req.all) sets.push(seqs.map((s) => new Float32Array(s.length).fill(1)));
  const tokens = seqs.reduce((a, s) => a + s.length, 0);
  const maskShare = sets.slice(0, req.masks.length).map((set) => set.reduce((a, w) => a + w.reduce((x, y) => x + y, 0), 0) / tokens);
  const engine = await Engine.open(model, engineOpts);
  try {
    const L = engine.spec.layers;
    // The rate is whole-model tokens/s: after d of L layers, d/L of a pass over the tokens is done.
    const bar = new ProgressReporter('calibrate', L, onProgress);
    const res = await engine.forward(
      seqs,
      { act2: sets.length > 0, tokenWeightSets: sets.length > 0 ? sets : undefined, layerCosine: req.cosine, gram: req.gram, lastLayer: L - 1 },
      (p) => bar.update(p.layer + 1, (p.tokens * (p.layer + 1)) / p.layers, `layer ${p.layer + 1}/${p.layers}`),
    );
    const act2 = res.act2Sets ?? [];
    for (const set of act2) checkFiniteScores(set, 'FFN importance (Σ act²)');
    if (res.layerCosine) checkFiniteScores([res.layerCosine], 'block influence (layer cosine)');
    return {
      byMask: act2.slice(0, req.masks.length),
      all: req.all ? act2[act2.length - 1]! : null,
      layerCosine: res.layerCosine ?? null,
      tokens,
      maskShare,
      seconds: res.seconds,
    };
  } finally {
    await engine.close();
  }
}

/** The mask of a vocabulary cut: 1 at each kept (old) id. */
export function maskOf(keptIds: ArrayLike<number>, rows: number): TokenMask {
  const m = new Uint8Array(rows);
  for (let i = 0; i < keptIds.length; i++) m[keptIds[i]!] = 1;
  return m;
}

/**
 * NaN or infinite scores rank arbitrarily (every comparison with NaN is false, so a sort keeps
 * channels 0…I′−1 in every layer): stop with the layer and the count instead of writing that.
 */
export function checkFiniteScores(perLayer: ArrayLike<number>[], what: string): void {
  for (let l = 0; l < perLayer.length; l++) {
    const s = perLayer[l]!;
    let bad = 0;
    for (let i = 0; i < s.length; i++) if (!Number.isFinite(s[i]!)) bad++;
    if (bad > 0) {
      const where = perLayer.length > 1 ? `layer ${l}: ` : '';
      throw new CompactError(`calibration: ${where}${bad} of ${s.length} ${what} scores are not finite (NaN or Inf activations); the model's weights or activations overflow, so no channel ranking is possible`);
    }
  }
}
