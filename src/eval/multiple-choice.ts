/**
 * Log-likelihood scoring of (context, continuation) requests, lm-evaluation-harness style, on the
 * layer-streamed engine.
 *
 * Tokenization follows lm-eval's `_encode_pair`: trailing whitespace of the context moves to the
 * front of the continuation; the context is encoded alone, the context + continuation jointly, and
 * the continuation's tokens are the joint encoding minus as many leading tokens as the context has.
 * Unlike lm-eval's default for Hugging Face models (no special tokens), every sequence starts with
 * the tokenizer's stream-start token (BOS, or EOS for GPT-2-style tokenizers, which lm-eval itself
 * uses as the prefix of an empty context): small models are trained on documents that start with
 * it, and a first position without it is out of distribution.
 *
 * There is no KV cache to share a context between its choices, so each distinct
 * context + continuation is one sequence; duplicates within an item are scored once. Sequences are
 * scored in few, large `forward` calls, because every call streams all layers' weights.
 */
import { CompactError } from '../errors.ts';
import type { Engine } from '../engine/runner.ts';
import type { TextTokenizer } from '../tokenizer/tokenize.ts';
import type { Request } from './tasks.ts';

/** A request as the engine sees it. */
export interface ScoringSequence {
  /** [start] + context + continuation minus its last token (left-truncated to max positions). */
  input: Int32Array;
  /** The continuation's tokens at the positions that predict them; −1 elsewhere. */
  targets: Int32Array;
  /** Continuation tokens (scored positions). */
  continuationTokens: number;
  /** The context lost tokens on the left to fit the model's max positions. */
  truncated: boolean;
}

/** Per sequence: Σ log p(continuation tokens); `greedy`: every one of them was the argmax. */
export interface Score {
  logprob: number;
  greedy?: boolean;
}

/** lm-eval's `_encode_pair` (see the module comment); `contextCache` shares a context's encoding between choices. */
export function encodeRequest(tok: TextTokenizer, req: Request, contextCache?: Map<string, Int32Array>): { context: Int32Array; continuation: Int32Array } {
  let { context, continuation } = req;
  const trimmed = context.trimEnd();
  if (trimmed.length < context.length) {
    continuation = context.slice(trimmed.length) + continuation;
    context = trimmed;
  }
  let ctx = contextCache?.get(context);
  if (!ctx) {
    ctx = tok.encode(context);
    contextCache?.set(context, ctx);
  }
  const whole = context === '' ? tok.encode(continuation) : tok.encode(context + continuation);
  return { context: ctx, continuation: whole.slice(ctx.length) };
}

/**
 * [start] + context + continuation as one input/target pair. Like lm-eval, a sequence longer than
 * maxPositions + 1 loses tokens on the left (the start token first); the continuation must fit.
 */
export function buildSequence(start: number, context: Int32Array, continuation: Int32Array, maxPositions: number, where: string): ScoringSequence {
  const n = continuation.length;
  if (n === 0) throw new CompactError(`${where}: the continuation encodes to no tokens`);
  if (n > maxPositions) throw new CompactError(`${where}: the continuation has ${n} tokens, more than the model's ${maxPositions} positions`);
  const total = 1 + context.length + n;
  const full = new Int32Array(total);
  full[0] = start;
  full.set(context, 1);
  full.set(continuation, 1 + context.length);
  const kept = total > maxPositions + 1 ? full.subarray(total - (maxPositions + 1)) : full;
  const input = kept.slice(0, kept.length - 1);
  const targets = new Int32Array(input.length).fill(-1);
  // Position p predicts kept[p + 1]; the continuation is the last n tokens of `kept`.
  for (let p = input.length - n; p < input.length; p++) targets[p] = kept[p + 1]!;
  return { input, targets, continuationTokens: n, truncated: kept !== full };
}

export interface ForwardBudget {
  /** Tokens per forward call (bounds the engine's residual streams: tokens × hidden × 4 bytes). */
  tokens: number;
}

/**
 * Residual streams of one call stay within ~64 MB of f32 (logits never leave the engine: greedy
 * checks get the argmax, scoring gets log p(target)). Calls of at
 * most 16k tokens still amortize the weight streaming (for a 1B model ~2 s of reading per call
 * against minutes of compute) and give progress updates every few seconds on small models.
 */
export function defaultBudget(hidden: number): ForwardBudget {
  return { tokens: Math.max(2048, Math.min(16384, Math.floor((1 << 24) / hidden))) };
}

/**
 * Scores sequences in one engine call. With `greedy`, the engine also returns the argmax id at
 * every target position, and a sequence is greedy when each target is its row's argmax — ties
 * count as greedy only for the first maximal id, as torch.argmax.
 */
export async function scoreSequences(engine: Engine, seqs: ScoringSequence[], greedy: boolean): Promise<Score[]> {
  if (seqs.length === 0) return [];
  const res = await engine.forward(seqs.map((s) => s.input), { targets: seqs.map((s) => s.targets), argmax: greedy });
  return seqs.map((s, i) => {
    const lp = res.logprobs![i]!;
    let sum = 0;
    let isGreedy = true;
    for (let p = s.input.length - s.continuationTokens; p < s.input.length; p++) {
      sum += lp[p]!;
      if (greedy && res.argmax![i]![p] !== s.targets[p]) isGreedy = false;
    }
    if (!Number.isFinite(sum)) throw new CompactError(`${engine.dir}: non-finite log-likelihood (${sum}); the model's weights or outputs overflow`);
    return greedy ? { logprob: sum, greedy: isGreedy } : { logprob: sum };
  });
}

/** Index of the first maximum (numpy.argmax's tie rule). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}
