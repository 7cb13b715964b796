// Builds dist/, then runs every test/**/*.test.ts on node's built-in runner (Node 20's --test takes
// no globs).
//
//   node scripts/test.mjs [--quick] [substring ...]
//
// --quick is the edit loop: it leaves out the files that load real runtimes or prune whole models
// (SLOW below; they stay in `npm test` and CI) and runs the fuzzers at a fifth of their CI size.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

/** Files that take tens of seconds each on 2 cores; matched as substrings of the path. */
const SLOW = [
  'test/export/gguf-', 'test/export/onnx-', 'test/export/wiki28m-runtimes',
  'test/prune/prune-e2e', 'test/prune/planner', 'test/prune/shortgpt', 'test/prune/multi-mask', 'test/prune/prune-invariants',
  'test/reliability/crash-', 'test/reliability/determinism', 'test/reliability/npx-signals', 'test/reliability/address-space',
  'test/engine/wiki28m', 'test/engine/golden-webgpu', 'test/prune/prune-webgpu', 'test/eval/zero-shot', 'test/bench/',
  'test/tokenizer/prune-mistral', 'test/tokenizer/prune-gemma3',
  'test/install/', 'test/hub/',
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
// Tests that run the command spawn the compiled build (bin/compact.mjs → dist/), as users get it:
// build first so they never run a stale dist/.
const build = spawnSync(process.execPath, ['scripts/build.mjs'], { stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const filter = args.filter((a) => a !== '--quick');
let files = find('test').filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)));
if (quick) files = files.filter((f) => !SLOW.some((s) => f.includes(s)));
const env = quick ? { ...process.env, COMPACT_FUZZ_RUNS: process.env.COMPACT_FUZZ_RUNS ?? '0.2' } : process.env;
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...files], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
