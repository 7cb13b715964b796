/**
 * The benches' (V′, I′) rule with aligned widths (bench/common.ts budgetFor's ffnMultiple), checked
 * against countParams directly: I′ lands on the multiple nearest the exact rule's I′, and V′ is
 * re-solved so the reduction is the target to within half a vocabulary row; multiple 1 is the exact
 * rule unchanged. Shapes: wiki-28m (multiple 128 by default) and Qwen2.5-0.5B (256, tied embeddings).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { budgetFor } from '../../bench/common.ts';
import { QWEN25_05B, qwen25Config } from '../../bench/models.ts';
import { readModelConfig, resolveSpec } from '../../src/families/model-config.ts';
import { defaultFfnMultiple } from '../../src/prune/budget.ts';
import { countParams } from '../../src/report/params.ts';
import type { ModelSpec } from '../../src/families/types.ts';
import { shared } from '../helpers/paths.ts';

function check(spec: ModelSpec, tokenizerSize: number): void {
  const m = defaultFfnMultiple(spec.intermediate);
  const before = countParams(spec).total_params;
  const row = before - countParams(spec, { vocab: spec.vocabSize - 1, intermediate: spec.intermediate }).total_params;
  for (const target of [0.2, 0.35]) {
    const exact = budgetFor(spec, tokenizerSize, target);
    assert.deepEqual(budgetFor(spec, tokenizerSize, target, 1), exact);
    const a = budgetFor(spec, tokenizerSize, target, m);
    assert.equal(a.ffn % m, 0, `I′ ${a.ffn} is not a multiple of ${m}`);
    assert.ok(Math.abs(a.ffn - exact.ffn) <= m / 2, `I′ ${a.ffn} is not the multiple of ${m} nearest ${exact.ffn}`);
    const after = countParams(spec, { vocab: a.vocab, intermediate: a.ffn }).total_params;
    assert.ok(Math.abs(before * (1 - target) - after) <= row / 2, `R ${1 - after / before} is more than half a row from ${target}`);
    assert.ok(Math.abs(a.reduction - (1 - after / before)) < 1e-12);
    assert.ok(a.vocab <= tokenizerSize);
  }
}

test('budgetFor with ffnMultiple: aligned I′, V′ re-solved for the same reduction (wiki-28m)', () => {
  const { spec } = readModelConfig(shared('models/wiki-28m'));
  assert.equal(defaultFfnMultiple(spec.intermediate), 128);
  check(spec, 50257);
});

test('budgetFor with ffnMultiple: Qwen2.5-0.5B shape (tied embeddings, multiple 256)', () => {
  const spec = resolveSpec(qwen25Config(QWEN25_05B), join('qwen', 'config.json'));
  assert.equal(defaultFfnMultiple(spec.intermediate), 256);
  check(spec, 151665);
});
