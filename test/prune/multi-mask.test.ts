import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from '../../src/engine/runner.ts';
import { CompactError } from '../../src/errors.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { act2Of, calibSequences, maxRelDiff } from './prune-helpers.ts';

test('act² under K token masks in one pass equals K separate passes', async () => {
  const dir = fixtureWithTokenizer('qwen3');
  // Mixed lengths, so batches of different shapes are crossed.
  const seqs = [...calibSequences(dir, 300, 64), ...calibSequences(dir, 40, 17)];
  // Masks as the planner builds them (token id below a cut), plus all-ones and a non-binary weighting.
  const masks = [1024, 700, 400, 300].map((cut) => seqs.map((s) => Float32Array.from(s, (id) => (id < cut ? 1 : 0))));
  masks.push(seqs.map((s) => Float32Array.from(s, (_, p) => 0.5 + (p % 3))));
  const e = await Engine.open(dir, { threads: 2 });
  let one;
  try {
    one = await e.forward(seqs, { act2: true, tokenWeightSets: masks });
    await assert.rejects(e.forward(seqs, { act2: true, tokenWeightSets: masks, tokenWeights: masks[0] }), CompactError);
    await assert.rejects(e.forward(seqs, { act2: true, tokenWeightSets: [masks[0]!.slice(1)] }), /tokenWeightSets\[0\] has/);
  } finally {
    await e.close();
  }
  assert.equal(one.act2Sets!.length, masks.length);
  assert.equal(one.act2, undefined);
  for (let k = 0; k < masks.length; k++) {
    const separate = await act2Of(dir, seqs, masks[k]);
    assert.equal(one.act2Sets![k]!.length, separate.length);
    for (let l = 0; l < separate.length; l++) {
      const d = maxRelDiff(separate[l]!, one.act2Sets![k]![l]!);
      assert.ok(d < 1e-5, `mask ${k} layer ${l}: relative difference ${d}`);
    }
  }
  // The all-ones mask is plain act2.
  const plain = await act2Of(dir, seqs);
  for (let l = 0; l < plain.length; l++) assert.ok(maxRelDiff(plain[l]!, one.act2Sets![0]![l]!) < 1e-5);
});
