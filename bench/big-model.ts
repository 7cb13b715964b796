/**
 * Bigger than RAM: a Llama-3.1-8B-shaped checkpoint (hidden 4096, 32 layers, 32/8 heads, head_dim
 * 128, FFN 14336, 128,256 rows, untied, bf16, llama3 rope scaling: 16 GB in 5 GB shards, with the
 * real Llama-3 tokenizer) generated into a temporary folder, pruned by `pruneModel` at 35% with a
 * small calibration set (2 × 512 tokens) in a child process: wall time and peak RSS (target < 2 GB;
 * the page cache is not RSS). Two more children give the per-layer figures behind the 70B
 * projection in docs/performance.md: a calibration pass timed layer by layer, and the bare
 * read + bf16→f32 conversion of layers.
 *
 *   node --import tsx bench/big-model.ts [--quick] [--threads N] [--keep-going] [--reconstruct] [--layers N] [--calib-tokens N] [--calib-precision int8]
 *
 * `--calib-tokens N`: the full-size run (issue #19 item 4): N calibration tokens in windows of
 * the default 2,048 (`compact prune`'s defaults are 32,768 and 2,048) instead of 2 × 512.
 *
 * The folder is removed afterwards whatever happens (finally, and on SIGINT/SIGTERM). Free space
 * is checked first: the run needs the model + the pruned output (~27 GB at full size).
 * `--quick`: a 2-layer, hidden-64 model with the real 128,256-row vocabulary, in small shards.
 * JSON: bench/results/big-model.json (big-model-quick.json).
 */
import { mkdirSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelConfig } from '../src/families/model-config.ts';
import { DEFAULT_SEQ_LEN } from '../src/prune/prune.ts';
import { countParams } from '../src/report/params.ts';
import { project } from './projection.ts';
import { BENCH_DIR, benchWorkDir, budgetFor, calibFile, copyTokenizer, fmt, loadavgText, machine, median, parseArgs, pruneInChild, runChild, writeResult } from './common.ts';
import { LLAMA31_70B, LLAMA31_8B, llama31Config, writeFastRandomModel, type RandomModelShape } from './models.ts';

const args = parseArgs();
const { quick } = args;
const PROFILE = join(BENCH_DIR, 'layer-profile-child.ts');
const RSS_TARGET_MIB = 2 * 1024;

// `--layers N`: the 8B shape with only its first N layers (every tensor full size): peak RSS is
// per layer (flat from the second on), so a short run measures it in a fraction of the time.
const layersAt = args.rest.indexOf('--layers');
const layers = layersAt >= 0 ? Number(args.rest[layersAt + 1]) : null;
if (layers !== null && !(Number.isInteger(layers) && layers >= 2)) throw new Error(`--layers must be an integer ≥ 2, got ${args.rest[layersAt + 1]}`);
const full: RandomModelShape = layers === null ? LLAMA31_8B : { ...LLAMA31_8B, layers };
const shape: RandomModelShape = quick ? { ...LLAMA31_8B, hidden: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128 } : full;
const maxShardBytes = quick ? 8e6 : 5e9;
const precisionAt = args.rest.indexOf('--calib-precision');
const calibPrecision = precisionAt >= 0 ? args.rest[precisionAt + 1] : undefined;
if (calibPrecision !== undefined && calibPrecision !== 'int8' && calibPrecision !== 'f32') throw new Error(`--calib-precision must be f32 or int8, got ${calibPrecision}`);
const tokensAt = args.rest.indexOf('--calib-tokens');
const calibTokens = tokensAt >= 0 ? Number(args.rest[tokensAt + 1]) : null;
if (calibTokens !== null && !(Number.isInteger(calibTokens) && calibTokens >= 2048)) throw new Error(`--calib-tokens must be an integer ≥ 2048, got ${args.rest[tokensAt + 1]}`);
const seqLen = calibTokens !== null ? DEFAULT_SEQ_LEN : quick ? 64 : 512;
const sequences = calibTokens !== null ? Math.ceil(calibTokens / seqLen) : 2;
// The per-layer profile (and the 70B projection built on it) keeps the 2 × 512 tokens it always had.
const PROFILE_SEQS = 2;
const PROFILE_LEN = quick ? 64 : 512;
const target = 0.35;

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return Number(s.bavail) * Number(s.bsize);
}

const root = tmpdir();
const paramsBefore = 2 * (shape.vocab * shape.hidden * (shape.tied ? 1 : 2) + shape.layers * (2 * shape.hidden * shape.heads * shape.headDim + 2 * shape.hidden * shape.kvHeads * shape.headDim + 3 * shape.hidden * shape.intermediate));
const needBytes = paramsBefore * (2 - target) + 2 ** 30; // model + pruned copy + 1 GiB margin
const free = freeBytes(root);
if (free < needBytes) {
  console.log(`big-model: SKIPPED — ${root} has ${fmt(free / 1e9, 1)} GB free, the run needs ${fmt(needBytes / 1e9, 1)} GB`);
  process.exit(0);
}

const { dir: work, cleanup } = benchWorkDir('big');
try {
  const model = join(work, 'model');
  mkdirSync(model);
  const loadBefore = loadavgText();
  let t0 = performance.now();
  const bytes = writeFastRandomModel(model, shape, llama31Config(shape), maxShardBytes);
  copyTokenizer('tokenizer-llama3', model);
  const genSeconds = (performance.now() - t0) / 1000;
  console.error(`big-model: wrote ${fmt(bytes / 1e9, 2)} GB in ${fmt(genSeconds, 1)} s`);

  const { spec } = readModelConfig(model);
  const budget = budgetFor(spec, spec.vocabSize, target);
  const profileLayers = Math.min(4, spec.layers);
  const load = runChild<{ loadMs: number[]; maxRssMiB: number }>(PROFILE, [JSON.stringify({ mode: 'load', dir: model, layers: profileLayers, threads: args.threads })]);
  console.error(`big-model: layer load (read + bf16→f32) ${load.loadMs.map((x) => fmt(x)).join(', ')} ms`);
  const fwd = runChild<{ openRssMiB: number; maxRssMiB: number; seconds: number; tokens: number; layerMs: number[]; layerRssMiB: number[] }>(PROFILE, [
    JSON.stringify({ mode: 'forward', dir: model, sequences: PROFILE_SEQS, seqLen: PROFILE_LEN, lastLayer: profileLayers - 1, threads: args.threads }),
  ]);
  console.error(`big-model: calibration pass over ${profileLayers} layers ${fmt(fwd.seconds, 1)} s, peak RSS ${fmt(fwd.maxRssMiB)} MiB`);

  t0 = performance.now();
  const run = pruneInChild({
    model,
    out: join(work, 'pruned'),
    vocab: budget.vocab,
    ffn: budget.ffn,
    calib: calibFile(work, quick),
    calibTokens: calibTokens ?? sequences * seqLen,
    seqLen,
    allowShort: false,
    threads: args.threads,
    maxShardBytes,
    progress: !quick,
    reconstruct: args.reconstruct,
    calibPrecision: calibPrecision as 'f32' | 'int8' | undefined,
  });
  const layerParams = countParams(spec).attention_params / spec.layers + countParams(spec).ffn_params / spec.layers;
  const result = {
    machine: machine(),
    loadavgBefore: loadBefore,
    loadavgAfter: loadavgText(),
    quick,
    command: `npm run bench -- --only big${quick ? ' --quick' : ''}${args.reconstruct ? ' --reconstruct' : ''}${layers !== null ? ` --layers ${layers}` : ''}${calibTokens !== null ? ` --calib-tokens ${calibTokens}` : ''}${calibPrecision ? ` --calib-precision ${calibPrecision}` : ''}`,
    reconstruct: args.reconstruct,
    calibPrecision: calibPrecision ?? 'f32',
    shape,
    checkpointBytes: bytes,
    generateSeconds: genSeconds,
    generateGBps: bytes / 1e9 / genSeconds,
    budget,
    calibration: { sequences, seqLen, tokens: calibTokens ?? sequences * seqLen },
    prune: run,
    profile: {
      layerParams,
      layerF32MiB: (layerParams * 4) / 2 ** 20,
      loadMsPerLayer: median(load.loadMs),
      loadMs: load.loadMs,
      forwardLayers: profileLayers,
      forwardSeconds: fwd.seconds,
      forwardMaxRssMiB: fwd.maxRssMiB,
      forwardOpenRssMiB: fwd.openRssMiB,
      layerMsMedian: median(fwd.layerMs),
      layerMs: fwd.layerMs,
      layerRssMiB: fwd.layerRssMiB,
    },
    rssTargetMiB: RSS_TARGET_MIB,
    projection70b: quick || layers !== null
      ? null
      : (() => {
          const p = project(shape, LLAMA31_70B, {
            openRssMiB: fwd.openRssMiB,
            forwardMaxRssMiB: fwd.maxRssMiB,
            layerMs: median(fwd.layerMs),
            loadMs: median(load.loadMs),
            pruneWallSeconds: run.wallSeconds,
            calibrationSeconds: run.calibrationSeconds,
          });
          return { ...p, largestTensorGiB: p.largestTensorGiB(run.vocab / shape.vocab) };
        })(),
  };
  writeResult(`big-model${args.reconstruct ? '-reconstruct' : ''}${layers !== null ? `-${layers}-layers` : ''}${calibTokens !== null ? `-${calibTokens}-tokens` : ''}${calibPrecision === 'int8' ? '-int8' : ''}`, quick, result);
  console.log(
    `\nbig-model bench${quick ? ' (--quick shapes)' : ''}: Llama-3.1-8B-shaped${layers !== null ? ` (first ${layers} of 32 layers)` : ''}, ${fmt(bytes / 1e9, 1)} GB bf16 (generated in ${fmt(genSeconds)} s), ${args.threads} threads, load ${loadBefore}`,
  );
  console.log(
    `  per layer (${fmt(layerParams / 1e6)} M params, ${fmt(result.profile.layerF32MiB)} MiB in f32): read+convert ${fmt(result.profile.loadMsPerLayer)} ms, ` +
      `calibration pass ${fmt(result.profile.layerMsMedian)} ms at ${PROFILE_SEQS}×${PROFILE_LEN} tokens; peak RSS of a ${profileLayers}-layer pass ${fmt(fwd.maxRssMiB)} MiB`,
  );
  if (result.projection70b) {
    const p = result.projection70b;
    console.log(
      `  70B projection: ${fmt(p.layerF32GiB, 2)} GiB f32 per layer → calibration peak RSS ≈ ${fmt(p.calibrationPeakRssGiB, 1)} GiB, ` +
        `≈ ${fmt(p.layerSeconds, 1)} s per layer, prune ≈ ${fmt(p.totalMinutes)} min (calibration ${fmt(p.calibrationMinutes)} min)`,
    );
  }
  const met = run.maxRssMiB <= RSS_TARGET_MIB;
  console.log(
    `big-model: pruned to V′ ${run.vocab}, I′ ${run.ffn} (−${fmt(100 * run.reduction, 1)}%) in ${fmt(run.wallSeconds, 1)} s, peak RSS ${fmt(run.maxRssMiB)} MiB` +
      (quick ? '' : met ? ' (target < 2 GB: met)' : ' (target < 2 GB: NOT met)'),
  );
} finally {
  cleanup();
}
