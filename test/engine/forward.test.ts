/**
 * Forward-pass behaviour beyond the goldens: masked act², log-probabilities, sequences of
 * different lengths, stopping early, lm_head chunking, f16 precision, determinism.
 * Uses the small hf-golden fixtures (llama3: tied, GQA; mistral: sliding window, untied).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Engine } from '../../src/engine/runner.ts';
import { shared } from '../helpers/paths.ts';
import { concat, goldenAct2, readGolden, relErr, type Golden } from './golden-data.ts';

const V = 1024;

/** log_softmax of golden logits row (f64), at `target`. */
function goldenLogprob(g: Golden, seq: number, pos: number, target: number): number {
  const S = g.ids[0]!.length;
  const row = g.logits.subarray((seq * S + pos) * V, (seq * S + pos + 1) * V);
  let max = -Infinity;
  for (const x of row) max = Math.max(max, x);
  let sum = 0;
  for (const x of row) sum += Math.exp(x - max);
  return row[target]! - max - Math.log(sum);
}

/** Layer `layer`'s upper-triangle Gram tiles (16 wide) summed into a dense [I × I] float64 matrix. */
async function layerGram(engine: Engine, ids: Int32Array[], layer: number, I: number): Promise<Float64Array> {
  const tile = 16;
  const G = new Float64Array(I * I);
  await engine.forward(ids, {
    lastLayer: layer,
    gram: {
      tile,
      add(l, _e, i, j, block) {
        if (l !== layer) return;
        const ri = Math.min(tile, I - i * tile);
        const cj = block.length / ri;
        for (let a = 0; a < ri; a++) for (let b = 0; b < cj; b++) G[(i * tile + a) * I + j * tile + b]! += block[a * cj + b]!;
      },
    },
  });
  return G;
}

for (const name of ['llama3', 'mistral']) {
  describe(`forward ${name}`, () => {
    const root = shared('fixtures/hf-golden', name);
    let g: Golden;
    let engine: Engine;
    before(async () => {
      g = await readGolden(root);
      engine = await Engine.open(join(root, 'model'), { threads: 1, headChunkRows: 7 });
    });
    after(async () => engine?.close());

    test('act2 with a 0/1 token mask equals the masked sum of golden act2', async () => {
      const S = g.ids[0]!.length;
      // Keep tokens whose id is even, plus every 3rd position: an irregular mask over both sequences.
      const mask = g.ids.map((ids) => Float32Array.from(ids, (id, p) => (id % 2 === 0 || p % 3 === 0 ? 1 : 0)));
      const r = await engine.forward(g.ids, { act2: true, tokenWeights: mask, lastLayer: 1 });
      assert.equal(r.act2!.length, 2, 'lastLayer 1 → two layers');
      for (let l = 0; l < 2; l++) {
        const want = goldenAct2(g, l, (t) => mask[Math.floor(t / S)]![t % S]!);
        const e = relErr(r.act2![l]!, want);
        assert.ok(e <= 1e-4, `layer ${l}: rel err ${e}`);
      }
    });

    test('logprobs of targets equal log_softmax of golden logits; −1 targets give NaN (chunks of 7 rows)', async () => {
      const targets = g.ids.map((ids) => Int32Array.from(ids, (_, p) => (p + 1 < ids.length ? ids[p + 1]! : -1)));
      targets[0]![5] = -1;
      const r = await engine.forward(g.ids, { targets });
      let worst = 0;
      for (let s = 0; s < 2; s++) {
        for (let p = 0; p < targets[s]!.length; p++) {
          const t = targets[s]![p]!;
          const got = r.logprobs![s]![p]!;
          if (t < 0) {
            assert.ok(Number.isNaN(got), `NaN expected at ${s},${p}`);
            continue;
          }
          worst = Math.max(worst, Math.abs(got - goldenLogprob(g, s, p, t)));
        }
      }
      assert.ok(worst < 1e-4, `max abs logprob err ${worst}`);
    });

    test('argmax at targeted positions equals the argmax of golden logits, in both head paths', async () => {
      const targets = g.ids.map((ids) => Int32Array.from(ids, (_, p) => (p % 4 === 1 ? -1 : 0)));
      const S = g.ids[0]!.length;
      // Targets only (the head runs on targeted rows), and with hidden states (every row).
      for (const hidden of [false, true]) {
        const r = await engine.forward(g.ids, { targets, argmax: true, hidden });
        let checked = 0;
        for (let s = 0; s < 2; s++) {
          for (let p = 0; p < S; p++) {
            const got = r.argmax![s]![p]!;
            if (targets[s]![p]! < 0) {
              assert.equal(got, -1, `untargeted ${s},${p}`);
              continue;
            }
            const row = g.logits.subarray((s * S + p) * V, (s * S + p + 1) * V);
            const order = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]! || a - b);
            // A near-tie in float64 may flip in float32: only clear winners are compared.
            if (row[order[0]!]! - row[order[1]!]! < 1e-3) continue;
            assert.equal(got, order[0], `hidden=${hidden} ${s},${p}`);
            checked++;
          }
        }
        assert.ok(checked > S, `only ${checked} positions had a clear argmax`);
      }
      await assert.rejects(engine.forward(g.ids, { argmax: true }), /give targets/);
    });

    test('sequences of different lengths: each matches its prefix of the golden run', async () => {
      const short = g.ids[0]!.slice(0, 23);
      const full = g.ids[1]!;
      const r = await engine.forward([full, short, short], { logits: true });
      const S = g.ids[0]!.length;
      assert.ok(relErr(r.logits![0]!, g.logits.subarray(S * V, 2 * S * V)) <= 1e-4);
      const want = g.logits.subarray(0, 23 * V);
      assert.ok(relErr(r.logits![1]!, want) <= 1e-4);
      assert.deepEqual(r.logits![2], r.logits![1]);
      assert.equal(r.tokens, 40 + 23 + 23);
    });

    test('deterministic: two runs give identical bits', async () => {
      const a = await engine.forward(g.ids, { act2: true, logits: true });
      const b = await engine.forward(g.ids, { act2: true, logits: true });
      assert.deepEqual(a.act2, b.act2);
      assert.deepEqual(a.logits, b.logits);
    });

    test('the FFN in row blocks of 7 (crossing the sequence boundary) gives the golden logits, hidden states, masked act² and Gram matrix', async () => {
      const blocked = await Engine.open(join(root, 'model'), { threads: 1, ffnRowBlock: 7 });
      try {
        const S = g.ids[0]!.length;
        const mask = g.ids.map((ids) => Float32Array.from(ids, (id, p) => (id % 3 === 0 || p % 5 === 0 ? 1 : 0)));
        const r = await blocked.forward(g.ids, { act2: true, tokenWeights: mask, hidden: true, logits: true });
        assert.ok(relErr(concat(r.logits!), g.logits) <= 1e-4, 'logits');
        for (let l = 0; l < r.act2!.length; l++) {
          const e = relErr(r.act2![l]!, goldenAct2(g, l, (t) => mask[Math.floor(t / S)]![t % S]!));
          assert.ok(e <= 1e-4, `act2 layer ${l}: rel err ${e}`);
        }
        // The Gram tiles of layer 1: blocked rows against one block, and diag(G) against the golden act².
        const I = g.act2Shape[2]!;
        const got = await layerGram(blocked, g.ids, 1, I);
        const plain = await layerGram(engine, g.ids, 1, I);
        assert.ok(relErr(Float32Array.from(got), plain) <= 1e-5, 'Gram tiles of blocked vs unblocked rows');
        // The diagonal of G is Σ_t a_t²: the golden act² of that layer.
        const diag = Float32Array.from({ length: I }, (_, i) => got[i * I + i]!);
        assert.ok(relErr(diag, goldenAct2(g, 1)) <= 1e-4, 'diag(G) = golden act²');
      } finally {
        await blocked.close();
      }
    });

    test('progress is reported once per layer', async () => {
      const seen: number[] = [];
      await engine.forward(g.ids, { act2: true }, (p) => {
        assert.equal(p.layers, 3);
        assert.equal(p.tokens, 80);
        seen.push(p.layer);
      });
      assert.deepEqual(seen, [0, 1, 2]);
    });
  });
}

describe('forward precision f16', () => {
  test('gemma3 logits and act2 stay within 1e-2 relative of the float64 reference', async () => {
    const root = shared('fixtures/hf-golden', 'gemma3');
    const g = await readGolden(root);
    const engine = await Engine.open(join(root, 'model'), { threads: 1, precision: 'f16' });
    try {
      const r = await engine.forward(g.ids, { act2: true, logits: true });
      const e = relErr(concat(r.logits!), g.logits);
      console.log(`# gemma3 f16 logits max rel err ${e.toExponential(2)}`);
      assert.ok(e < 1e-2, `logits rel err ${e}`);
      for (let l = 0; l < r.act2!.length; l++) assert.ok(relErr(r.act2![l]!, goldenAct2(g, l)) < 1e-2, `act2 layer ${l}`);
    } finally {
      await engine.close();
    }
  });
});
