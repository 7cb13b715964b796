// Every planner candidate on every text (issue #21): writes docs/planner-robustness.json run by run
// (an interrupted run resumes), then re-renders docs/results.md. Hours on 2 loaded cores.
//   node --import tsx scripts/planner-robustness.ts [--ratios 0.2,0.35] [--reconstruct] [--step 0.05] [--eval-bytes 120000] [--planner-tokens N]
// --planner-tokens N: for the recorded cases, every candidate on the planner's own texts at N tokens each (minutes).
import { join, resolve } from 'node:path';
import { runRobustness } from './lib/planner-robustness.ts';
import { experimentsCommand } from './lib/experiments.ts';

const repo = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const ri = args.indexOf('--ratios');
const ratios = ri >= 0 ? args[ri + 1]!.split(',').map(Number) : [0.2, 0.35];
const reconstruct = args.includes('--reconstruct') ? [true] : [false];
const flag = (name: string, dflt: number) => (args.includes(name) ? Number(args[args.indexOf(name) + 1]) : dflt);
await runRobustness({ repo, shared: resolve(repo, '../shared'), outDir: join(repo, 'docs'), ratios, reconstruct, step: flag('--step', 0.05), evalBytes: flag('--eval-bytes', 120_000), plannerTokens: args.includes('--planner-tokens') ? flag('--planner-tokens', 0) : undefined, log: (s) => console.error(`${new Date().toISOString()} ${s}`) });
process.exitCode = await experimentsCommand(['--render-only']);
