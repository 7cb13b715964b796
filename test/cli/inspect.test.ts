import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { formatInspect, inspectModel } from '../../src/cli/inspect.ts';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { REPO_ROOT, shared, GOLDEN_CASES } from '../helpers/paths.ts';

test('wiki-28m: 27,899,200 parameters, 57.7% embeddings, formulas agree with tensors', async () => {
  const r = await inspectModel(shared('models/wiki-28m'));
  assert.equal(r.total_params, 27_899_200);
  assert.equal((100 * r.embedding_share).toFixed(1), '57.7');
  assert.equal(r.checkpoint.total_params, 27_899_200);
  assert.ok(r.checkpoint.agrees, r.checkpoint.disagreements.join('; '));
  assert.equal(r.vocab_size, 50304);
  assert.equal(r.intermediate_size, 1280);
});

test('every golden family: formula counts equal the tensors on disk', async () => {
  for (const c of GOLDEN_CASES) {
    const r = await inspectModel(shared('fixtures/hf-golden', c, 'model'));
    assert.ok(r.checkpoint.agrees, `${c}: ${r.checkpoint.disagreements.join('; ')}`);
    assert.equal(r.total_params, r.checkpoint.total_params, c);
  }
});

test('what-if: V′ 30,000 and I′ 855 remove 35% of wiki-28m', async () => {
  const r = await inspectModel(shared('models/wiki-28m'), { vocab: 30000, ffn: 855 });
  assert.equal(r.what_if!.after.total_params, 30000 * 320 + 8 * 3 * 320 * 855 + 1_966_080 + 5440);
  assert.equal((100 * r.what_if!.reduction).toFixed(1), '35.0');
});

test('CLI: `compact inspect --json` prints the required fields; bad input exits 1 with one line', () => {
  const bin = join(REPO_ROOT, 'bin/compact.mjs');
  const ok = spawnSync(process.execPath, [bin, 'inspect', shared('models/wiki-28m'), '--json'], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stderr);
  const j = JSON.parse(ok.stdout);
  for (const k of ['total_params', 'embedding_params', 'ffn_params', 'attention_params', 'vocab_size', 'intermediate_size']) assert.ok(k in j, k);
  const bad = spawnSync(process.execPath, [bin, 'inspect', shared('models/wiki-28m'), '--ffn', '5000'], { encoding: 'utf8' });
  assert.equal(bad.status, 2, 'a usage mistake');
  assert.match(bad.stderr, /^error: --ffn must be an integer in \[1, 1280\], got 5000\n$/);
  const missing = spawnSync(process.execPath, [bin, 'inspect', '/nonexistent-model'], { encoding: 'utf8' });
  assert.equal(missing.status, 1);
  assert.equal(missing.stderr.trim().split('\n').length, 1);
});

test('mixtral: per-expert, router and active-per-token counts agree with the tensors on disk; the text shows them', async () => {
  const dir = shared('fixtures/hf-golden/mixtral/model');
  const r = await inspectModel(dir);
  const ck = await openCheckpoint(dir);
  const size = (pred: (n: string) => boolean) => ck.names().filter(pred).reduce((a, n) => a + ck.info(n).shape.reduce((x, y) => x * y, 1), 0);
  const perExpert = [0, 1, 2, 3].map((e) => size((n) => n.includes(`.experts.${e}.`)));
  const router = size((n) => n.endsWith('block_sparse_moe.gate.weight'));
  await ck.close();
  assert.deepEqual(perExpert, [101_376, 101_376, 101_376, 101_376]);
  assert.deepEqual(r.moe, { experts: 4, experts_per_token: 2, params_per_expert: perExpert[0], router_params: router, active_params: r.total_params - 2 * perExpert[0]! });
  assert.equal(r.ffn_params, 4 * perExpert[0]! + router);
  assert.match(formatInspect(r), /per expert \(× 4\)\s+101,376/);
  assert.match(formatInspect(r), /active per token \(2 of 4 experts per layer\): 371,904 \(64\.7%\)/);
});
