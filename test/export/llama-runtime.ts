/**
 * llama.cpp (through @fugood/llama.node) as a test oracle for GGUF exports.
 *
 * Sampler settings matter: llama.node's defaults enable XTC (probability 0.1, threshold 0) and
 * a top-k/top-p/min-p chain, and with temperature 0 the reported `n_probs` are post-sampling
 * (1, 0, 0…). So greedy runs use top_k 1 with every other sampler off, and probability runs use
 * temperature 1 with no truncation (the reported probabilities are then the plain softmax).
 */
import { loadModel } from '@fugood/llama.node';

export type LlamaContext = Awaited<ReturnType<typeof loadModel>>;

export const GREEDY = {
  temperature: 0, top_k: 1, top_p: 1, min_p: 0, typical_p: 1, xtc_probability: 0, dry_multiplier: 0, penalty_repeat: 1, ignore_eos: true,
} as const;
export const PLAIN_SOFTMAX = {
  temperature: 1, top_k: 0, top_p: 1, min_p: 0, typical_p: 1, xtc_probability: 0, dry_multiplier: 0, penalty_repeat: 1, ignore_eos: true, seed: 1,
} as const;

export async function openGguf(path: string, nCtx = 512): Promise<LlamaContext> {
  // f32 KV cache: the default f16 cache would round keys/values and blur a 1e-3 comparison.
  return loadModel({ model: path, n_ctx: nCtx, n_threads: 2, cache_type_k: 'f32', cache_type_v: 'f32', n_gpu_layers: 0 } as Parameters<typeof loadModel>[0]);
}

export async function llamaGreedy(ctx: LlamaContext, prompt: string, n: number): Promise<string> {
  const r = await ctx.completion({ prompt, n_predict: n, ...GREEDY } as Parameters<LlamaContext['completion']>[0]);
  return r.text;
}

/** llama.cpp's top-5 next-token distribution after `prompt`. */
export async function llamaTop5(ctx: LlamaContext, prompt: string): Promise<Array<{ text: string; prob: number }>> {
  // llama.node 1.7.15 never resets `completion_probabilities` between completions: entries of
  // earlier calls come first, so this call's token is the last entry.
  const r = await ctx.completion({ prompt, n_predict: 1, n_probs: 5, ...PLAIN_SOFTMAX } as Parameters<LlamaContext['completion']>[0]);
  const p = r.completion_probabilities?.at(-1)?.probs ?? [];
  return p.map((x) => ({ text: x.tok_str, prob: x.prob }));
}

export async function llamaTokenize(ctx: LlamaContext, text: string): Promise<number[]> {
  return Array.from((await ctx.tokenize(text)).tokens);
}
