/**
 * wiki-28m, dense and pruned by 35%, exported to GGUF and run in llama.cpp (@fugood/llama.node):
 * greedy 32-token continuations identical to our engine's, top-5 probabilities within 1e-3
 * (F32 GGUF, f32 KV cache), and the GGUF tokenizer giving our ids on 10 KB of WikiText-2; and
 * exported to ONNX and run in transformers.js: greedy 32-token generations identical.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { toggleNativeLog } from './llama-node.ts';
import { pruneModel } from '../../src/prune/prune.ts';
import { exportGguf } from '../../src/export/gguf-export.ts';
import { Engine } from '../../src/engine/runner.ts';
import { loadTokenizer, type TextTokenizer } from '../../src/tokenizer/tokenize.ts';
import { shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { compareTop5, greedyContinuation, PROMPTS, wikitext10k } from './runtime-helpers.ts';
import { Gguf } from './llama-runtime.ts';
import { exportOnnx } from '../../src/export/onnx-export.ts';
import { checkTransformersJs, loadTransformersJs } from './transformers-runtime.ts';

const DENSE = shared('models/wiki-28m');
let PRUNED = '';
let REFIT = '';
const tmp = makeTmpDir('export-wiki');

before(async () => {
  await toggleNativeLog(false);
  PRUNED = join(tmp, 'wiki-28m-35');
  await pruneModel({
    model: DENSE,
    out: PRUNED,
    vocab: 30000,
    ffn: 855,
    calib: shared('data/text/calib-wiki.txt'),
    calibTokens: 2048,
    seqLen: 256,
    quiet: true,
  });
  // The same cut with the down_proj refit: still a standard checkpoint, only weights differ.
  REFIT = join(tmp, 'wiki-28m-35-refit');
  const refit = await pruneModel({
    model: DENSE,
    out: REFIT,
    vocab: 30000,
    ffn: 855,
    calib: shared('data/text/calib-wiki.txt'),
    calibTokens: 2048,
    seqLen: 256,
    reconstruct: true,
    quiet: true,
  });
  // Otherwise the GGUF check of this folder would pass on a plain slice too.
  const layers = refit.ffn.refit?.layers ?? [];
  assert.equal(layers.length, 8);
  for (const l of layers) assert.ok(l.fallback === null && l.loss_refit < l.loss_plain, `layer ${l.layer}: not refit (${JSON.stringify(l)})`);
});

const engines: Engine[] = [];
after(async () => {
  for (const e of engines) await e.close();
});

/** The llama.cpp checks of one model folder. */
async function checkGguf(label: string, dir: string): Promise<void> {
  const gguf = join(tmp, `${label}.gguf`);
  const report = await exportGguf(dir, gguf, { dtype: 'F32' });
  assert.equal(report.architecture, 'llama');
  assert.deepEqual(report.tokenizer, { model: 'gpt2', pre: 'gpt-2' });
  const engine = await Engine.open(dir, { threads: 2 });
  engines.push(engine);
  const tok: TextTokenizer = loadTokenizer(dir);
  const ctx = new Gguf(gguf);
  {
    // Tokenizer: identical ids on 10 KB of WikiText-2.
    const text = wikitext10k();
    const ours = Array.from(tok.encode(text));
    const theirs = await ctx.tokenize(text);
    assert.equal(theirs.length, ours.length, `${label}: token counts`);
    assert.deepEqual(theirs, ours, `${label}: GGUF tokenizer ids differ from tokenizer.json's`);

    let maxDiff = 0;
    for (const prompt of PROMPTS.slice(0, 2)) {
      const p = tok.encode(prompt);
      assert.deepEqual(await ctx.tokenize(prompt), Array.from(p));
      // Greedy identity.
      const text32 = await ctx.greedy(prompt, 32);
      const mine = await greedyContinuation(engine, p, tok.encode(text32), 32);
      assert.equal(tok.decode(mine.ids), text32, `${label}: greedy continuation of ${JSON.stringify(prompt)}`);

      // Top-5 probabilities after the prompt and after 16 generated tokens.
      const mid = tok.decode(mine.ids.slice(0, 16));
      const midIds = [...p, ...mine.ids.slice(0, 16)];
      const points: Array<[string, Float32Array]> = [[prompt, mine.row(p.length - 1)]];
      // The second point needs llama.cpp to tokenize the prefix text as our ids (BPE re-encoding
      // of generated text is usually, not always, the generated split).
      if ((await ctx.tokenize(prompt + mid)).join() === midIds.join()) points.push([prompt + mid, mine.row(midIds.length - 1)]);
      for (const [prefix, row] of points) {
        const d = compareTop5(await ctx.top5(prefix), row, tok, 1e-3, `${label}: after ${JSON.stringify(prefix)}`);
        maxDiff = Math.max(maxDiff, d);
      }
    }
    console.log(`wiki-28m ${label}: GGUF ${(report.bytes / 1e6).toFixed(1)} MB; greedy identical on 2 prompts; top-5 max |Δp| ${maxDiff.toExponential(2)}; ${ours.length} tokenizer ids identical`);
  }
}

test('GGUF F32 of wiki-28m dense runs in llama.cpp exactly as our engine', async () => {
  await checkGguf('dense', DENSE);
});

test('GGUF F32 of wiki-28m pruned 35% runs in llama.cpp exactly as our engine', async () => {
  await checkGguf('pruned', PRUNED);
});

async function checkOnnx(label: string, dir: string): Promise<void> {
  const out = join(tmp, `${label}-onnx`);
  const report = await exportOnnx(dir, out);
  const engine = await Engine.open(dir, { threads: 2 });
  engines.push(engine);
  const tok = loadTokenizer(dir);
  const tj = await loadTransformersJs(out);
  let max = 0;
  for (const prompt of PROMPTS.slice(0, 2)) max = Math.max(max, await checkTransformersJs(tj, engine, tok, prompt, 32, 1e-3));
  await tj.model.dispose();
  console.log(`wiki-28m ${label}: ONNX ${(report.bytes / 1e6).toFixed(1)} MB; transformers.js greedy identical on 2 prompts; first-step top-5 max |Δp| ${max.toExponential(2)}`);
}

test('GGUF F32 of wiki-28m pruned 35% with --reconstruct runs in llama.cpp exactly as our engine', async () => {
  await checkGguf('pruned-refit', REFIT);
});

test('ONNX of wiki-28m dense generates in transformers.js exactly as our engine', async () => {
  await checkOnnx('dense', DENSE);
});

test('ONNX of wiki-28m pruned 35% generates in transformers.js exactly as our engine', async () => {
  await checkOnnx('pruned', PRUNED);
});
