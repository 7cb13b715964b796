/**
 * The package as a user gets it: `npm pack`, the tarball installed into an empty folder with
 * production dependencies only (from the npm cache that `npm ci` filled; the registry only if
 * something is missing), then the installed command and a consumer script built with plain tsc
 * and run with plain node. Nothing of the repository is on the path there but its model files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { REPO_ROOT, shared } from '../helpers/paths.ts';

const MODEL = join(REPO_ROOT, 'models', 'wiki-28m');
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { name: string; version: string; dependencies: Record<string, string> };
// npm's own variables from an enclosing `npm test` would make the inner npm calls act on this repository.
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
env.ONNXRUNTIME_NODE_INSTALL = 'skip';

/** Seconds per step, reported as diagnostics (a slow step is worth seeing; nothing asserts on it). */
const timings: string[] = [];
function run(cmd: string, args: string[], opts: SpawnSyncOptions = {}) {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, ...opts });
  timings.push(`${[cmd.split('/').pop(), ...args.slice(0, 1)].join(' ')} ${((performance.now() - t0) / 1000).toFixed(1)}s`);
  return { status: r.status, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}
function ok(what: string, r: { status: number | null; stdout: string; stderr: string }): string {
  assert.equal(r.status, 0, `${what} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

test('npm pack → install with production dependencies only → the command, and a consumer under plain tsc and node', async (t) => {
  const tmp = makeTmpDir('install');
  const packed = JSON.parse(ok('npm pack', run('npm', ['pack', '--json', '--pack-destination', tmp], { cwd: REPO_ROOT }))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = packed[0]!.files.map((f) => f.path);
  t.diagnostic(`tarball: ${packed[0]!.filename}, ${files.length} files`);
  for (const f of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/index.d.ts', 'dist/index.js.map', 'dist/cli/bin.js']) assert.ok(files.includes(f), `tarball lacks ${f}`);
  const stray = files.filter((f) => !/^(dist\/|package\.json$|README\.md$|LICENSE$)/.test(f) || f.endsWith('.build-hash'));
  assert.deepEqual(stray, [], 'only dist/, README, LICENSE and package.json ship');
  assert.ok(!('tsx' in pkg.dependencies), 'tsx is a dev dependency');

  const app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  ok('npm install', run('npm', ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', '--no-package-lock', join(tmp, packed[0]!.filename)], { cwd: app }));
  for (const dev of ['tsx', 'typescript', 'fast-check']) assert.ok(!existsSync(join(app, 'node_modules', dev)), `${dev} installed: it is a dev dependency`);

  const bin = join(app, 'node_modules', '.bin');
  assert.equal(ok('compact --version', run(join(bin, 'compact'), ['--version'], { cwd: app })).trim(), pkg.version);
  assert.match(ok('npx compact-llm --help', run('npx', ['--offline', 'compact-llm', '--help'], { cwd: app })), /^compact — .*\n\nusage:\n {2}compact prune/);

  // inspect, against the training run's own count (training_stats.json), not our formulas.
  const stats = JSON.parse(readFileSync(join(MODEL, 'training_stats.json'), 'utf8')) as { params: number };
  const inspected = JSON.parse(ok('compact inspect', run(join(bin, 'compact'), ['inspect', MODEL, '--json'], { cwd: app }))) as { total_params: number; checkpoint: { total_params: number } };
  assert.equal(inspected.total_params, stats.params);
  assert.equal(inspected.checkpoint.total_params, stats.params);

  const calib = shared('data', 'text', 'calib-wiki.txt');
  const pruneArgs = ['prune', MODEL, '--out', join(app, 'cli-out'), '--vocab', '30000', '--ffn', '855', '--calib', calib, '--calib-tokens', '256', '--seq-len', '64', '--threads', '1', '--json'];
  const pruned = JSON.parse(ok('compact prune', run(join(bin, 'compact'), pruneArgs, { cwd: app }))) as { vocab: { kept: number }; ffn: { intermediate_after: number } };
  assert.deepEqual([pruned.vocab.kept, pruned.ffn.intermediate_after], [30000, 855]);
  const config = JSON.parse(readFileSync(join(app, 'cli-out', 'config.json'), 'utf8')) as { vocab_size: number; intermediate_size: number };
  assert.deepEqual([config.vocab_size, config.intermediate_size], [30000, 855]);

  // The consumer: plain tsc, strict, NodeNext, no skipLibCheck (our .d.ts are checked too).
  // @types/node comes from the repository, as a user's own project would have it.
  copyFileSync(join(REPO_ROOT, 'test', 'install', 'consumer', 'consumer.ts'), join(app, 'consumer.ts'));
  const tsconfig = JSON.parse(readFileSync(join(REPO_ROOT, 'test', 'install', 'consumer', 'tsconfig.json'), 'utf8')) as { compilerOptions: Record<string, unknown> };
  tsconfig.compilerOptions.typeRoots = [join(REPO_ROOT, 'node_modules', '@types')];
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
  const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
  const checked = run(process.execPath, [tsc, '-p', join(app, 'tsconfig.json')], { cwd: app });
  assert.equal(checked.status, 0, `tsc: ${checked.stdout}${checked.stderr}`);
  assert.equal(checked.stdout + checked.stderr, '', 'tsc reports nothing');

  const consumer = run(process.execPath, [join(app, 'consumer.js'), MODEL, join(app, 'lib-out'), calib], { cwd: app });
  assert.equal(consumer.status, 0, consumer.stderr);
  assert.equal(consumer.stderr, '', 'the library prints nothing by itself');
  const r = JSON.parse(consumer.stdout) as { family: string; totalParams: number; kept: number; ffn: number; calibrateSteps: string[]; messages: number; ratioError: string };
  assert.equal(r.totalParams, stats.params);
  assert.deepEqual([r.kept, r.ffn], [30000, 855]);
  // wiki-28m has 8 layers: one calibration step per layer, through onProgress.
  assert.deepEqual(r.calibrateSteps, ['1/8', '2/8', '3/8', '4/8', '5/8', '6/8', '7/8', '8/8']);
  assert.ok(r.messages >= 1);
  assert.equal(r.ratioError, 'ratio must be in (0, 1), got 2');
  t.diagnostic(timings.join(', '));
  // Same weights from the library and the command.
  for (const f of ['model.safetensors', 'tokenizer.json', 'config.json']) {
    assert.ok(readFileSync(join(app, 'lib-out', f)).equals(readFileSync(join(app, 'cli-out', f))), `${f}: library and CLI outputs differ`);
  }
});
