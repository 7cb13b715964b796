import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { pruneModel, type PruneOptions } from '../../src/prune/prune.ts';
import { CompactError } from '../../src/errors.ts';
import { REPO_ROOT, shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

const MODEL = () => shared('models/wiki-28m');

/** Runs a prune that must fail with a one-line CompactError matching `re`, leaving nothing at --out. */
async function refuses(opts: Partial<PruneOptions>, re: RegExp): Promise<void> {
  const parent = makeTmpDir('prune-err');
  const out = opts.out ?? join(parent, 'out');
  await assert.rejects(
    pruneModel({ model: MODEL(), out, quiet: true, calib: shared('data/text/calib-wiki.txt'), calibTokens: 512, seqLen: 128, ...opts }),
    (e: unknown) => e instanceof CompactError && re.test(e.message) && !e.message.includes('\n'),
  );
  if (!opts.out) assert.deepEqual(readdirSync(parent), [], 'nothing left behind');
}

test('impossible budgets are refused', async () => {
  // The same bounds quoted on both sides.
  await refuses({ vocab: 100 }, /--vocab must be an integer in \[257, 50257\]/);
  await refuses({ vocab: 60000 }, /--vocab must be an integer in \[257, 50257\]/);
  await refuses({}, /needs a budget/);
  await refuses({ ffn: 0 }, /--ffn must be an integer in \[1, 1280\]/);
  await refuses({ ffn: 1281 }, /--ffn must be an integer in \[1, 1280\]/);
  await refuses({ vocabRatio: 1.2 }, /--vocab-ratio must be in \(0, 1\)/);
  await refuses({ ffnRatio: 0 }, /--ffn-ratio must be in \(0, 1\)/);
  await refuses({ vocab: 30000, vocabRatio: 0.5 }, /--vocab or --vocab-ratio, not both/);
});

test('empty or short calibration text is refused unless --allow-short-calib', async () => {
  const dir = makeTmpDir('calib');
  const empty = join(dir, 'empty.txt');
  writeFileSync(empty, '\n\n');
  await refuses({ ffn: 800, calib: empty }, /empty\.txt: calibration text is empty/);
  const short = join(dir, 'short.txt');
  writeFileSync(short, 'A short text of a few tokens.');
  await refuses({ ffn: 800, calib: short, calibTokens: 512 }, /short\.txt: has 9 tokens; calibration needs at least 64, even with --allow-short-calib/);
  await refuses({ ffn: 800, calib: short, calibTokens: 512, allowShortCalib: true }, /short\.txt: has 9 tokens; calibration needs at least 64, even with --allow-short-calib/);
  const shortish = join(dir, 'shortish.txt');
  writeFileSync(shortish, 'A text of a hundred or so tokens, short of the calibration budget. '.repeat(8));
  await refuses({ ffn: 800, calib: shortish, calibTokens: 512 }, /shortish\.txt: has \d+ tokens, fewer than --calib-tokens 512; pass --allow-short-calib/);
  const bad = join(dir, 'bad.jsonl');
  writeFileSync(bad, '{"text": "fine"}\n{"text": oops}\n');
  await refuses({ ffn: 800, calib: bad }, /bad\.jsonl:2: malformed JSON line/);
  const out = join(makeTmpDir('short-ok'), 'out');
  const r = await pruneModel({ model: MODEL(), out, ffn: 800, calib: shortish, calibTokens: 512, allowShortCalib: true, quiet: true });
  assert.ok(r.calibration!.tokens >= 64 && r.calibration!.tokens < 512, `${r.calibration!.tokens} tokens`);
});

test('--out equal to or inside the input is refused; an existing --out needs --force', async () => {
  await refuses({ out: MODEL(), vocab: 30000 }, /wiki-28m/);
  await refuses({ out: join(MODEL(), 'pruned'), vocab: 30000 }, /inside|input/);
  const out = join(makeTmpDir('exists'), 'out');
  mkdirSync(out);
  writeFileSync(join(out, 'keep.txt'), 'user data');
  await refuses({ out, vocab: 30000 }, /exists; pass --force to replace it/);
  assert.ok(existsSync(join(out, 'keep.txt')), 'existing folder untouched');
  // Not compact's: refused even with --force (test/safety/output-guard.test.ts has the rest).
  await refuses({ out, vocab: 30000, force: true }, /holds keep\.txt and no compact-report\.json/);
  writeFileSync(join(out, 'compact-report.json'), '{}');
  await pruneModel({ model: MODEL(), out, vocab: 30000, force: true, quiet: true });
  assert.ok(existsSync(join(out, 'model.safetensors')) && !existsSync(join(out, 'keep.txt')));
  assert.deepEqual(readdirSync(dirname(out)), ['out'], 'no temporary folder left');
});

test('CLI: bad input exits non-zero with one line; bad flags name the flag', () => {
  const bin = join(REPO_ROOT, 'bin/compact.mjs');
  const out = join(makeTmpDir('cli'), 'out');
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'prune', MODEL(), '--out', out, '--quiet', ...args], { encoding: 'utf8' });
  const r1 = run('--ffn-ratio', '1.5');
  assert.equal(r1.status, 2, 'a usage mistake');
  assert.equal(r1.stderr, 'error: --ffn-ratio must be in (0, 1), got 1.5\n');
  const r2 = run('--vocab-sise', '3');
  assert.equal(r2.status, 2);
  assert.equal(r2.stderr, 'error: compact prune: unknown flag --vocab-sise; did you mean --vocab?\n');
  const r3 = spawnSync(process.execPath, [bin, 'prune', shared('fixtures/hf-golden/llama3'), '--out', out, '--vocab', '500'], { encoding: 'utf8' });
  assert.equal(r3.status, 1);
  assert.match(r3.stderr, /^error: not a model folder: no config\.json in .*hf-golden\/llama3\n$/);
  assert.ok(!existsSync(out));
});
