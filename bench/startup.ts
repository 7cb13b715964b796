/**
 * Start-up time of the command: `compact --help` from the installed package (`npm pack`, then
 * `npm install --omit=dev` of the tarball into an empty folder), against bare `node -e 0` (Node's
 * own start-up, the floor) and against the TypeScript sources run through tsx (how the command
 * started before it was compiled). Wall and CPU time of each whole process, median and best of N.
 *
 *   node --import tsx bench/startup.ts [--quick]
 *
 * --quick (CI smoke): the repository's own dist/ instead of an install, 3 runs, no tsx.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchWorkDir, fmt, loadavgText, machine, median, parseArgs, REPO, writeResult } from './common.ts';

const { quick } = parseArgs();
const runs = quick ? 3 : 10;

/**
 * Wall and CPU time (user + system, all threads, from GNU time) of each run. On a shared machine
 * wall time mostly measures the neighbours; CPU time is the process's own cost.
 */
function time(cmd: string, args: string[], cwd: string): { wall: number[]; cpu: number[] } {
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    const r = spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', cmd, ...args], { cwd, encoding: 'utf8' });
    wall.push(performance.now() - t0);
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
    const m = /cpu ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr)!;
    cpu.push(1000 * (Number(m[1]) + Number(m[2])));
  }
  return { wall, cpu };
}
const summary = (t: { wall: number[]; cpu: number[] }) => ({
  medianMs: +median(t.wall).toFixed(1),
  bestMs: +Math.min(...t.wall).toFixed(1),
  cpuMedianMs: +median(t.cpu).toFixed(1),
  runs: t.wall.map((x) => +x.toFixed(1)),
});

const work = benchWorkDir('startup');
try {
  const loadBefore = loadavgText();
  let bin = join(REPO, 'dist', 'cli', 'bin.js');
  let where = 'repository dist/';
  if (!quick) {
    // npm's variables from an enclosing `npm run bench` would point the inner npm at this repository.
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k))), ONNXRUNTIME_NODE_INSTALL: 'skip' };
    const packed = spawnSync('npm', ['pack', '--json', '--pack-destination', work.dir], { cwd: REPO, encoding: 'utf8', env });
    if (packed.status !== 0) throw new Error(`npm pack: ${packed.stderr}`);
    const tgz = join(work.dir, (JSON.parse(packed.stdout) as Array<{ filename: string }>)[0]!.filename);
    const app = join(work.dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), '{"private":true}');
    const inst = spawnSync('npm', ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', tgz], { cwd: app, encoding: 'utf8', env });
    if (inst.status !== 0) throw new Error(`npm install: ${inst.stderr}`);
    bin = join(app, 'node_modules', '.bin', 'compact');
    where = 'installed package (node_modules/.bin/compact)';
  }
  const node = summary(time(process.execPath, ['-e', '0'], work.dir));
  const compact = summary(quick ? time(process.execPath, [bin, '--help'], work.dir) : time(bin, ['--help'], work.dir));
  const tsx = quick ? null : summary(time(process.execPath, ['--import', 'tsx', join(REPO, 'src', 'cli', 'bin.ts'), '--help'], REPO));
  const result = { machine: machine(), loadBefore, loadAfter: loadavgText(), where, node, compact, tsx };
  const file = writeResult('startup', quick, result);
  const line = (s: ReturnType<typeof summary>) => `median ${fmt(s.medianMs)} ms (best ${fmt(s.bestMs)}), CPU ${fmt(s.cpuMedianMs)} ms`;
  console.log(`node -e 0: ${line(node)}`);
  if (tsx) console.log(`TypeScript sources through tsx: ${line(tsx)}`);
  console.log(`results: ${file}`);
  console.log(`startup: compact --help from the ${where}: ${line(compact)}; target < 500 ms; load ${loadBefore} → ${result.loadAfter}`);
} finally {
  work.cleanup();
}
