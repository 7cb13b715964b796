/**
 * The KV-cache decoder against the layer-streamed Engine: greedy generation from a prompt must
 * produce, at every step, the logits Engine.forward gives for the whole sequence so far (the
 * decoder's cache, rotary positions and last-position lm_head are what is under test). Families
 * with different attention paths: llama3 (GQA, llama3 rope), qwen2 (q/k/v bias), mistral (sliding
 * window shorter than the sequence), gemma3 (sandwich norms, q/k norm, softcap-free GeLU, scaled
 * embeddings, per-layer sliding/full), plus the real wiki-28m.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { KvDecoder } from '../../src/engine/kv-decoder.ts';
import { Engine } from '../../src/engine/runner.ts';
import { shared } from '../helpers/paths.ts';

async function check(dir: string, prompt: Int32Array, steps: number, tol: number): Promise<void> {
  const dec = await KvDecoder.open(dir, { threads: 1, capacity: prompt.length + steps + 1 });
  const engine = await Engine.open(dir, { threads: 1 });
  try {
    const V = dec.spec.vocabSize;
    const seen: Float32Array[] = [];
    const res = await dec.generate(prompt, steps, { onLogits: (l) => seen.push(l.slice()) });
    assert.equal(res.ids.length, steps);
    assert.equal(dec.position, prompt.length + steps - 1);
    const full = Int32Array.from([...prompt, ...res.ids]);
    const ref = (await engine.forward([full], { logits: true })).logits![0]!;
    for (let s = 0; s < steps; s++) {
      const pos = prompt.length - 1 + s;
      const want = ref.subarray(pos * V, (pos + 1) * V);
      let err = 0;
      let scale = 0;
      for (let i = 0; i < V; i++) {
        err = Math.max(err, Math.abs(seen[s]![i]! - want[i]!));
        scale = Math.max(scale, Math.abs(want[i]!));
      }
      assert.ok(err <= tol * scale, `${dir}: step ${s} (position ${pos}) logits differ by ${err} (scale ${scale})`);
    }
  } finally {
    await dec.close();
    await engine.close();
  }
}

const prompt = (n: number, V: number) => Int32Array.from({ length: n }, (_, i) => (i * 131 + 7) % V);

for (const name of ['llama3', 'qwen2', 'mistral', 'gemma3', 'phi3', 'phi3-partial-rotary', 'gemma2', 'granite', 'olmo2', 'mixtral']) {
  test(`kv decoder matches Engine.forward logits step by step: ${name}`, async () => {
    // 12 prompt + 6 generated positions: mistral's window (8) is crossed by both the prefill and the steps.
    await check(join(shared('fixtures/hf-golden', name), 'model'), prompt(12, 1024), 6, 1e-4);
  });
}

test('kv decoder matches Engine.forward logits step by step: wiki-28m', async () => {
  await check(shared('models/wiki-28m'), prompt(20, 50257), 5, 1e-4);
});

test('kv decoder refuses to run past its capacity', async () => {
  const dec = await KvDecoder.open(join(shared('fixtures/hf-golden', 'llama3'), 'model'), { threads: 1, capacity: 4 });
  try {
    await assert.rejects(dec.append(prompt(5, 1024)), /exceed the capacity 4/);
    await dec.append(prompt(4, 1024));
    await assert.rejects(dec.append(Int32Array.of(1)), /4 cached \+ 1 new positions exceed the capacity 4/);
  } finally {
    await dec.close();
  }
});
