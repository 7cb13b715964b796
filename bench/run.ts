/**
 * `npm run bench`: every bench, one after the other, each in its own process (their timings and
 * peak RSS must not mix, and a crash in one still lets the rest run).
 *
 *   npm run bench [-- --quick] [-- --only calibration,roof,calib-precision,prune,decode,llama-cpp,big,startup] [-- --threads N]
 *
 * Each bench prints its headline figure last and writes JSON under bench/results/ (`-quick` files
 * for --quick, the tiny shapes CI runs). The summary at the end repeats every headline.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BENCH_DIR, loadavgText, REPO } from './common.ts';

const BENCHES = {
  calibration: 'calibration.ts',
  roof: 'roof.ts',
  'calib-precision': 'calib-precision.ts',
  prune: 'prune-time.ts',
  decode: 'decode-speed.ts',
  'llama-cpp': 'llama-cpp-speed.ts',
  big: 'big-model.ts',
  startup: 'startup.ts',
} as const;
type Name = keyof typeof BENCHES;

const argv = process.argv.slice(2);
const onlyAt = argv.indexOf('--only');
const names: Name[] = onlyAt >= 0 ? (argv[onlyAt + 1]!.split(',') as Name[]) : (Object.keys(BENCHES) as Name[]);
for (const n of names) if (!(n in BENCHES)) throw new Error(`--only: unknown bench "${n}" (${Object.keys(BENCHES).join(', ')})`);
// Flags every bench understands; --only is this script's.
const passOn = argv.filter((a, i) => a !== '--only' && (onlyAt < 0 || i !== onlyAt + 1));

const headlines: string[] = [];
let failed = 0;
for (const name of names) {
  const t0 = performance.now();
  console.log(`\n=== bench ${name} (load ${loadavgText()}) ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(BENCH_DIR, BENCHES[name]), ...passOn], {
    cwd: REPO,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 2 ** 20,
  });
  process.stdout.write(r.stdout ?? '');
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  if (r.status !== 0) {
    failed++;
    headlines.push(`${name}: FAILED (exit ${r.status ?? r.signal}) after ${seconds} s`);
    continue;
  }
  const lines = (r.stdout ?? '').trim().split('\n');
  headlines.push(`${lines[lines.length - 1]}   [${seconds} s]`);
}
console.log(`\n=== summary (load ${loadavgText()}) ===`);
for (const h of headlines) console.log(h);
process.exit(failed ? 1 : 0);
