/**
 * wiki-28m (stored bf16) exported as BF16 and F16 GGUF — the types people ship — and run in
 * llama.cpp. BF16 keeps every weight bit; F16 rounds bf16 values exactly too (8 mantissa bits fit
 * in 10) except magnitudes below F16's normal range. llama.cpp's CPU kernels round the
 * activations to the weight type before each matmul, so probabilities move a little from our f32
 * engine's: the bounds below are measured (1.5e-3 BF16, 3.7e-4 F16 on 2026-11-22) with margin, far below what a wrong tensor layout,
 * byte order or type tag does (probabilities of unrelated tokens, greedy text diverging at once).
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { toggleNativeLog } from './llama-node.ts';
import { exportGguf } from '../../src/export/gguf-export.ts';
import { Engine } from '../../src/engine/runner.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenize.ts';
import { shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { compareTop5, greedyContinuation, PROMPTS } from './runtime-helpers.ts';
import { Gguf } from './llama-runtime.ts';

const DENSE = shared('models/wiki-28m');

before(async () => {
  await toggleNativeLog(false);
});

for (const [dtype, tol] of [['BF16', 5e-3], ['F16', 2e-3]] as const) {
  test(`wiki-28m as ${dtype} GGUF in llama.cpp: greedy text and top-5 probabilities agree with our engine (|Δp| < ${tol})`, async () => {
    const gguf = join(makeTmpDir(`gguf-${dtype}`), 'm.gguf');
    const report = await exportGguf(DENSE, gguf, { dtype });
    assert.equal(report.dtype, dtype);
    const tok = loadTokenizer(DENSE);
    const engine = await Engine.open(DENSE, { threads: 2 });
    const ctx = new Gguf(gguf);
    try {
      let maxDiff = 0;
      let agreed = 0;
      for (const prompt of PROMPTS) {
        const p = tok.encode(prompt);
        const text = await ctx.greedy(prompt, 16);
        const mine = await greedyContinuation(engine, p, tok.encode(text), 16);
        const ours = tok.decode(mine.ids);
        // Rounded activations may flip a near-tie late in a continuation; the first 8 tokens must agree.
        let k = 0;
        while (k < mine.ids.length && text.startsWith(tok.decode(mine.ids.slice(0, k + 1)))) k++;
        assert.ok(k >= 8, `${dtype}: greedy continuation of ${JSON.stringify(prompt)}: llama.cpp ${JSON.stringify(text)}, engine ${JSON.stringify(ours)}`);
        agreed += k;
        maxDiff = Math.max(maxDiff, compareTop5(await ctx.top5(prompt), mine.row(p.length - 1), tok, tol, `${dtype}: after ${JSON.stringify(prompt)}`));
      }
      console.log(`${dtype}: ${agreed}/${16 * PROMPTS.length} greedy tokens agree, top-5 max |Δp| ${maxDiff.toExponential(2)}`);
    } finally {
      await engine.close();
    }
  });
}
