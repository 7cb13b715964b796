import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { scoreVariants, type Variant } from '../../src/engine/candidate-pass.ts';
import { Engine } from '../../src/engine/runner.ts';
import { readModelConfig } from '../../src/families/model-config.ts';
import { tensorName } from '../../src/families/templates.ts';
import { shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { readTensors, writeTensors } from '../prune/prune-helpers.ts';

/** Σ −log p over the windows, by the engine on a checkpoint folder. */
async function engineNll(dir: string, inputs: Int32Array[], targets: Int32Array[]): Promise<number> {
  const e = await Engine.open(dir, { threads: 2 });
  try {
    const r = await e.forward(inputs, { targets });
    return r.logprobs!.reduce((a, lp) => a - lp.reduce((x, y) => (Number.isNaN(y) ? x : x + y), 0), 0); // NaN: not a target
  } finally {
    await e.close();
  }
}

test('down_proj hook: the plain slice changes nothing; replaced columns score as a checkpoint holding them', async () => {
  const src = shared('fixtures/hf-golden/llama3/model');
  const { spec } = readModelConfig(src);
  const inputs = [Int32Array.from({ length: 24 }, (_, i) => (i * 53 + 7) % spec.vocabSize), Int32Array.from({ length: 9 }, (_, i) => (i * 11 + 3) % spec.vocabSize)];
  const targets = inputs.map((w) => Int32Array.from(w, (_, i) => w[(i + 1) % w.length]!));
  const rows = Int32Array.from({ length: spec.vocabSize }, (_, i) => i);
  const all = Array.from({ length: spec.layers }, () => Int32Array.from({ length: spec.intermediate }, (_, i) => i));
  const base: Variant = { rows, channels: all, texts: [{ inputs, targets }] };
  const dense = await engineNll(src, inputs, targets);
  const half = (d: Float32Array) => Float32Array.from(d, (x) => x * 0.5);
  const [plain, hooked, sliced] = await scoreVariants(src, [
    base,
    { ...base, downProj: async (_l, _ch, d) => half(d) },
    { ...base, downProj: async () => null },
  ], { threads: 2 });
  assert.ok(Math.abs(plain!.texts[0]!.nll - dense) < 1e-4 * Math.abs(dense), `${plain!.texts[0]!.nll} vs ${dense}`);
  assert.equal(sliced!.texts[0]!.nll, plain!.texts[0]!.nll);
  assert.equal(plain!.texts[0]!.tokens, 33);
  // The same edit written to disk and run by the engine.
  const dir = join(makeTmpDir('hook'), 'model');
  cpSync(src, dir, { recursive: true });
  const tensors = await readTensors(dir);
  const down = spec.family.layer.find((t) => t.role === 'down')!;
  for (let l = 0; l < spec.layers; l++) {
    const t = tensors.get(tensorName(down, l))!;
    t.data = half(t.data);
  }
  await writeTensors(dir, tensors);
  const edited = await engineNll(dir, inputs, targets);
  assert.ok(Math.abs(hooked!.texts[0]!.nll - edited) < 1e-4 * Math.abs(edited), `${hooked!.texts[0]!.nll} vs ${edited}`);
  assert.ok(Math.abs(edited - dense) > 1e-3 * Math.abs(dense), 'the edit matters');
});

for (const name of ['llama3', 'gemma2']) {
  test(`${name}: the lm_head in blocks of 37 rows scores as the engine's whole head; widths in any order score as alone`, async () => {
    const src = shared(`fixtures/hf-golden/${name}/model`);
    const { spec } = readModelConfig(src);
    const inputs = [Int32Array.from({ length: 20 }, (_, i) => (i * 53 + 7) % spec.vocabSize), Int32Array.from({ length: 7 }, (_, i) => (i * 11 + 3) % spec.vocabSize)];
    const targets = inputs.map((w) => Int32Array.from(w, (_, i) => (i === 3 ? -1 : w[(i + 1) % w.length]!)));
    const rows = Int32Array.from({ length: spec.vocabSize }, (_, i) => i);
    const dense = await engineNll(src, inputs, targets);
    const full: Variant = { rows, channels: null, texts: [{ inputs, targets }] };
    const [blocked] = await scoreVariants(src, [full], { threads: 2, headBlockRows: 37 });
    const [whole] = await scoreVariants(src, [full], { threads: 2 });
    assert.equal(blocked!.texts[0]!.tokens, 25);
    // Gemma 2 soft-caps the logits: the cap applies per logit, so per block.
    assert.ok(Math.abs(blocked!.texts[0]!.nll - dense) < 1e-5 * Math.abs(dense), `${blocked!.texts[0]!.nll} vs engine ${dense}`);
    assert.ok(Math.abs(whole!.texts[0]!.nll - dense) < 1e-5 * Math.abs(dense), `${whole!.texts[0]!.nll} vs engine ${dense}`);
    const keep = (n: number) => Array.from({ length: spec.layers }, (_, l) => Int32Array.from({ length: n }, (_, i) => (i * 3 + l) % spec.intermediate).sort());
    const narrow: Variant = { rows, channels: keep(Math.floor(spec.intermediate / 4)), texts: [{ inputs, targets }] };
    const wide: Variant = { rows, channels: keep(Math.floor(spec.intermediate / 3)), texts: [{ inputs, targets }] };
    const together = await scoreVariants(src, [narrow, wide, narrow], { threads: 2, headBlockRows: 37 });
    const [alone] = await scoreVariants(src, [narrow], { threads: 2, headBlockRows: 37 });
    assert.equal(together[0]!.texts[0]!.nll, alone!.texts[0]!.nll);
    assert.equal(together[2]!.texts[0]!.nll, alone!.texts[0]!.nll);
    assert.notEqual(together[1]!.texts[0]!.nll, alone!.texts[0]!.nll);
  });
}
