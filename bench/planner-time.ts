/**
 * Planner cost at size: the Qwen2.5-0.5B shape (or `--shape 8b`, Llama-3.1-8B's) pruned at 35% twice
 * with the same calibration, each in its own child process: once at the fixed split the budget gives
 * (`--vocab V′ --ffn I′`), once planned (`--ratio 0.35`, default search and objective). Reported:
 * wall and CPU time of both, the calibration time, the planner's own time and its overhead as a
 * fraction of the calibration time (targets ≤ 0.3× at 0.5B, ≤ 0.5× at 8B), peak RSS (8B target
 * < 3 GB), and the bytes each process wrote beyond its output folder (the planner writes no
 * candidate checkpoint: the figure must stay at the fixed prune's level).
 *
 *   node --import tsx bench/planner-time.ts [--quick] [--shape 0.5b|8b] [--calib-tokens N] [--threads N] [--reconstruct] [--kinds fixed,planned]
 *
 * `--kinds planned` runs one of the two (a run cut short can be completed; the JSON then has one side).
 *
 * Defaults: 32,768 calibration tokens at 0.5B; at 8B 2 × 512 (the big-model bench's set; the
 * 32,768-token run is issue #19's full-size run). JSON: bench/results/planner-time[-8b][-quick].json.
 */
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readModelConfig } from '../src/families/model-config.ts';
import { readTokenizerFile } from '../src/tokenizer/tokenizer-file.ts';
import { benchWorkDir, budgetFor, calibFile, copyTokenizer, fmt, loadavgText, machine, parseArgs, pruneInChild, writeResult, type PruneRun } from './common.ts';
import { LLAMA31_8B, llama31Config, QWEN25_05B, writeFastRandomModel, writeQwen25Like, type RandomModelShape } from './models.ts';

const args = parseArgs();
const flag = (name: string): string | undefined => {
  const i = args.rest.indexOf(name);
  return i >= 0 ? args.rest[i + 1] : undefined;
};
const big = flag('--shape') === '8b';
if (flag('--shape') !== undefined && !['0.5b', '8b'].includes(flag('--shape')!)) throw new Error(`--shape must be 0.5b or 8b, got ${flag('--shape')}`);

function folderBytes(dir: string): number {
  let n = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    n += s.isDirectory() ? folderBytes(p) : s.size;
  }
  return n;
}

async function main(): Promise<void> {
  const { quick } = args;
  const full: RandomModelShape = big ? LLAMA31_8B : QWEN25_05B;
  const shape: RandomModelShape = quick ? { ...full, hidden: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, intermediate: 128 } : full;
  const seqLen = quick ? 256 : big ? 512 : 2048;
  const calibTokens = Number(flag('--calib-tokens') ?? (quick ? 512 : big ? 1024 : 32768));
  const target = 0.35;
  const { dir: work, cleanup } = benchWorkDir('planner');
  try {
    const model = join(work, 'model');
    mkdirSync(model);
    if (big) {
      writeFastRandomModel(model, shape, llama31Config(shape), quick ? 8e6 : 5e9);
      copyTokenizer('tokenizer-llama3', model);
    } else {
      await writeQwen25Like(model, shape);
    }
    const { spec } = readModelConfig(model);
    const budget = budgetFor(spec, readTokenizerFile(join(model, 'tokenizer.json')).size, target);
    const calib = calibFile(work, quick);
    const common = { model, calib, calibTokens, seqLen, allowShort: quick, threads: args.threads, reconstruct: args.reconstruct, progress: !quick };
    const loadBefore = loadavgText();
    type Run = PruneRun & { outputBytes: number; extraBytes: number | null };
    const runs: Partial<Record<'fixed' | 'planned', Run>> = {};
    const kinds = (flag('--kinds') ?? 'fixed,planned').split(',');
    for (const k of kinds) if (k !== 'fixed' && k !== 'planned') throw new Error(`--kinds: fixed and/or planned, got ${k}`);
    for (const kind of ['fixed', 'planned'] as const) {
      if (!kinds.includes(kind)) continue;
      const out = join(work, kind);
      const run = pruneInChild({ ...common, out, vocab: budget.vocab, ffn: budget.ffn, ...(kind === 'planned' ? { ratio: target } : {}) });
      const outputBytes = folderBytes(out);
      runs[kind] = { ...run, outputBytes, extraBytes: run.bytesWritten === undefined ? null : run.bytesWritten - outputBytes };
      console.error(`planner bench: ${kind} prune ${fmt(run.wallSeconds, 1)} s wall, ${fmt(run.cpuSeconds, 1)} s CPU, calibration ${fmt(run.calibrationSeconds, 1)} s, peak RSS ${fmt(run.maxRssMiB)} MiB (load ${loadavgText()})`);
    }
    const { fixed, planned } = runs;
    const overhead = {
      // The planner's own clock over the calibration's: what the issue's targets are stated in.
      plannerOverCalibration: planned ? (planned.plannerSeconds ?? NaN) / planned.calibrationSeconds : null,
      // Whole-run differences, wall and CPU, against the fixed prune's calibration.
      wallDeltaOverCalibration: planned && fixed ? (planned.wallSeconds - fixed.wallSeconds) / fixed.calibrationSeconds : null,
      cpuRatio: planned && fixed ? planned.cpuSeconds / fixed.cpuSeconds : null,
    };
    const limit = big ? 0.5 : 0.3;
    const result = {
      machine: machine(),
      loadavgBefore: loadBefore,
      loadavgAfter: loadavgText(),
      quick,
      command: `node --import tsx bench/planner-time.ts${quick ? ' --quick' : ''}${big ? ' --shape 8b' : ''}${args.reconstruct ? ' --reconstruct' : ''} --calib-tokens ${calibTokens} --kinds ${kinds.join(',')}`,
      shape,
      target,
      budget,
      calibTokens,
      seqLen,
      reconstruct: args.reconstruct,
      fixed,
      planned,
      overhead,
      overheadTarget: limit,
    };
    writeResult(`planner-time${big ? '-8b' : ''}${args.reconstruct ? '-reconstruct' : ''}${kinds.length === 1 ? `-${kinds[0]}` : ''}`, quick, result);
    if (!planned || !fixed) {
      console.log(`planner bench: ${kinds.join(',')} only; see the JSON`);
      return;
    }
    console.log(
      `planner: ${big ? '8B' : '0.5B'}-shaped at ${target}: planned V′ ${planned.vocab}, I′ ${planned.ffn} after ${planned.plannerPasses} passes over ${planned.plannerCandidates} candidates; ` +
        `planner ${fmt(planned.plannerSeconds ?? NaN, 1)} s = ${fmt(overhead.plannerOverCalibration!, 2)}× calibration (${fmt(planned.calibrationSeconds, 1)} s; target ≤ ${limit}×), ` +
        `CPU ×${fmt(overhead.cpuRatio!, 2)} of the fixed prune, peak RSS ${fmt(planned.maxRssMiB)} vs ${fmt(fixed.maxRssMiB)} MiB, ` +
        `bytes beyond the output ${planned.extraBytes === null ? '?' : fmt(planned.extraBytes / 2 ** 20, 1)} vs ${fixed.extraBytes === null ? '?' : fmt(fixed.extraBytes / 2 ** 20, 1)} MiB`,
    );
  } finally {
    cleanup();
  }
}

await main();
