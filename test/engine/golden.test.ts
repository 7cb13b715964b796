/**
 * The engine against transformers' own float64 outputs for every family fixture
 * (../shared/fixtures/hf-golden): logits, all hidden states, and act² summed over tokens.
 * Errors are max|a − b| / max|b| over the whole array.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Engine, type ForwardResult } from '../../src/engine/runner.ts';
import { GOLDEN_CASES, shared } from '../helpers/paths.ts';
import { concat, goldenAct2, readGolden, relErr, type Golden } from './golden-data.ts';

const TOL = 1e-4;
// Max relative errors measured on the reference machine (f32 engine vs transformers float64):
// logits 2.8e-7–6.2e-7, hidden states 1.9e-7–6.7e-7, act2 4.2e-7–8.1e-7 across the thirteen cases (mixtral: 4.4e-7, 3.7e-7, 5.3e-7; act² per expert)
// (printed as "# <case> … max rel err" lines).

for (const name of GOLDEN_CASES) {
  describe(`golden ${name}`, () => {
    const root = shared('fixtures/hf-golden', name);
    let engine: Engine;
    let g: Golden;
    let r: ForwardResult;
    before(async () => {
      g = await readGolden(root); // its one safetensors file is golden.safetensors
      engine = await Engine.open(join(root, 'model'), { threads: 1 });
      r = await engine.forward(g.ids, { act2: true, hidden: true, logits: true });
    });
    after(async () => engine?.close());

    test('logits match transformers (bound 1e-4 relative; measured ≤ 6.2e-7)', () => {
      const e = relErr(concat(r.logits!), g.logits);
      console.log(`# ${name} logits max rel err ${e.toExponential(2)}`);
      assert.ok(e <= TOL, `logits rel err ${e}`);
    });

    test('hidden states match transformers (bound 1e-4 relative per state; measured ≤ 6.7e-7)', () => {
      const [states, N, D] = g.hiddenShape as [number, number, number];
      assert.equal(r.hidden!.length, states);
      let worst = 0;
      for (let s = 0; s < states; s++) {
        const e = relErr(concat(r.hidden![s]!), g.hidden.subarray(s * N * D, (s + 1) * N * D));
        worst = Math.max(worst, e);
        assert.ok(e <= TOL, `state ${s} rel err ${e}`);
      }
      console.log(`# ${name} hidden max rel err ${worst.toExponential(2)}`);
    });

    test('act2 summed over tokens matches transformers (bound 1e-4 relative per layer; measured ≤ 8.1e-7)', () => {
      const L = g.act2Shape[0]!;
      assert.equal(r.act2!.length, L);
      let worst = 0;
      for (let l = 0; l < L; l++) {
        const e = relErr(r.act2![l]!, goldenAct2(g, l));
        worst = Math.max(worst, e);
        assert.ok(e <= TOL, `layer ${l} rel err ${e}`);
      }
      console.log(`# ${name} act2 max rel err ${worst.toExponential(2)}`);
    });
  });
}
