/**
 * Speed in a real runtime: llama.cpp's own benchmark (`llama_context.bench`, what llama-bench and
 * llama-batched-bench time, through @fugood/llama.node's prebuilt CPU binary), dense vs pruned at
 * 20% and 35%, on our GGUF exports of wiki-28m and of a Qwen2.5-0.5B-shaped random model.
 *
 *   node --import tsx bench/llama-cpp-speed.ts [--quick] [--threads N] [--only wiki|qwen] [--reps N]
 *     [--dtype F32|F16|BF16|Q4_K_M|Q5_K_M|Q6_K|Q8_0|Q4_0] [--ffn-multiple LIST] [--targets 0.2,0.35] [--pp N] [--tg N]
 *     [--native PATH | --no-native | --native-only] [--work DIR [--prepare]]
 *
 * Widths (`--ffn-multiple`, a comma list of multiples or `default`): each entry is one width rule
 * for the pruned variants. Both start from bench/common.ts budgetFor's (V′, I′); 1 keeps that I′
 * ("exact", the paper's sizes: what `prune --ffn-multiple 1` writes), `default` rounds it to
 * `prune --ratio`'s default multiple for the model (src/prune/budget.ts defaultFfnMultiple: 128 for
 * wiki-28m, 256 for the 0.5B shape) and re-solves V′ for the same reduction. Default: `1,default`,
 * `default` alone with --quick. A rule that gives a width already listed is not run twice.
 *
 * Per variant one child process (bench/llama-cpp-child.ts) loads the GGUF and runs the bench:
 * prefill (pp) of 512 tokens and generation (tg) of 128 (128 / 32 for the 0.5B shape unless
 * --native-only), one sequence. `reps` rounds, each running every variant once, the order rotated
 * by one each round, so drifts in machine load hit all variants alike. Per variant: the median and
 * the best over rounds, and the median over rounds of its speed / the dense model's speed in the
 * same round (`paired`, the figure least moved by load changing between rounds). The pruned
 * variants are calibrated on few tokens: speed depends on how many channels and tokens are kept,
 * not which.
 *
 * The runtime is what the tests use: @fugood/llama.node's prebuilt linux-x64 binary. Its ggml CPU
 * backend is a portable build without SIMD (its system info lists no SSE3/AVX/AVX2/F16C/FMA; it is
 * recorded in the JSON), so absolute tokens/s are far below a llama.cpp built for the machine and
 * F16/BF16 pay a scalar conversion (hence F32 by default); read the dense-vs-pruned ratios.
 * `--native-only` skips it (the quantized 0.5B shape takes minutes per run there).
 *
 * Native llama.cpp: when bench/native/.build/llama-speed exists (built by bench/native/build.sh, an
 * optional step outside CI: the same llama.cpp release compiled with -march=native, OpenMP and
 * llamafile sgemm) or `--native PATH` names one, every variant is also timed with it, alternating
 * with the llama.node runs: llama-bench's method (cleared KV cache, pp random tokens in batches;
 * cleared, then tg single-token decodes; a warm-up first), one repetition per process. Its figures
 * (`native` in each row, `nativeSystemInfo`) sit next to llama.node's, with tokens per CPU-second
 * (`cpu`: the process's user+sys time, which does not count time spent waiting for a core).
 * `--no-native` skips it.
 * The native build uses OpenMP, whose threads spin at each graph barrier: on a machine busy with
 * other work (load above the core count) its 2-thread decode collapses (wiki-28m: ≈3 tok/s instead
 * of ≈80) while 1 thread or OMP_WAIT_POLICY=passive does not; run it on a quiet machine, or set
 * OMP_WAIT_POLICY=passive in the environment (recorded as `nativeOmpWaitPolicy`).
 *
 * `--work DIR`: the models and GGUFs are made in DIR and kept (default: a temp folder, removed at the
 * end); a later run with the same DIR reuses those already there (named by V′, I′ and type), so on a
 * busy machine `--prepare` (make them, print sizes, time nothing, write no JSON) can run while the
 * native build compiles. Pruned models made with other settings under the same names are reused
 * as they are: give each setting its own DIR.
 *
 * JSON: bench/results/llama-cpp-speed[-DTYPE][-ONLY].json (-quick.json; DTYPE only when not F32).
 * Headline printed last.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { exportGguf, type GgufExportOptions } from '../src/export/gguf-export.ts';
import { QUANT_FILE_TYPES, type QuantFileType } from '../src/export/gguf-quant/ggml-types.ts';
import { readModelConfig } from '../src/families/model-config.ts';
import { defaultFfnMultiple } from '../src/prune/budget.ts';
import { readTokenizerFile } from '../src/tokenizer/tokenizer-file.ts';
import { BENCH_DIR, benchWorkDir, budgetFor, type Budget, calibFile, fmt, loadavgText, machine, median, parseArgs, pruneInChild, runChild, SHARED, writeResult } from './common.ts';
import type { LlamaBenchChildOptions, LlamaBenchRun } from './llama-cpp-child.ts';
import { QWEN25_05B, writeQwen25Like } from './models.ts';

const args = parseArgs();
const { quick } = args;
const flag = (name: string): string | undefined => {
  const at = args.rest.indexOf(name);
  return at >= 0 ? args.rest[at + 1] : undefined;
};
const only = flag('--only');
if (only !== undefined && only !== 'wiki' && only !== 'qwen') throw new Error(`--only: wiki or qwen, got ${only}`);
const FLOAT_TYPES = ['F32', 'F16', 'BF16'] as const;
const dtype = (flag('--dtype') ?? 'F32').toUpperCase();
const isQuant = dtype in QUANT_FILE_TYPES;
if (!isQuant && !(FLOAT_TYPES as readonly string[]).includes(dtype)) {
  throw new Error(`--dtype: one of ${[...FLOAT_TYPES, ...Object.keys(QUANT_FILE_TYPES)].join(', ')}, got ${flag('--dtype')}`);
}
const exportOptions: GgufExportOptions = isQuant ? { quant: dtype as QuantFileType } : { dtype: dtype as (typeof FLOAT_TYPES)[number] };
const positive = (name: string, fallback: number): number => {
  const v = flag(name);
  if (v === undefined) return fallback;
  if (!/^[1-9]\d*$/.test(v)) throw new Error(`${name}: a positive whole number, got ${v}`);
  return Number(v);
};
const reps = positive('--reps', quick ? 1 : 3);
const multiples = (flag('--ffn-multiple') ?? (quick ? 'default' : '1,default')).split(',');
for (const m of multiples) if (m !== 'default' && !/^[1-9]\d*$/.test(m)) throw new Error(`--ffn-multiple: a comma list of positive whole numbers or "default", got ${m}`);
// Parameter reductions of the pruned variants (a subset is useful with --prepare: one process per variant).
const targets = (flag('--targets') ?? '0.2,0.35').split(',').map(Number);
if (!targets.every((t) => t > 0 && t < 1)) throw new Error(`--targets: a comma list of reductions in (0, 1), got ${flag('--targets')}`);
const CHILD = join(BENCH_DIR, 'llama-cpp-child.ts');
const NATIVE_DEFAULT = join(BENCH_DIR, 'native/.build/llama-speed');
const nativeFlag = flag('--native');
if (nativeFlag !== undefined && !existsSync(nativeFlag)) throw new Error(`--native: no binary at ${nativeFlag} (bash bench/native/build.sh builds one)`);
const NATIVE = args.rest.includes('--no-native') ? undefined : nativeFlag !== undefined ? resolve(nativeFlag) : existsSync(NATIVE_DEFAULT) ? NATIVE_DEFAULT : undefined;
const nativeOnly = args.rest.includes('--native-only');
const prepare = args.rest.includes('--prepare');
const workFlag = flag('--work');
if (prepare && workFlag === undefined) throw new Error('--prepare: needs --work DIR (the folder the prepared models stay in)');
if (nativeOnly && !NATIVE && !prepare) throw new Error(`--native-only: no native llama.cpp (bash bench/native/build.sh builds ${NATIVE_DEFAULT}, or pass --native PATH)`);

/** One run of the native driver bench/native/llama-speed.cpp (its JSON line). */
interface NativeRun {
  pp: number;
  tg: number;
  /** Prefill tokens/s, median over the process's repetitions (one here). */
  speedPp: number;
  speedTg: number;
  /** Tokens per second of the process's CPU time (user + sys, all threads). */
  speedPpCpu: number;
  speedTgCpu: number;
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
  const run = JSON.parse(out.trim().split('\n').pop()!) as NativeRun;
  if (run.speedPpCpu === undefined) throw new Error(`${binary}: no speedPpCpu in its output (built before the CPU-time figures: rerun bash bench/native/build.sh)`);
  return run;
}

interface SpeedRun {
  speedPp: number;
  speedTg: number;
  maxRssMiB: number;
}

const best = (xs: number[]): number => Math.max(...xs);

/**
 * One variant's runs against the dense model's (same runtime, same rounds): medians and ratios of
 * medians (the figures of earlier versions of this bench), bests (best of N rounds), `paired` (median
 * over rounds of this variant's speed / dense's in the same round) and, for the native driver, the
 * same on CPU-time speeds.
 */
function speeds<R extends SpeedRun>(all: Map<string, R[]>, name: string, cpu?: { pp: keyof R; tg: keyof R }) {
  const mine = all.get(name)!;
  const dense = all.get('dense')!;
  const at = (xs: R[], k: keyof R) => xs.map((x) => x[k] as number);
  const pairedRatio = (k: keyof R) => median(mine.map((x, r) => (x[k] as number) / (dense[r]![k] as number)));
  const of = (pp: keyof R, tg: keyof R) => ({
    prefillTokensPerSecond: median(at(mine, pp)),
    decodeTokensPerSecond: median(at(mine, tg)),
    prefillSpeedup: median(at(mine, pp)) / median(at(dense, pp)),
    decodeSpeedup: median(at(mine, tg)) / median(at(dense, tg)),
    best: {
      prefillTokensPerSecond: best(at(mine, pp)),
      decodeTokensPerSecond: best(at(mine, tg)),
      prefillSpeedup: best(at(mine, pp)) / best(at(dense, pp)),
      decodeSpeedup: best(at(mine, tg)) / best(at(dense, tg)),
    },
    paired: { prefillSpeedup: pairedRatio(pp), decodeSpeedup: pairedRatio(tg) },
  });
  return {
    ...of('speedPp', 'speedTg'),
    ...(cpu ? { cpu: of(cpu.pp, cpu.tg) } : {}),
    peakRssMiB: median(at(mine, 'maxRssMiB')),
    runs: mine,
  };
}

interface Variant {
  /** dense, 20%, 35%. */
  variant: string;
  /** Row key: the variant and its width rule. */
  key: string;
  /** dense, exact (I′ as solved), or aligned (I′ a multiple of ffnMultiple). */
  widths: 'dense' | 'exact' | 'aligned';
  ffnMultiple: number | null;
  gguf: string;
  vocab: number;
  ffn: number;
  reduction: number;
  /** Size of the GGUF file on disk. */
  ggufBytes: number;
  /** Quantized exports: tensors per GGML type, and the `ffn_down` tensors' types. */
  types: Record<string, number> | null;
  ffnDownTypes: Record<string, number> | null;
}

/** The GGUF of model folder `dir` (made unless a kept --work folder has it), its size and types. */
async function exportVariant(dir: string, gguf: string): Promise<Pick<Variant, 'ggufBytes' | 'types' | 'ffnDownTypes'>> {
  // The dry run's plan says each tensor's type without writing anything.
  const planned = await exportGguf(dir, '', { ...exportOptions, dryRun: true });
  if (!existsSync(gguf)) await exportGguf(dir, gguf, exportOptions);
  let ffnDownTypes: Record<string, number> | null = null;
  if (isQuant) {
    ffnDownTypes = {};
    for (const t of planned.plan!) if (t.name.endsWith('ffn_down.weight')) ffnDownTypes[t.type] = (ffnDownTypes[t.type] ?? 0) + 1;
  }
  const bytes = statSync(gguf).size;
  if (bytes !== planned.bytes) throw new Error(`${gguf}: ${bytes} bytes on disk, the export plans ${planned.bytes} (a file left by another version? remove it)`);
  return { ggufBytes: bytes, types: planned.quantization?.types ?? null, ffnDownTypes };
}

/** A pruned model at budget `b` in `dir`, unless a kept --work folder already has it. */
function prunedModel(dense: string, dir: string, b: Budget, work: string, o: { calibTokens: number; seqLen: number }): Budget {
  if (existsSync(join(dir, 'config.json'))) return b;
  const run = pruneInChild({ model: dense, out: dir, vocab: b.vocab, ffn: b.ffn, calib: calibFile(work, quick), calibTokens: o.calibTokens, seqLen: o.seqLen, allowShort: false, threads: args.threads });
  return { vocab: run.vocab, ffn: run.ffn, reduction: run.reduction };
}

async function benchModel(label: string, dense: string, work: string, o: { pp: number; tg: number; calibTokens: number; seqLen: number }) {
  const { spec } = readModelConfig(dense);
  const tokSize = readTokenizerFile(join(dense, 'tokenizer.json')).size;
  const variants: Variant[] = [];
  const denseGguf = join(work, `${label}-dense-${dtype}.gguf`);
  console.error(`llama.cpp bench: exporting ${label} dense as ${dtype}`);
  variants.push({
    variant: 'dense',
    key: 'dense',
    widths: 'dense',
    ffnMultiple: null,
    gguf: denseGguf,
    vocab: spec.vocabSize,
    ffn: spec.intermediate,
    reduction: 0,
    ...(await exportVariant(dense, denseGguf)),
  });
  const seen = new Set<string>();
  for (const entry of multiples) {
    const m = entry === 'default' ? defaultFfnMultiple(spec.intermediate) : Number(entry);
    for (const target of targets) {
      const variant = `${Math.round(target * 100)}%`;
      const b = budgetFor(spec, tokSize, target, m);
      const widths = b.ffn === budgetFor(spec, tokSize, target).ffn ? 'exact' : 'aligned';
      if (seen.has(`${b.vocab}/${b.ffn}`)) continue;
      seen.add(`${b.vocab}/${b.ffn}`);
      const key = multiples.length > 1 ? `${variant} ${widths}` : variant;
      const dir = join(work, `${label}-v${b.vocab}-i${b.ffn}`);
      console.error(`llama.cpp bench: pruning ${label} → ${variant} (V′ ${b.vocab}, I′ ${b.ffn}, multiple ${m}), load ${loadavgText()}`);
      const run = prunedModel(dense, dir, b, work, o);
      const gguf = `${dir}-${dtype}.gguf`;
      console.error(`llama.cpp bench: exporting ${label} ${key} as ${dtype}`);
      variants.push({ variant, key, widths, ffnMultiple: m, gguf, vocab: run.vocab, ffn: run.ffn, reduction: run.reduction, ...(await exportVariant(dir, gguf)) });
    }
  }

  if (prepare) {
    for (const v of variants) console.log(`  ${label} ${v.key.padEnd(12)} V′ ${v.vocab} I′ ${v.ffn}: ${v.ggufBytes} bytes (×${fmt(v.ggufBytes / variants[0]!.ggufBytes, 3)}) ${v.gguf}`);
    return null;
  }
  console.error(`llama.cpp bench: ${label}, ${variants.length} variants × ${reps} rounds, load ${loadavgText()}`);
  const runs = new Map<string, LlamaBenchRun[]>(variants.map((v) => [v.key, []]));
  const nativeRuns = new Map<string, NativeRun[]>(variants.map((v) => [v.key, []]));
  for (let r = 0; r < reps; r++) {
    // Round r starts at variant r: no variant always runs first (cold caches) or right after another.
    for (let i = 0; i < variants.length; i++) {
      const v = variants[(i + r) % variants.length]!;
      if (!nativeOnly) {
        const child: LlamaBenchChildOptions = { gguf: v.gguf, pp: o.pp, tg: o.tg, threads: args.threads };
        runs.get(v.key)!.push(runChild<LlamaBenchRun>(CHILD, [JSON.stringify(child)]));
      }
      if (NATIVE) nativeRuns.get(v.key)!.push(runNative(NATIVE, v.gguf, o.pp, o.tg, args.threads));
    }
    console.error(`llama.cpp bench: ${label} round ${r + 1}/${reps} done, load ${loadavgText()}`);
  }
  const denseBytes = variants[0]!.ggufBytes;
  const rows = variants.map(({ gguf: _gguf, ...v }) => ({
    ...v,
    sizeRatio: v.ggufBytes / denseBytes,
    llamaNode: nativeOnly ? null : speeds(runs, v.key),
    native: NATIVE ? speeds(nativeRuns, v.key, { pp: 'speedPpCpu', tg: 'speedTgCpu' }) : null,
  }));
  return { label, settings: { ...o, reps, dtype, ffnMultiples: multiples, defaultFfnMultiple: defaultFfnMultiple(spec.intermediate) }, rows };
}

/** lscpu's model name ("unknown" where lscpu is missing): os.cpus() often shortens it. */
function lscpuModel(): string {
  try {
    const line = execFileSync('lscpu', { encoding: 'utf8' })
      .split('\n')
      .find((l) => l.startsWith('Model name:'));
    return line ? line.slice('Model name:'.length).trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}

const { dir: work, cleanup } = workFlag === undefined ? benchWorkDir('llama-cpp') : { dir: resolve(workFlag), cleanup: () => {} };
mkdirSync(work, { recursive: true });
try {
  const loadBefore = loadavgText();
  const pp = flag('--pp') === undefined ? undefined : positive('--pp', 0);
  const tg = flag('--tg') === undefined ? undefined : positive('--tg', 0);
  const results: NonNullable<Awaited<ReturnType<typeof benchModel>>>[] = [];
  const add = (r: Awaited<ReturnType<typeof benchModel>>) => void (r && results.push(r));
  if (only === undefined || only === 'wiki') {
    const o = quick ? { pp: 64, tg: 16, calibTokens: 512, seqLen: 256 } : { pp: 512, tg: 128, calibTokens: 4096, seqLen: 1024 };
    add(await benchModel('wiki-28m', join(SHARED, 'models/wiki-28m'), work, { ...o, pp: pp ?? o.pp, tg: tg ?? o.tg }));
  }
  if (!quick && (only === undefined || only === 'qwen')) {
    const dir = join(work, 'qwen-dense');
    if (!existsSync(dir)) {
      // Written beside, then renamed: a kept --work folder never holds half a model under this name.
      rmSync(`${dir}.part`, { recursive: true, force: true });
      mkdirSync(`${dir}.part`);
      await writeQwen25Like(`${dir}.part`, QWEN25_05B);
      renameSync(`${dir}.part`, dir);
    }
    // Shorter runs with llama.node: its binary has no SIMD (see systemInfo), ≈ 1 minute per dense F32 run even so.
    const o = nativeOnly ? { pp: 512, tg: 128 } : { pp: 128, tg: 32 };
    add(await benchModel('Qwen2.5-0.5B-shaped', dir, work, { pp: pp ?? o.pp, tg: tg ?? o.tg, calibTokens: 1024, seqLen: 512 }));
  }
  if (prepare) process.exit(0);
  const loadAfter = loadavgText();
  const name = ['llama-cpp-speed', ...(dtype === 'F32' ? [] : [dtype.toLowerCase()]), ...(only ? [only] : [])].join('-');
  writeResult(name, quick, {
    machine: { ...machine(), lscpuModel: lscpuModel() },
    loadavgBefore: loadBefore,
    loadavgAfter: loadAfter,
    quick,
    command: `node --import tsx bench/llama-cpp-speed.ts ${process.argv.slice(2).join(' ')}`.trim(),
    runtime: nativeOnly ? null : '@fugood/llama.node (llama.cpp, prebuilt CPU binary), LlamaContext.bench(pp, tg, pl = 1, nr = 1) per run',
    systemInfo: results[0]?.rows[0]?.llamaNode?.runs[0]?.systemInfo ?? null,
    nativeRuntime: NATIVE
      ? `bench/native/llama-speed (${NATIVE}): llama.node's vendored llama.cpp (ggml core from npm llama.rn, same release) built for this CPU by bench/native/build.sh, llama-bench's pp/tg method, 1 repetition per process`
      : null,
    nativeSystemInfo: results[0]?.rows[0]?.native?.runs[0]?.systemInfo ?? null,
    nativeOmpWaitPolicy: NATIVE ? (process.env.OMP_WAIT_POLICY ?? null) : null,
    threads: args.threads,
    results,
  });

  console.log(`\nllama.cpp bench${quick ? ' (--quick)' : ''}: ${dtype} GGUF, ${args.threads} threads, ${reps} rounds, load before ${loadBefore}, after ${loadAfter}`);
  for (const r of results) {
    console.log(`  ${r.label} (pp ${r.settings.pp}, tg ${r.settings.tg}):`);
    for (const row of r.rows) {
      console.log(
        `    ${row.key.padEnd(12)} V′ ${String(row.vocab).padStart(6)} I′ ${String(row.ffn).padStart(5)} (−${fmt(100 * row.reduction, 1)}% params): ${fmt(row.ggufBytes / 2 ** 20, 1)} MiB GGUF (×${fmt(row.sizeRatio, 3)})` +
          (row.ffnDownTypes ? `, ffn_down ${Object.entries(row.ffnDownTypes).map(([t, n]) => `${n} × ${t}`).join(', ')}` : ''),
      );
      const n = row.llamaNode;
      if (n) {
        console.log(
          `    ${''.padEnd(12)} llama.node: prefill ${fmt(n.prefillTokensPerSecond)} tok/s (×${fmt(n.prefillSpeedup, 2)}), decode ${fmt(n.decodeTokensPerSecond, 1)} tok/s (×${fmt(n.decodeSpeedup, 2)}), peak RSS ${fmt(n.peakRssMiB)} MiB`,
        );
      }
      const x = row.native;
      if (x) {
        console.log(
          `    ${''.padEnd(12)} native: prefill ${fmt(x.prefillTokensPerSecond)} tok/s (×${fmt(x.prefillSpeedup, 2)}, paired ×${fmt(x.paired.prefillSpeedup, 2)}, CPU-time ×${fmt(x.cpu!.prefillSpeedup, 2)}), ` +
            `decode ${fmt(x.decodeTokensPerSecond, 1)} tok/s (×${fmt(x.decodeSpeedup, 2)}, paired ×${fmt(x.paired.decodeSpeedup, 2)}, CPU-time ×${fmt(x.cpu!.decodeSpeedup, 2)}), peak RSS ${fmt(x.peakRssMiB)} MiB`,
        );
      }
    }
  }
  const head = results.at(-1)!;
  const r35 = head.rows.filter((r) => r.variant === '35%').at(-1) ?? head.rows.at(-1)!;
  const what = `${head.label} pruned ${r35.variant} (I′ ${r35.ffn}, ${r35.widths}) is ×${fmt(r35.sizeRatio, 3)} the dense ${dtype} GGUF's size`;
  if (r35.llamaNode) console.log(`llama.cpp: ${what}, decodes ×${fmt(r35.llamaNode.decodeSpeedup, 2)} and prefills ×${fmt(r35.llamaNode.prefillSpeedup, 2)} the dense model's tokens/s`);
  if (r35.native) {
    const n = r35.native;
    console.log(
      `native llama.cpp: ${what}, decodes ×${fmt(n.paired.decodeSpeedup, 2)} and prefills ×${fmt(n.paired.prefillSpeedup, 2)} the dense model's tokens/s ` +
        `(per CPU-second: ×${fmt(n.cpu!.decodeSpeedup, 2)} and ×${fmt(n.cpu!.prefillSpeedup, 2)})`,
    );
  }
  if (!r35.llamaNode && !r35.native) console.log(`llama.cpp: ${what} (no runtime timed)`);
} finally {
  cleanup();
}
