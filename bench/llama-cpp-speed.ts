/**
 * Speed in a real runtime: llama.cpp's own benchmark (`llama_context.bench`, what llama-bench and
 * llama-batched-bench time, through @fugood/llama.node's prebuilt CPU binary), dense vs pruned at
 * 20% and 35%, on our GGUF exports of wiki-28m and of a Qwen2.5-0.5B-shaped random model.
 *
 *   node --import tsx bench/llama-cpp-speed.ts [--quick] [--threads N] [--only wiki|qwen] [--dtype F16|BF16|F32] [--reps N]
 *     [--native PATH | --no-native]
 *
 * Per variant one child process (bench/llama-cpp-child.ts) loads the GGUF and runs the bench:
 * prefill (pp) of 512 tokens and generation (tg) of 128 (128 / 32 for the 0.5B shape), one
 * sequence, `reps` repetitions; the
 * runs of dense and pruned variants alternate so drifts in machine load hit both. Ratios are
 * medians over repetitions. The pruned variants are calibrated on few tokens: speed depends on
 * how many channels and tokens are kept, not which.
 *
 * The runtime is what the tests use: @fugood/llama.node's prebuilt linux-x64 binary. Its ggml CPU
 * backend is a portable build without SIMD (its system info lists no SSE3/AVX/AVX2/F16C/FMA; it is
 * recorded in the JSON), so absolute tokens/s are far below a llama.cpp built for the machine and
 * F16/BF16 pay a scalar conversion (hence F32 by default); read the dense-vs-pruned ratios.
 *
 * Native llama.cpp: when bench/native/.build/llama-speed exists (built by bench/native/build.sh, an
 * optional step outside CI: the same llama.cpp release compiled with -march=native, OpenMP and
 * llamafile sgemm) or `--native PATH` names one, every variant is also timed with it, alternating
 * with the llama.node runs: llama-bench's method (cleared KV cache, pp random tokens in batches;
 * cleared, then tg single-token decodes; a warm-up first), one repetition per process. Its figures
 * (`native` in each row, `nativeSystemInfo`) sit next to llama.node's. `--no-native` skips it.
 * The native build uses OpenMP, whose threads spin at each graph barrier: on a machine busy with
 * other work (load above the core count) its 2-thread decode collapses (wiki-28m: ≈3 tok/s instead
 * of ≈80) while 1 thread or OMP_WAIT_POLICY=passive does not; run it on a quiet machine, or set
 * OMP_WAIT_POLICY=passive in the environment (recorded as `nativeOmpWaitPolicy`).
 *
 * JSON: bench/results/llama-cpp-speed.json (-quick.json). Headline printed last.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exportGguf } from '../src/export/gguf-export.ts';
import { readModelConfig } from '../src/families/model-config.ts';
import { readTokenizerFile } from '../src/tokenizer/tokenizer-file.ts';
import { BENCH_DIR, benchWorkDir, budgetFor, calibFile, fmt, loadavgText, machine, median, parseArgs, pruneInChild, runChild, SHARED, writeResult } from './common.ts';
import type { LlamaBenchChildOptions, LlamaBenchRun } from './llama-cpp-child.ts';
import { QWEN25_05B, writeQwen25Like } from './models.ts';

const args = parseArgs();
const { quick } = args;
const flag = (name: string): string | undefined => {
  const at = args.rest.indexOf(name);
  return at >= 0 ? args.rest[at + 1] : undefined;
};
const only = flag('--only');
const dtype = (flag('--dtype') ?? 'F32') as 'F32' | 'F16' | 'BF16';
if (!['F16', 'BF16', 'F32'].includes(dtype)) throw new Error(`--dtype: F16, BF16 or F32, got ${dtype}`);
const reps = Number(flag('--reps') ?? (quick ? 1 : 3));
const CHILD = join(BENCH_DIR, 'llama-cpp-child.ts');
const NATIVE_DEFAULT = join(BENCH_DIR, 'native/.build/llama-speed');
const nativeFlag = flag('--native');
if (nativeFlag !== undefined && !existsSync(nativeFlag)) throw new Error(`--native: no binary at ${nativeFlag} (bash bench/native/build.sh builds one)`);
const NATIVE = args.rest.includes('--no-native') ? undefined : nativeFlag !== undefined ? resolve(nativeFlag) : existsSync(NATIVE_DEFAULT) ? NATIVE_DEFAULT : undefined;

/** One run of the native driver bench/native/llama-speed.cpp (its JSON line). */
interface NativeRun {
  pp: number;
  tg: number;
  /** Prefill tokens/s, median over the process's repetitions (one here). */
  speedPp: number;
  speedTg: number;
  reps: number;
  nThreads: number;
  nBatch: number;
  nUBatch: number;
  speedsPp: number[];
  speedsTg: number[];
  nParams: number;
  nVocab: number;
  maxRssMiB: number;
  systemInfo: string;
}

function runNative(binary: string, gguf: string, pp: number, tg: number, threads: number): NativeRun {
  const out = execFileSync(binary, ['-m', gguf, '--pp', String(pp), '--tg', String(tg), '--reps', '1', '-t', String(threads)], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 16 * 2 ** 20,
  });
  return JSON.parse(out.trim().split('\n').pop()!) as NativeRun;
}

type SpeedRun = Pick<LlamaBenchRun, 'speedPp' | 'speedTg' | 'maxRssMiB'>;

/** Medians of one variant's runs and their ratios to the dense model's (same runtime). */
function speeds<R extends SpeedRun>(all: Map<string, R[]>, name: string) {
  const med = (of: string, k: keyof SpeedRun) => median(all.get(of)!.map((x) => x[k]));
  return {
    prefillTokensPerSecond: med(name, 'speedPp'),
    decodeTokensPerSecond: med(name, 'speedTg'),
    peakRssMiB: med(name, 'maxRssMiB'),
    prefillSpeedup: med(name, 'speedPp') / med('dense', 'speedPp'),
    decodeSpeedup: med(name, 'speedTg') / med('dense', 'speedTg'),
    runs: all.get(name)!,
  };
}

interface Variant {
  name: string;
  gguf: string;
  vocab: number;
  ffn: number;
  reduction: number;
  ggufBytes: number;
}

async function benchModel(label: string, dense: string, work: string, o: { pp: number; tg: number; calibTokens: number; seqLen: number }) {
  const { spec } = readModelConfig(dense);
  const tokSize = readTokenizerFile(join(dense, 'tokenizer.json')).size;
  const variants: Variant[] = [];
  const denseGguf = join(work, `${label}-dense.gguf`);
  const d = await exportGguf(dense, denseGguf, { dtype });
  variants.push({ name: 'dense', gguf: denseGguf, vocab: spec.vocabSize, ffn: spec.intermediate, reduction: 0, ggufBytes: d.bytes });
  for (const target of [0.2, 0.35]) {
    const name = `${Math.round(target * 100)}%`;
    const b = budgetFor(spec, tokSize, target);
    const dir = join(work, `${label}-${name.replace('%', 'pct')}`);
    console.error(`llama.cpp bench: pruning ${label} → ${name} (V′ ${b.vocab}, I′ ${b.ffn})`);
    const run = pruneInChild({ model: dense, out: dir, vocab: b.vocab, ffn: b.ffn, calib: calibFile(work, quick), calibTokens: o.calibTokens, seqLen: o.seqLen, allowShort: false, threads: args.threads });
    const gguf = `${dir}.gguf`;
    const e = await exportGguf(dir, gguf, { dtype });
    variants.push({ name, gguf, vocab: run.vocab, ffn: run.ffn, reduction: run.reduction, ggufBytes: e.bytes });
  }

  console.error(`llama.cpp bench: ${label}, ${variants.length} variants × ${reps} reps alternating, load ${loadavgText()}`);
  const runs = new Map<string, LlamaBenchRun[]>(variants.map((v) => [v.name, []]));
  const nativeRuns = new Map<string, NativeRun[]>(variants.map((v) => [v.name, []]));
  for (let r = 0; r < reps; r++) {
    for (const v of variants) {
      const child: LlamaBenchChildOptions = { gguf: v.gguf, pp: o.pp, tg: o.tg, threads: args.threads };
      runs.get(v.name)!.push(runChild<LlamaBenchRun>(CHILD, [JSON.stringify(child)]));
      if (NATIVE) nativeRuns.get(v.name)!.push(runNative(NATIVE, v.gguf, o.pp, o.tg, args.threads));
    }
  }
  const rows = variants.map((v) => ({
    variant: v.name,
    vocab: v.vocab,
    ffn: v.ffn,
    reduction: v.reduction,
    ggufBytes: v.ggufBytes,
    ...speeds(runs, v.name),
    native: NATIVE ? speeds(nativeRuns, v.name) : null,
  }));
  return { label, settings: { ...o, reps, dtype }, rows };
}

const { dir: work, cleanup } = benchWorkDir('llama-cpp');
try {
  const loadBefore = loadavgText();
  const results: Awaited<ReturnType<typeof benchModel>>[] = [];
  if (only === undefined || only === 'wiki') {
    const o = quick ? { pp: 64, tg: 16, calibTokens: 512, seqLen: 256 } : { pp: 512, tg: 128, calibTokens: 4096, seqLen: 1024 };
    results.push(await benchModel('wiki-28m', join(SHARED, 'models/wiki-28m'), work, o));
  }
  if (!quick && (only === undefined || only === 'qwen')) {
    const dir = join(work, 'qwen-dense');
    mkdirSync(dir);
    await writeQwen25Like(dir, QWEN25_05B);
    // Shorter runs: the prebuilt binary has no SIMD (see systemInfo), ≈ 1 minute per dense run even so.
    results.push(await benchModel('Qwen2.5-0.5B-shaped', dir, work, { pp: 128, tg: 32, calibTokens: 1024, seqLen: 512 }));
  }
  const loadAfter = loadavgText();
  writeResult(only ? `llama-cpp-speed-${only}` : 'llama-cpp-speed', quick, {
    machine: machine(),
    loadavgBefore: loadBefore,
    loadavgAfter: loadAfter,
    quick,
    command: `node --import tsx bench/llama-cpp-speed.ts ${process.argv.slice(2).join(' ')}`.trim(),
    runtime: '@fugood/llama.node (llama.cpp, prebuilt CPU binary), LlamaContext.bench(pp, tg, pl = 1, nr = 1) per run',
    systemInfo: results[0]?.rows[0]?.runs[0]?.systemInfo ?? null,
    nativeRuntime: NATIVE
      ? `bench/native/llama-speed (${NATIVE}): llama.node's vendored llama.cpp (ggml core from npm llama.rn, same release) built for this CPU by bench/native/build.sh, llama-bench's pp/tg method, 1 repetition per process`
      : null,
    nativeSystemInfo: results[0]?.rows[0]?.native?.runs[0]?.systemInfo ?? null,
    nativeOmpWaitPolicy: NATIVE ? (process.env.OMP_WAIT_POLICY ?? null) : null,
    threads: args.threads,
    results,
  });

  console.log(`\nllama.cpp bench${quick ? ' (--quick)' : ''}: ${dtype} GGUF, ${args.threads} threads, ${reps} reps, load before ${loadBefore}, after ${loadAfter}`);
  for (const r of results) {
    console.log(`  ${r.label} (pp ${r.settings.pp}, tg ${r.settings.tg}):`);
    for (const row of r.rows) {
      console.log(
        `    ${row.variant.padEnd(6)} V′ ${String(row.vocab).padStart(6)} I′ ${String(row.ffn).padStart(5)} (−${fmt(100 * row.reduction, 1)}% params, ${fmt(row.ggufBytes / 2 ** 20)} MiB GGUF): ` +
          `prefill ${fmt(row.prefillTokensPerSecond)} tok/s (×${fmt(row.prefillSpeedup, 2)}), decode ${fmt(row.decodeTokensPerSecond, 1)} tok/s (×${fmt(row.decodeSpeedup, 2)}), peak RSS ${fmt(row.peakRssMiB)} MiB`,
      );
      if (row.native) {
        const n = row.native;
        console.log(
          `    ${''.padEnd(6)} native llama.cpp: prefill ${fmt(n.prefillTokensPerSecond)} tok/s (×${fmt(n.prefillSpeedup, 2)}), decode ${fmt(n.decodeTokensPerSecond, 1)} tok/s (×${fmt(n.decodeSpeedup, 2)}), ` +
            `${fmt(n.prefillTokensPerSecond / row.prefillTokensPerSecond, 1)}× / ${fmt(n.decodeTokensPerSecond / row.decodeTokensPerSecond, 1)}× llama.node's, peak RSS ${fmt(n.peakRssMiB)} MiB`,
        );
      }
    }
  }
  const head = results.at(-1)!;
  const r35 = head.rows.find((r) => r.variant === '35%')!;
  console.log(`llama.cpp: ${head.label} pruned 35% decodes ×${fmt(r35.decodeSpeedup, 2)} and prefills ×${fmt(r35.prefillSpeedup, 2)} the dense model's tokens/s (${dtype} GGUF)`);
  if (r35.native) {
    console.log(`native llama.cpp: ${head.label} pruned 35% decodes ×${fmt(r35.native.decodeSpeedup, 2)} and prefills ×${fmt(r35.native.prefillSpeedup, 2)} the dense model's tokens/s (${dtype} GGUF)`);
  }
} finally {
  cleanup();
}
