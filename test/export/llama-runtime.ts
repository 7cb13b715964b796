/**
 * llama.cpp (through @fugood/llama.node) as a test oracle for GGUF exports.
 *
 * Sampler settings matter: llama.node's defaults enable XTC (probability 0.1, threshold 0) and
 * a top-k/top-p/min-p chain, and with temperature 0 the reported `n_probs` are post-sampling
 * (1, 0, 0…). So greedy runs use top_k 1 with every other sampler off, and probability runs use
 * temperature 1 with no truncation (the reported probabilities are then the plain softmax).
 */
import { loadModel, type LlamaCompletionOptions, type LlamaContext } from './llama-node.ts';

export type { LlamaContext };

export const GREEDY = {
  temperature: 0, top_k: 1, top_p: 1, min_p: 0, typical_p: 1, xtc_probability: 0, dry_multiplier: 0, penalty_repeat: 1, ignore_eos: true,
} as const;
export const PLAIN_SOFTMAX = {
  temperature: 1, top_k: 0, top_p: 1, min_p: 0, typical_p: 1, xtc_probability: 0, dry_multiplier: 0, penalty_repeat: 1, ignore_eos: true, seed: 1,
} as const;

/**
 * A GGUF file, opened in a fresh llama.cpp context for each call. llama.node 1.7.15 reuses
 * completion state across calls on one context in ways that broke a test suite: probabilities of
 * earlier calls are returned first, the next call can find the previous one still "in progress",
 * and now and then the process crashed (SIGSEGV) — a context per call avoids all of it, and
 * loading is cheap (the file is mmapped and in the page cache after the first load).
 */
export class Gguf {
  constructor(readonly path: string, readonly nCtx = 512) {}

  /**
   * The native completion, without the wrapper's per-token callback: the wrapper always installs
   * one (a thread-safe function), and its calls landing after the promise resolved coincided
   * with the crashes.
   */
  static #complete(ctx: LlamaContext, options: CompletionOptions): ReturnType<LlamaContext['completion']> {
    const native = (ctx as unknown as { ctx: { completion(o: CompletionOptions): ReturnType<LlamaContext['completion']> } }).ctx;
    return native.completion(options);
  }

  async #with<T>(f: (ctx: LlamaContext) => Promise<T>): Promise<T> {
    // f32 KV cache: the default f16 cache would round keys/values and blur a 1e-3 comparison.
    const ctx = await loadModel({ model: this.path, n_ctx: this.nCtx, n_threads: 2, cache_type_k: 'f32', cache_type_v: 'f32', n_gpu_layers: 0 } as Parameters<typeof loadModel>[0]);
    try {
      return await f(ctx);
    } finally {
      await ctx.release();
    }
  }

  /** Greedy continuation text. */
  greedy(prompt: string, n: number): Promise<string> {
    return this.#with(async (ctx) => (await Gguf.#complete(ctx, { prompt, n_predict: n, ...GREEDY } as CompletionOptions)).text);
  }

  /** llama.cpp's top-5 next-token distribution after `prompt`. */
  top5(prompt: string): Promise<Array<{ text: string; prob: number }>> {
    return this.#with(async (ctx) => {
      const r = await Gguf.#complete(ctx, { prompt, n_predict: 1, n_probs: 5, ...PLAIN_SOFTMAX } as CompletionOptions);
      return (r.completion_probabilities?.at(-1)?.probs ?? []).map((x) => ({ text: x.tok_str, prob: x.prob }));
    });
  }

  tokenize(text: string): Promise<number[]> {
    return this.#with(async (ctx) => Array.from((await ctx.tokenize(text)).tokens));
  }
}

type CompletionOptions = LlamaCompletionOptions;
