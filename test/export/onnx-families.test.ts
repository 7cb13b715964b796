/**
 * Every golden fixture family exported to ONNX and run in transformers.js: greedy generation
 * identical to our engine's greedy decode, first-step top-5 probabilities within 1e-3. Covers
 * llama3 rope scaling, untied heads, Qwen2 biases, Qwen3 q/k norm, Mistral's sliding window over
 * the KV cache (40 tokens through a window of 8) and Gemma 3 (1-based position_ids, two ropes,
 * sandwich norms, per-layer windows).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { exportOnnx } from '../../src/export/onnx-export.ts';
import { Engine } from '../../src/engine/runner.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenize.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { readModelConfig } from '../../src/families/model-config.ts';
import { GOLDEN_CASES, shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { checkTransformersJs, loadTransformersJs } from './transformers-runtime.ts';

// Mixtral has no transformers.js model type: its refusal is checked below.
const ONNX_CASES = GOLDEN_CASES.filter((c) => readModelConfig(shared('fixtures/hf-golden', c, 'model')).spec.family.formats.onnx);

test('Mixtral: the ONNX export refuses in one line naming why (no transformers.js model type)', async () => {
  const dir = fixtureWithTokenizer('mixtral');
  const out = join(makeTmpDir('onnx-mixtral'), 'onnx-export');
  await assert.rejects(exportOnnx(dir, out), /^CompactError: .*config\.json: MixtralForCausalLM cannot be exported to ONNX: transformers\.js has no mixtral model type; supported: [^\n]*$/);
});

for (const name of ONNX_CASES) {
  test(`ONNX of the ${name} fixture generates in transformers.js as our engine does`, async () => {
    const dir = fixtureWithTokenizer(name);
    const out = join(makeTmpDir(`onnx-${name}`), 'onnx-export');
    const report = await exportOnnx(dir, out);
    assert.deepEqual(report.files.sort(), ['config.json', 'generation_config.json', 'onnx/model.onnx', 'tokenizer.json', 'tokenizer_config.json']);
    const engine = await Engine.open(dir, { threads: 2 });
    const tok = loadTokenizer(dir);
    const tj = await loadTransformersJs(out);
    try {
      let max = 0;
      for (const prompt of ['The history of the city', 'She was born in a small']) {
        max = Math.max(max, await checkTransformersJs(tj, engine, tok, prompt, 32, 1e-3));
      }
      console.log(`${name}: ONNX (${report.modelType}) greedy identical in transformers.js; first-step top-5 max |Δp| ${max.toExponential(2)}`);
    } finally {
      await tj.model.dispose();
      await engine.close();
    }
  });
}
