/**
 * transformers.js (@huggingface/transformers, onnxruntime-node) as a test oracle for ONNX exports:
 * the exported folder is loaded from disk only (no hub access), as a user would load it.
 */
import assert from 'node:assert/strict';
import { basename, dirname } from 'node:path';
import { AutoModelForCausalLM, AutoTokenizer, env } from '@huggingface/transformers';
import type { Engine } from '../../src/engine/runner.ts';
import { greedyContinuation, topK } from './runtime-helpers.ts';
import type { TextTokenizer } from '../../src/tokenizer/tokenize.ts';

interface TjsTensor { tolist(): unknown; data: Float32Array; dims: number[] }

/** Loads an exported folder with transformers.js from disk. */
export async function loadTransformersJs(dir: string) {
  env.allowRemoteModels = false;
  env.localModelPath = `${dirname(dir)}/`;
  const tokenizer = await AutoTokenizer.from_pretrained(basename(dir), { local_files_only: true });
  const model = await AutoModelForCausalLM.from_pretrained(basename(dir), { local_files_only: true, dtype: 'fp32' } as Parameters<typeof AutoModelForCausalLM.from_pretrained>[1]);
  return { tokenizer, model };
}

/**
 * Greedy generation in transformers.js equals our engine's greedy decode on the same prompt ids,
 * and its first-step probabilities (a plain forward of the exported graph) match ours within
 * `tol`. Returns the largest probability difference.
 */
export async function checkTransformersJs(
  tj: Awaited<ReturnType<typeof loadTransformersJs>>,
  engine: Engine,
  ours: TextTokenizer,
  prompt: string,
  n: number,
  tol: number,
): Promise<number> {
  const inputs = tj.tokenizer(prompt) as unknown as { input_ids: TjsTensor; attention_mask: TjsTensor };
  const promptIds = (inputs.input_ids.tolist() as bigint[][])[0]!.map(Number);
  assert.deepEqual(promptIds, Array.from(ours.encode(prompt)), `transformers.js tokenizer ids of ${JSON.stringify(prompt)}`);
  const out = (await tj.model.generate({ ...inputs, do_sample: false, max_new_tokens: n, min_new_tokens: n } as never)) as unknown as TjsTensor;
  const generated = (out.tolist() as bigint[][])[0]!.map(Number).slice(promptIds.length);
  assert.equal(generated.length, n);
  const mine = await greedyContinuation(engine, Int32Array.from(promptIds), Int32Array.from(generated), n);
  assert.deepEqual(generated, mine.ids, `greedy continuation of ${JSON.stringify(prompt)}`);

  // First step: the exported graph's logits after the prompt vs the engine's.
  const fwd = (await (tj.model as unknown as (x: unknown) => Promise<{ logits: TjsTensor }>)(inputs)).logits;
  const V = fwd.dims.at(-1)!;
  const theirs = fwd.data.slice((promptIds.length - 1) * V, promptIds.length * V);
  const want = topK(mine.row(promptIds.length - 1), 5, ours);
  const got = topK(theirs, 5, ours);
  let max = 0;
  for (let i = 0; i < 5; i++) {
    const d = Math.abs(got[i]!.prob - want[i]!.prob);
    max = Math.max(max, d);
    assert.ok(d < tol, `p(${JSON.stringify(want[i]!.text)}): transformers.js ${got[i]!.prob} vs engine ${want[i]!.prob}`);
  }
  return max;
}
