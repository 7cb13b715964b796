// Builds dist/, then runs every test/**/*.test.ts on node's built-in runner (Node 20's --test takes
// no globs).
//
//   node scripts/test.mjs [--quick] [--concurrency N] [--list] [substring ...]
//
// --quick is the edit loop: it leaves out the files that load real runtimes or prune whole models
// (SLOW below; they stay in `npm test` and CI) and runs the fuzzers at a fifth of their CI size.
//
// Files run two at a time at least (--concurrency, or COMPACT_TEST_CONCURRENCY): Node 20's default,
// availableParallelism() − 1, is one file at a time on a 2-core machine, where most files leave
// a core idle (one JS thread, or waiting on a child process or the disk); docs/performance.md,
// "Test suite". Node 20 starts the files in path order whatever order they are given in.
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

/** Files that take tens of seconds each on 2 cores; matched as substrings of the path. */
const SLOW = [
  'test/export/gguf-', 'test/export/onnx-', 'test/export/wiki28m-runtimes',
  'test/prune/prune-e2e', 'test/prune/planner.test', 'test/prune/shortgpt', 'test/prune/multi-mask', 'test/prune/prune-invariants',
  'test/reliability/crash-', 'test/reliability/determinism', 'test/reliability/npx-signals', 'test/reliability/address-space',
  'test/engine/wiki28m', 'test/engine/golden-webgpu', 'test/prune/prune-webgpu', 'test/eval/zero-shot', 'test/bench/bench-smoke',
  'test/tokenizer/prune-mistral', 'test/tokenizer/prune-gemma3', 'test/tokenizer/prune-qwen3', 'test/tokenizer/prune-llama3',
  'test/install/',
];


function find(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const at = args.indexOf('--concurrency');
const concurrency = Number(at >= 0 ? args[at + 1] : process.env.COMPACT_TEST_CONCURRENCY ?? Math.max(2, availableParallelism() - 1));
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(`scripts/test.mjs: --concurrency must be an integer ≥ 1, got ${at >= 0 ? args[at + 1] : process.env.COMPACT_TEST_CONCURRENCY}`);
  process.exit(2);
}
const filter = args.filter((a, i) => a !== '--quick' && a !== '--list' && a !== '--concurrency' && !(at >= 0 && i === at + 1));
let files = find('test').filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)));
if (quick) files = files.filter((f) => !SLOW.some((s) => f.includes(s)));
if (args.includes('--list')) {
  // The files that would run, in path order (Node 20's runner sorts them), without building.
  console.log(files.join('\n'));
  process.exit(0);
}
// Tests that run the command spawn the compiled build (bin/compact.mjs → dist/), as users get it:
// build first so they never run a stale dist/.
const build = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
// COMPACT_TEST_QUICK: the slow part of a fast file skips itself (test/helpers/quick.ts).
const env = quick ? { ...process.env, COMPACT_FUZZ_RUNS: process.env.COMPACT_FUZZ_RUNS ?? '0.2', COMPACT_TEST_QUICK: '1' } : process.env;
// The reporter is node's own with the failed assertion's expression and the test's line read from
// the source, which Node 20 gets wrong for TypeScript through tsx (see scripts/test-reporter.mjs).
const reporter = [`--test-reporter=${new URL('./test-reporter.mjs', import.meta.url).href}`, '--test-reporter-destination=stdout'];
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...reporter, ...files], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
