import { CompactError, UsageError } from '../errors.ts';
import { Engine, type EngineOptions } from '../engine/runner.ts';
import { loadTokenizer } from '../tokenizer/tokenize.ts';

export interface TextEvalOptions extends EngineOptions {
  /** Tokens per window (default 512). */
  seqLen?: number;
  /** Score at most this many tokens (after the stream's start token). */
  maxTokens?: number;
  onProgress?: (done: number, total: number, tokens: number) => void;
}

export interface TextEvalResult {
  /** Bits per UTF-8 byte of the text covered: tokenizer-independent, so pruned vocabularies compare fairly. */
  bpb: number;
  /** Token perplexity, exp(mean NLL): only comparable between models with the same tokenizer. */
  ppl: number;
  /** Tokens scored. */
  tokens: number;
  /** UTF-8 bytes of the text those tokens cover. */
  bytes: number;
  nll_nats: number;
  seq_len: number;
  seconds: number;
}

/**
 * Scores a text as one token stream [BOS or EOS] + tokens, cut into windows of seqLen inputs
 * without overlap. Window k feeds stream[kL … kL+L) and predicts stream[kL+1 … kL+L], so every
 * token after the start is scored exactly once (a window's first prediction sees no context from
 * the previous one, as in the usual non-overlapping protocol).
 */
export async function evaluateText(modelDir: string, text: string, opts: TextEvalOptions = {}): Promise<TextEvalResult> {
  if (text.length === 0) throw new CompactError('evaluation text is empty');
  // Checked before the model loads; a fractional count would silently be rounded by the window loop.
  if (opts.maxTokens !== undefined && !(Number.isSafeInteger(opts.maxTokens) && opts.maxTokens >= 1)) {
    throw new UsageError(`--max-tokens must be a positive integer, got ${opts.maxTokens}`);
  }
  if (opts.seqLen !== undefined && !(Number.isSafeInteger(opts.seqLen) && opts.seqLen >= 1)) throw new UsageError(`--seq-len must be a positive integer, got ${opts.seqLen}`);
  const tok = loadTokenizer(modelDir);
  const engine = await Engine.open(modelDir, opts);
  try {
    const seqLen = opts.seqLen ?? 512;
    if (!(Number.isInteger(seqLen) && seqLen >= 1)) throw new CompactError(`--seq-len must be a positive integer, got ${seqLen}`);
    if (seqLen > engine.spec.maxPositions) {
      throw new CompactError(`--seq-len ${seqLen} exceeds the model's max_position_embeddings ${engine.spec.maxPositions}`);
    }
    const ids = tok.encode(text);
    if (ids.length === 0) throw new CompactError('evaluation text has no tokens');
    const scored = opts.maxTokens !== undefined ? Math.min(opts.maxTokens, ids.length) : ids.length;
    if (!(scored >= 1)) throw new CompactError(`--max-tokens must be a positive integer, got ${opts.maxTokens}`);
    const stream = new Int32Array(scored + 1);
    stream[0] = tok.streamStartId;
    stream.set(ids.subarray(0, scored), 1);
    const inputs: Int32Array[] = [];
    const targets: Int32Array[] = [];
    for (let s = 0; s < scored; s += seqLen) {
      const n = Math.min(seqLen, scored - s);
      inputs.push(stream.subarray(s, s + n));
      targets.push(stream.subarray(s + 1, s + n + 1));
    }
    const t0 = Date.now();
    const res = await engine.forward(inputs, { targets }, (p) => opts.onProgress?.(p.layer + 1, p.layers, p.tokens));
    let nll = 0;
    for (const lp of res.logprobs!) for (let i = 0; i < lp.length; i++) nll -= lp[i]!;
    // A NaN or infinite log-likelihood would print as a bits/byte figure and, in the planner, win or lose every comparison.
    if (!Number.isFinite(nll)) throw new CompactError(`${modelDir}: the model's log-likelihood of the text is ${nll} (non-finite activations); its weights or their scale are broken`);
    const bytes = scored === ids.length && tok.decode(ids) === text ? Buffer.byteLength(text, 'utf8') : Buffer.byteLength(tok.decode(ids.subarray(0, scored)), 'utf8');
    return {
      bpb: nll / Math.LN2 / bytes,
      ppl: Math.exp(nll / scored),
      tokens: scored,
      bytes,
      nll_nats: nll,
      seq_len: seqLen,
      seconds: (Date.now() - t0) / 1000,
    };
  } finally {
    await engine.close();
  }
}
