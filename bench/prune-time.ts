/**
 * Prune time: a Qwen2.5-0.5B-shaped checkpoint (random bf16 weights, the real Qwen tokenizer, a
 * config like the published one) pruned end to end by `pruneModel` at a 35% parameter reduction
 * with 32,768 calibration tokens of calib-wiki.txt, in a child process: wall time and peak RSS.
 *
 *   node --import tsx bench/prune-time.ts [--quick] [--threads N] [--reconstruct] [--calib-tokens N] [--layers N]
 *
 * `--quick` uses a tiny width (the vocabulary stays real: 151,936 rows) and 512 calibration tokens.
 * JSON: bench/results/prune-time.json (prune-time-quick.json). Headline printed last.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readModelConfig } from '../src/families/model-config.ts';
import { readCalibrationText } from '../src/prune/calibration-text.ts';
import { readTokenizerFile } from '../src/tokenizer/tokenizer-file.ts';
import { loadTokenizer } from '../src/tokenizer/tokenize.ts';
import { benchWorkDir, budgetFor, calibFile, fmt, loadavgText, machine, parseArgs, pruneInChild, writeResult } from './common.ts';
import { QWEN25_05B, writeQwen25Like, type RandomModelShape } from './models.ts';

const args = parseArgs();

async function main(): Promise<void> {
  const { quick } = args;
  // `--layers N`: the 0.5B shape with only its first N of 24 layers (a loaded machine's run; the
  // per-layer costs are the full shape's).
  const layersAt = args.rest.indexOf('--layers');
  const layers = layersAt >= 0 ? Number(args.rest[layersAt + 1]) : null;
  if (layers !== null && !(Number.isInteger(layers) && layers >= 1)) throw new Error(`--layers must be a positive integer, got ${args.rest[layersAt + 1]}`);
  const full: RandomModelShape = layers === null ? QWEN25_05B : { ...QWEN25_05B, layers };
  const shape: RandomModelShape = quick ? { ...QWEN25_05B, hidden: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128 } : full;
  // `--calib-tokens N`: fewer than the default 32,768 to fit a loaded machine (the refit's solve
  // does not depend on it; calibration and the Gram sums scale with it).
  const tokensAt = args.rest.indexOf('--calib-tokens');
  const wantTokens = tokensAt >= 0 ? Number(args.rest[tokensAt + 1]) : quick ? 512 : 32768;
  if (!(Number.isInteger(wantTokens) && wantTokens >= 1)) throw new Error(`--calib-tokens must be a positive integer, got ${args.rest[tokensAt + 1]}`);
  const seqLen = quick ? 256 : 2048;
  const target = 0.35;
  const { dir: work, cleanup } = benchWorkDir('prune');
  try {
    const model = join(work, 'qwen');
    mkdirSync(model);
    let t0 = performance.now();
    await writeQwen25Like(model, shape);
    const writeSeconds = (performance.now() - t0) / 1000;
    const { spec } = readModelConfig(model);
    const calib = calibFile(work, quick);
    const budget = budgetFor(spec, readTokenizerFile(join(model, 'tokenizer.json')).size, target);
    // The stream pruneModel builds: BOS + the text's ids. Fewer than asked → the short-calib flag.
    t0 = performance.now();
    const available = loadTokenizer(model).encode(readCalibrationText(calib)).length + 1;
    const tokenizeSeconds = (performance.now() - t0) / 1000;
    const allowShort = available < wantTokens;
    const loadBefore = loadavgText();
    const run = pruneInChild({ model, out: join(work, 'pruned'), vocab: budget.vocab, ffn: budget.ffn, calib, calibTokens: wantTokens, seqLen, allowShort, threads: args.threads, reconstruct: args.reconstruct });
    const result = {
      machine: machine(),
      loadavgBefore: loadBefore,
      quick,
      command: `npm run bench -- --only prune${quick ? ' --quick' : ''}${args.reconstruct ? ' --reconstruct' : ''}${tokensAt >= 0 ? ` --calib-tokens ${wantTokens}` : ''}${layers !== null ? ` --layers ${layers}` : ''}`,
      reconstruct: args.reconstruct,
      shape,
      target,
      budget,
      calibText: 'calib-wiki.txt',
      calibTokensAvailable: available,
      allowShortCalib: allowShort,
      seqLen,
      writeModelSeconds: writeSeconds,
      tokenizeCalibSeconds: tokenizeSeconds,
      run,
    };
    writeResult(`prune-time${args.reconstruct ? '-reconstruct' : ''}${tokensAt >= 0 ? `-${wantTokens}-tokens` : ''}${layers !== null ? `-${layers}-layers` : ''}`, quick, result);
    const limit = 240;
    console.log(
      `\nprune bench${quick ? ' (--quick shapes)' : ''}: Qwen2.5-0.5B-shaped (${shape.layers} layers, hidden ${shape.hidden}) → V′ ${run.vocab}, I′ ${run.ffn} ` +
        `(${fmt(100 * run.reduction, 1)}% fewer params), ${run.calibTokens} calibration tokens${allowShort ? ' (short text: all it has)' : ''}, ${args.threads} threads, load ${loadBefore}`,
    );
    console.log(`  calibration ${fmt(run.calibrationSeconds, 1)} s (${fmt(run.calibrationTokensPerSecond ?? 0)} tokens/s through all layers)`);
    console.log(`prune: ${fmt(run.wallSeconds, 1)} s wall (${fmt(run.cpuSeconds, 1)} s CPU), peak RSS ${fmt(run.maxRssMiB)} MiB${quick ? '' : run.wallSeconds <= limit ? ' (target < 4 min: met)' : ' (target < 4 min: NOT met)'}`);
  } finally {
    cleanup();
  }
}

await main();
