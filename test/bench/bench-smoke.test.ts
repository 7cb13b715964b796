/**
 * CI smoke run of every bench in --quick mode (tiny shapes; the real vocabularies stay): each must
 * exit 0, print its headline, and write a results JSON with the figures the docs quote. Results go
 * to a temp folder (COMPACT_BENCH_RESULTS) so the committed bench/results stay untouched. About a
 * minute on an idle 2-vCPU machine.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

test('npm run bench -- --quick: every bench runs and reports', () => {
  const out = makeTmpDir('bench-smoke');
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'bench/run.ts'), '--quick'], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    env: { ...process.env, COMPACT_BENCH_RESULTS: out },
  });
  assert.equal(r.status, 0, `bench/run.ts --quick failed:\n${r.stdout}\n${r.stderr}`);
  const summary = r.stdout.slice(r.stdout.lastIndexOf('=== summary'));
  for (const head of ['calibration:', 'roof:', 'calib-precision:', 'prune:', 'decode:', '(native )?llama\\.cpp:', 'big-model:', 'startup:']) assert.match(summary, new RegExp(`^${head}`, 'm'), summary);

  const json = (name: string) => JSON.parse(readFileSync(join(out, `${name}-quick.json`), 'utf8'));
  const prune = json('prune-time');
  assert.ok(prune.run.wallSeconds > 0 && prune.run.maxRssMiB > 0);
  assert.ok(Math.abs(prune.run.reduction - 0.35) < 0.01, `prune reduction ${prune.run.reduction}`);
  const decode = json('decode-speed');
  const row = decode.results[0].rows[0];
  assert.ok(row.pruned.decodeTokensPerSecond > 0 && row.dense.prefillTokensPerSecond > 0 && row.peakRssMiB > 0);
  const llama = json('llama-cpp-speed').results[0].rows;
  assert.deepEqual(llama.map((x: { variant: string }) => x.variant), ['dense', '20%', '35%']);
  type Speeds = { decodeTokensPerSecond: number; prefillTokensPerSecond: number };
  assert.ok(llama.every((x: { llamaNode: Speeds }) => x.llamaNode.decodeTokensPerSecond > 0 && x.llamaNode.prefillTokensPerSecond > 0));
  assert.ok(llama.every((x: { ggufBytes: number; sizeRatio: number }) => x.ggufBytes > 0 && x.sizeRatio > 0 && x.sizeRatio <= 1));
  const big = json('big-model');
  assert.ok(big.prune.maxRssMiB > 0 && big.profile.layerMs.length > 0);
  assert.ok(json('calibration').qwen25_05b.tokensPerSecond > 0);
  const roof = json('roof');
  assert.ok(roof.matmul.length > 0 && roof.matmul.every((r: { gflops: number }) => r.gflops > 0));
  assert.ok(Object.values(roof.fmaPeakGflops as Record<string, number>).every((g) => g > 0));
  const precision = json('calib-precision');
  assert.ok(precision.qwen.int8TokensPerSecond > 0 && precision.wiki.overlap.every((r: { overlap: number }) => r.overlap > 0.9 && r.overlap <= 1));
  assert.ok(precision.prunes.every((p: { delta: Record<string, number> }) => Object.values(p.delta).every(Number.isFinite)));
  const startup = json('startup');
  assert.ok(startup.compact.medianMs > 0 && startup.compact.cpuMedianMs > 0 && startup.node.medianMs > 0);
});
