/**
 * `compact prune --device webgpu` (the compiled command, as users run it) against the same prune
 * on the CPU: the checkpoint, tokenizer, config and plots byte-identical; the model card and the
 * report equal once `--device` is read alike, but for the report's `run` object (timings) and
 * the per-layer kept energy shares, which are act² ratios and agree to 1e-6 relative.
 *
 * Why byte equality is the right check: the prune keeps the top-I′ FFN channels of each layer
 * by act² and slices the input's weights, so the same kept channels give the same bytes. The
 * engine's act² on WebGPU is within 9.4e-7 relative of transformers' on the golden fixtures
 * (golden-webgpu.test.ts), so a different channel can only come from a near-tie at the cut. The
 * test measures the gap at the cut (CPU act²) and requires it to exceed 1e-5 relative first, so a
 * fixture with a near-tie fails with that reason instead of the comparison flaking.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { webgpuSkip } from '../engine/webgpu-device.ts';
import { act2Of, CALIB, calibSequences } from './prune-helpers.ts';

const FFN = 100;
const TOKENS = 256;
// ≥ 32 positions per sequence: the length from which onnxruntime's WebGPU attention went wrong
// (session-options.ts), so this prune would catch it too.
const SEQ_LEN = 64;

/** Prunes into `<cwd>/out`, run from `cwd`. */
function prune(model: string, cwd: string, device: 'cpu' | 'webgpu'): void {
  mkdirSync(cwd);
  const args = ['prune', model, '--out', 'out', '--vocab', '700', '--ffn', String(FFN), '--ffn-criterion', 'act2-all', '--calib', CALIB()];
  args.push('--calib-tokens', String(TOKENS), '--seq-len', String(SEQ_LEN), '--device', device, '--threads', '1', '--quiet');
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/compact.mjs'), ...args], { encoding: 'utf8', cwd });
  assert.equal(r.status, 0, `${device}: ${r.stderr}`);
}

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

test('compact prune --device webgpu writes what the cpu prune writes (llama3 fixture, V′ 700, I′ 100)', { skip: webgpuSkip }, async () => {
  const model = fixtureWithTokenizer('llama3');
  const scores = await act2Of(model, calibSequences(model, TOKENS, SEQ_LEN));
  let minGap = Infinity;
  for (const layer of scores) {
    const s = [...layer].sort((a, b) => b - a);
    minGap = Math.min(minGap, (s[FFN - 1]! - s[FFN]!) / s[FFN - 1]!);
  }
  console.log(`# smallest relative act² gap at the cut (I′ ${FFN}): ${minGap.toExponential(2)}`);
  assert.ok(minGap > 1e-5, `a near-tie at the cut (${minGap}): device differences could flip it; choose another --ffn`);

  // Same folder name under two parents, so paths in the card and report read alike.
  const root = makeTmpDir('prune-webgpu');
  const [cpu, gpu] = [join(root, 'cpu'), join(root, 'webgpu')];
  prune(model, cpu, 'cpu');
  prune(model, gpu, 'webgpu');
  const files = readdirSync(join(cpu, 'out')).sort();
  assert.deepEqual(readdirSync(join(gpu, 'out')).sort(), files);
  for (const f of files.filter((f) => f !== 'compact-report.json' && f !== 'README.md')) {
    assert.equal(sha256(join(gpu, 'out', f)), sha256(join(cpu, 'out', f)), `${f} differs`);
  }
  const read = (dir: string, f: string): string => readFileSync(join(dir, 'out', f), 'utf8').replaceAll('--device webgpu', '--device cpu');
  assert.equal(read(gpu, 'README.md'), read(cpu, 'README.md'));
  type Report = { run?: { device: string }; files: { path: string; sha256?: string; bytes?: number }[]; ffn: { kept_energy_share?: number[] } };
  const report = (dir: string): Report => JSON.parse(read(dir, 'compact-report.json')) as Report;
  const [a, b] = [report(cpu), report(gpu)];
  assert.equal(a.run!.device, 'cpu');
  assert.equal(b.run!.device, 'webgpu');
  const [ea, eb] = [a.ffn.kept_energy_share!, b.ffn.kept_energy_share!];
  assert.equal(eb.length, ea.length);
  ea.forEach((e, l) => assert.ok(Math.abs(eb[l]! - e) <= 1e-6 * e, `layer ${l} kept energy share ${eb[l]} vs ${e}`));
  for (const r of [a, b]) {
    delete r.run;
    delete r.ffn.kept_energy_share;
    // The card's hash and size record the `--device` it was written with; its text is compared above.
    for (const f of r.files) {
      if (f.path !== 'README.md') continue;
      delete f.sha256;
      delete f.bytes;
    }
  }
  assert.deepEqual(b, a);
});
