/**
 * `compact prune --reconstruct` end to end on a golden fixture: the same standard checkpoint as
 * the plain prune (config and every tensor but down_proj byte-identical), down_proj replaced by
 * finite refit columns, the report listing every layer, the plain slice kept (and said so) where
 * the system is singular, and the flags checked before any work.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompactError } from '../../src/errors.ts';
import { pruneModel, type PruneOptions } from '../../src/prune/prune.ts';
import { Engine } from '../../src/engine/runner.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { CALIB, readTensors } from './prune-helpers.ts';

const model = fixtureWithTokenizer('llama3');
const tmp = makeTmpDir('refit-prune');
const base: PruneOptions = { model, out: '', vocab: 700, ffn: 100, calib: CALIB(), calibTokens: 600, seqLen: 100, threads: 2, quiet: true };

test('--reconstruct writes the plain prune with only down_proj refit', async () => {
  const plainDir = join(tmp, 'plain');
  const refitDir = join(tmp, 'refit');
  await pruneModel({ ...base, out: plainDir });
  const report = await pruneModel({ ...base, out: refitDir, reconstruct: true });
  assert.equal(readFileSync(join(refitDir, 'config.json'), 'utf8'), readFileSync(join(plainDir, 'config.json'), 'utf8'));
  assert.equal(readFileSync(join(refitDir, 'tokenizer.json'), 'utf8'), readFileSync(join(plainDir, 'tokenizer.json'), 'utf8'));
  const plain = await readTensors(plainDir);
  const refit = await readTensors(refitDir);
  assert.deepEqual([...refit.keys()].sort(), [...plain.keys()].sort());
  for (const [name, t] of refit) {
    const p = plain.get(name)!;
    assert.deepEqual(t.shape, p.shape, name);
    if (/down_proj/.test(name)) {
      assert.ok(t.data.every(Number.isFinite), `${name}: non-finite weights`);
      assert.notDeepEqual(t.data, p.data, `${name}: not refit`);
    } else {
      assert.deepEqual(t.data, p.data, `${name}: changed by the refit`);
    }
  }
  const r = report.ffn.refit!;
  assert.equal(r.ridge, 1e-2);
  assert.equal(r.layers.length, 3);
  for (const l of r.layers) {
    assert.equal(l.fallback, null);
    assert.ok(l.loss_refit < l.loss_plain, `layer ${l.layer}: ${l.loss_refit} vs ${l.loss_plain}`);
  }
  assert.equal(report.flags.reconstruct, true);
  assert.equal(report.flags.reconstruct_ridge, 1e-2);
  // Loads and runs in our engine.
  const e = await Engine.open(refitDir, { threads: 2 });
  try {
    const out = await e.forward([Int32Array.of(1, 5, 9, 200)], { logits: true });
    assert.ok(out.logits![0]!.every(Number.isFinite));
  } finally {
    await e.close();
  }
});

test('--reconstruct keeps the plain slice where G[S,S] is singular, and says so', async () => {
  // 64 calibration positions (the fewest allowed), 100 kept channels, no ridge: G[S,S] has rank ≤ 64.
  const out = join(tmp, 'singular');
  const plainDir = join(tmp, 'plain-singular');
  const opts = { ...base, calibTokens: 64, seqLen: 64 };
  await pruneModel({ ...opts, out: plainDir });
  const report = await pruneModel({ ...opts, out, reconstruct: true, reconstructRidge: 0 });
  for (const l of report.ffn.refit!.layers) assert.match(l.fallback ?? '', /not positive definite/, `layer ${l.layer}`);
  const plain = await readTensors(plainDir);
  for (const [name, t] of await readTensors(out)) assert.deepEqual(t.data, plain.get(name)!.data, name);
});

test('--reconstruct flags are checked before any work', async () => {
  const out = join(tmp, 'never');
  await assert.rejects(pruneModel({ ...base, out, reconstruct: true, reconstructRidge: -1 }), (e) => e instanceof CompactError && /--reconstruct-ridge must be a number ≥ 0/.test(e.message));
  await assert.rejects(pruneModel({ ...base, out, reconstructRidge: 0.1 }), /--reconstruct-ridge needs --reconstruct/);
  await assert.rejects(pruneModel({ ...base, out, ffn: undefined, reconstruct: true }), /cuts none/);
  await assert.rejects(pruneModel({ ...base, out, vocab: undefined, ffn: undefined, method: 'shortgpt', ratio: 0.3, reconstruct: true }), /method shortgpt/);
});

test('with --ratio the planner scores every candidate with the refit', async () => {
  const run = async (reconstruct: boolean) =>
    pruneModel({
      ...base,
      vocab: undefined,
      ffn: undefined,
      ratio: 0.3,
      plannerStep: 0.5,
      plannerSearch: 'grid',
      plannerObjective: 'calib',
      reconstruct,
      out: join(tmp, `planned-${reconstruct}`),
    });
  const plain = await run(false);
  const refit = await run(true);
  // The same candidates (same splits); each FFN-cutting one scored with its refit down_proj (a
  // different score), every candidate that keeps the whole FFN scored exactly as without it.
  assert.deepEqual(refit.planner!.candidates.map((c) => [c.share, c.vocab, c.ffn]), plain.planner!.candidates.map((c) => [c.share, c.vocab, c.ffn]));
  let cut = 0;
  for (const c of refit.planner!.candidates) {
    if (c.bpb === null) continue;
    const p = plain.planner!.candidates.find((x) => x.share === c.share)!;
    if (c.ffn >= refit.ffn.intermediate_before) {
      assert.equal(c.bpb, p.bpb, `share ${c.share}: keeps the FFN, so the refit must not change its score`);
      continue;
    }
    cut++;
    assert.notEqual(c.bpb, p.bpb, `share ${c.share}: the same score with and without the refit`);
  }
  assert.ok(cut >= 1, 'no candidate cut the FFN');
  assert.ok(refit.ffn.refit === null || refit.ffn.refit!.layers.length === 3);
});
