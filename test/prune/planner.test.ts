import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { pruneModel, type PruneOptions } from '../../src/prune/prune.ts';
import { evaluateText } from '../../src/eval/text-eval.ts';
import { readModelConfig } from '../../src/families/model-config.ts';
import { countParams } from '../../src/report/params.ts';
import { achievedRatio, candidateSplits, defaultFfnMultiple, layersToDrop, splitForShare, splitForVocab } from '../../src/prune/budget.ts';
import { CompactError } from '../../src/errors.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenize.ts';
import { GOLDEN_CASES, REPO_ROOT, shared } from '../helpers/paths.ts';
import { Engine } from '../../src/engine/runner.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { CALIB } from './prune-helpers.ts';

test('budget arithmetic on wiki-28m reproduces the issue\'s splits at R = 0.20', () => {
  const { spec } = readModelConfig(shared('models/wiki-28m'));
  const limits = { tokenizerSize: 50257, minVocab: 257 };
  const at = (share: number) => splitForShare(spec, 0.2, share, limits);
  assert.deepEqual([at(0.75).vocab, at(0.75).ffn], [37226, 1098]);
  assert.deepEqual([at(1).vocab, at(1).ffn], [32867, 1280]);
  // FFN-only: V′ is the tokenizer (the 47 padding rows go anyway), the FFN takes the rest.
  assert.deepEqual([at(0).vocab, at(0).ffn], [50257, 555]);
  assert.equal(layersToDrop(spec, 0.2, 50257).drop, 4);
  const total = countParams(spec).total_params;
  const cands = candidateSplits(spec, 0.2, 0.05, limits);
  assert.equal(cands.length, 21);
  for (const c of cands) {
    assert.equal(c.infeasible, null);
    // Rounding: at most half an FFN channel (7,680 params) or half a vocabulary row off.
    assert.ok(Math.abs(c.ratio - 0.2) <= 3840 / total, `share ${c.share}: ratio ${c.ratio}`);
  }
  // At R = 0.6 the vocabulary alone would need V′ below its mandatory minimum, and FFN-only needs I′ < 1.
  const big = candidateSplits(spec, 0.6, 0.1, limits);
  assert.match(big.at(-1)!.infeasible!, /below the mandatory minimum/);
  assert.match(big[0]!.infeasible!, /I′ -?\d+ < 1/);
  assert.ok(big.some((c) => c.infeasible === null));
});

test('planner: every candidate listed, the best held-out score written, the ratio reached within rounding', async () => {
  const dir = fixtureWithTokenizer('llama3');
  const { spec } = readModelConfig(dir);
  const R = 0.3;
  const check = readFileSync(shared('data/text/wikitext2-test.raw'), 'utf8').slice(5000, 6500);
  const opts: PruneOptions = { model: dir, out: join(makeTmpDir('planner'), 'out'), ratio: R, plannerStep: 0.25, holdout: 0.2, calib: CALIB(), calibTokens: 640, seqLen: 64, quiet: true, plannerCheckTexts: [{ name: 'check', text: check }] };
  const report = await pruneModel(opts);
  const p = report.planner!;
  assert.deepEqual(p.candidates.map((c) => c.share), [0, 0.25, 0.5, 0.75, 1]);
  assert.equal(p.fit_tokens, 512);
  assert.equal(p.heldout.tokens, 128);
  const total = countParams(spec).total_params;
  const perChannel = total - countParams(spec, { intermediate: spec.intermediate - 1 }).total_params;
  const perRow = total - countParams(spec, { vocab: spec.vocabSize - 1 }).total_params;
  const scored = p.candidates.filter((c) => c.skipped === null);
  assert.ok(scored.length >= 3, 'most splits are feasible at 30%');
  for (const c of scored) assert.ok(Math.abs(c.ratio! - R) <= Math.max(perChannel, perRow) / 2 / total, `share ${c.share}: ratio ${c.ratio}`);
  // The chosen candidate is the best-scoring one, and it is what was written.
  const best = scored.reduce((a, c) => (c.bpb! < a.bpb! ? c : a));
  assert.equal(p.candidates[p.chosen], best);
  assert.equal(report.vocab.kept, best.vocab);
  assert.equal(report.ffn.intermediate_after, best.ffn);
  assert.ok(Math.abs(report.params.reduction - R) <= Math.max(perChannel, perRow) / 2 / total);
  // Scores differ between candidates (a real comparison), and the written model scores what the
  // planner measured in memory on the held-out tail ([start] + tokens 512…639 of the stream,
  // decoded) and on the check text, by the engine on the written checkpoint.
  assert.ok(new Set(scored.map((c) => c.bpb)).size === scored.length);
  assert.equal(p.objective, 'robust');
  assert.equal(p.candidate_bytes_written, 0);
  assert.deepEqual(p.texts.map((t) => t.role), ['heldout', 'reference', 'check']);
  for (const t of p.texts) assert.ok(t.dense_bpb! > 0 && t.tokens > 0, t.name);
  // robust: the worst relative increase over dense among the texts that choose (not the check text).
  for (const c of scored) {
    const worst = Math.max(...p.texts.filter((t) => t.role !== 'check').map((t) => c.scores![t.name]! / t.dense_bpb! - 1));
    assert.ok(Math.abs(c.bpb! - worst) < 1e-12, `share ${c.share}`);
  }
  const checked = await evaluateText(report.output, check, { seqLen: 64, threads: 2 });
  assert.ok(Math.abs(checked.bpb - best.scores!.check!) < 1e-5, `${checked.bpb} vs ${best.scores!.check}`);
  const tok = loadTokenizer(dir);
  const stream = [tok.streamStartId, ...tok.encode(readFileSync(CALIB(), 'utf8')).subarray(0, 639)];
  const heldout = tok.decode(stream.slice(512, 640));
  const again = await evaluateText(report.output, heldout, { seqLen: 64, threads: 2 });
  assert.ok(Math.abs(again.bpb - best.scores!['calib-heldout']!) < 1e-5, `${again.bpb} vs ${best.scores!['calib-heldout']}`);
  const saved = JSON.parse(readFileSync(join(report.output, 'compact-report.json'), 'utf8'));
  assert.equal(saved.planner.candidates.length, 5);
});

test('--ratio with one of --vocab/--ffn solves the other; methods fix the split; bad combinations refused', async () => {
  const dir = fixtureWithTokenizer('qwen2');
  const { spec } = readModelConfig(dir);
  const base = { model: dir, calib: CALIB(), calibTokens: 256, seqLen: 64, quiet: true } as const;
  const out = () => join(makeTmpDir('ratio'), 'out');
  const total = countParams(spec).total_params;
  const a = await pruneModel({ ...base, out: out(), ratio: 0.25, vocab: 800 });
  assert.equal(a.vocab.kept, 800);
  assert.ok(Math.abs(a.params.reduction - 0.25) * total <= (3 * spec.hidden * spec.layers) / 2 + 1);
  const b = await pruneModel({ ...base, out: out(), ratio: 0.25, ffn: 120 });
  assert.equal(b.ffn.intermediate_after, 120);
  assert.ok(Math.abs(b.params.reduction - 0.25) * total <= spec.hidden / 2 + 1);
  const v = await pruneModel({ ...base, out: out(), ratio: 0.2, method: 'vocab-only' });
  assert.equal(v.ffn.intermediate_after, spec.intermediate);
  assert.equal(v.calibration, null);
  const f = await pruneModel({ ...base, out: out(), ratio: 0.2, method: 'ffn-only' });
  assert.equal(f.vocab.kept, 1024);
  assert.equal(f.ffn.criterion, 'act2-common');
  const refuses = (o: Partial<PruneOptions>, re: RegExp) =>
    assert.rejects(pruneModel({ ...base, out: out(), ...o } as PruneOptions), (e: unknown) => e instanceof CompactError && re.test(e.message));
  await refuses({ ratio: 0.2, vocab: 800, ffn: 100 }, /at most one of --vocab and --ffn/);
  await refuses({ method: 'shortgpt' }, /needs --ratio/);
  await refuses({ method: 'shortgpt', ratio: 0.3, vocab: 800 }, /not --vocab/);
  await refuses({ method: 'vocab-only', ratio: 0.2, ffn: 100 }, /keeps every FFN channel/);
  await refuses({ method: 'vocab-only', ratio: 0.95 }, /below the mandatory minimum/);
  await refuses({ method: 'ffn-only', ratio: 0.9 }, /I′ -?\d+ < 1/);
  await refuses({ method: 'nope' as PruneOptions['method'], ratio: 0.2 }, /--method must be one of/);
  await refuses({ ffn: 100, ffnCriterion: 'nope' as PruneOptions['ffnCriterion'] }, /--ffn-criterion must be one of/);
  await refuses({ ratio: 1.5 }, /--ratio must be in \(0, 1\)/);
  await refuses({ ratio: 0.2, plannerTokens: 10 }, /--planner-tokens must be an integer ≥ 64, got 10/);
});

test('CLI: prune --ratio prints every planner candidate and marks the chosen one', () => {
  const dir = fixtureWithTokenizer('llama3');
  const out = join(makeTmpDir('planner-cli'), 'out');
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/compact.mjs'), 'prune', dir, '--out', out, '--ratio', '0.3', '--planner-step', '0.5', '--calib', CALIB(), '--calib-tokens', '400', '--seq-len', '64', '--holdout', '0.3', '--planner-tokens', '64', '--quiet', '--threads', '2', '--planner-text', join(REPO_ROOT, 'data/sotu-2001-2021.txt'), `--planner-text=${shared('data/text/wikitext2-test.raw')}`], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout.split('\n').filter((l) => /^\*?\s+\d+\.\d%\s+[\d,]+\s+[\d,]+\s/.test(l));
  assert.equal(rows.length, 3, r.stdout);
  assert.equal(rows.filter((l) => l.startsWith('*')).length, 1, r.stdout);
  const saved = JSON.parse(readFileSync(join(out, 'compact-report.json'), 'utf8'));
  assert.equal(saved.method, 'compact');
  assert.equal(saved.flags.planner_step, 0.5);
  assert.match(rows[saved.planner.chosen]!, /^\*/);
  // Both --planner-text files are held-out texts of the robust objective; every text, the held-out
  // tail (120 tokens) included, is scored on --planner-tokens 64 of its tokens.
  assert.deepEqual(saved.planner.texts.map((t: { name: string; role: string }) => `${t.name}:${t.role}`), ['calib-heldout:heldout', 'moby-dick-end:reference', 'sotu-2001-2021.txt:user', 'wikitext2-test.raw:user']);
  assert.equal(saved.planner.heldout.tokens, 120);
  assert.equal(saved.planner.heldout.scored_tokens, 64);
  for (const t of saved.planner.texts) assert.ok(Math.abs(t.tokens - 64) <= 4, `${t.name}: ${t.tokens} tokens`);
  assert.deepEqual(saved.flags.planner_texts, ['sotu-2001-2021.txt', 'wikitext2-test.raw']);
});

test('--ratio on every golden family: a standard checkpoint at the ratio, scored in memory as the engine scores it from disk', async () => {
  const check = readFileSync(shared('data/text/wikitext2-test.raw'), 'utf8').slice(9000, 9600);
  for (const name of GOLDEN_CASES) {
    const dir = fixtureWithTokenizer(name);
    const { spec } = readModelConfig(dir);
    if (spec.moe) {
      // Routed experts are not sliced by the streamed planner yet: refused before any work.
      await assert.rejects(pruneModel({ model: dir, out: join(makeTmpDir(`ratio-${name}`), 'out'), ratio: 0.25, calib: CALIB(), quiet: true }), /does not slice routed experts/);
      continue;
    }
    const report = await pruneModel({
      model: dir,
      out: join(makeTmpDir(`ratio-${name}`), 'out'),
      ratio: 0.25,
      plannerStep: 0.5,
      holdout: 0.25,
      calib: CALIB(),
      calibTokens: 256,
      seqLen: 64,
      threads: 2,
      quiet: true,
      plannerObjective: 'calib',
      plannerCheckTexts: [{ name: 'check', text: check }],
    });
    const p = report.planner!;
    assert.deepEqual(p.texts.map((t) => t.name), ['calib-heldout', 'check']);
    // The in-memory slice (embedding/lm_head rows, FFN channels, the pruned tokenizer) is the
    // checkpoint the writer produced: the engine reading it from disk gives the same score.
    const chosen = p.candidates[p.chosen]!;
    const disk = await evaluateText(report.output, check, { seqLen: 64, threads: 2 });
    assert.ok(Math.abs(disk.bpb - chosen.scores!.check!) < 1e-5, `${name}: ${disk.bpb} vs ${chosen.scores!.check}`);
    assert.equal(chosen.bpb, chosen.scores!['calib-heldout']);
    const total = countParams(spec).total_params;
    const perChannel = total - countParams(spec, { intermediate: spec.intermediate - 1 }).total_params;
    const perRow = total - countParams(spec, { vocab: spec.vocabSize - 1 }).total_params;
    assert.ok(Math.abs(report.params.reduction - 0.25) <= Math.max(perChannel, perRow) / 2 / total, `${name}: reduction ${report.params.reduction}`);
    // The output is a standard checkpoint of the same family that our engine runs.
    const out = readModelConfig(report.output).spec;
    assert.equal(out.family.name, spec.family.name);
    assert.equal(out.intermediate, report.ffn.intermediate_after);
    const engine = await Engine.open(report.output, { threads: 2 });
    try {
      const ids = Int32Array.from({ length: 16 }, (_, i) => (i * 37) % out.vocabSize);
      const r = await engine.forward([ids], { targets: [Int32Array.from(ids, (_, i) => ids[(i + 1) % 16]!)] });
      assert.ok(r.logprobs![0]!.every((x) => Number.isFinite(x) && x <= 0), `${name}: finite log-probabilities`);
    } finally {
      await engine.close();
    }
  }
});

test('--ffn-multiple: solved I′ lands on a multiple, V′ absorbs the difference so R still holds', async () => {
  const { spec } = readModelConfig(shared('models/wiki-28m'));
  const limits = { tokenizerSize: 50257, minVocab: 257, ffnMultiple: 32 };
  const total = countParams(spec).total_params;
  const perRow = total - countParams(spec, { vocab: spec.vocabSize - 1 }).total_params;
  const plain = splitForShare(spec, 0.35, 0.75, { tokenizerSize: 50257, minVocab: 257 });
  assert.equal(plain.ffn, 962); // not a multiple of 32: the case the option exists for
  for (const c of candidateSplits(spec, 0.35, 0.05, limits).filter((c) => c.infeasible === null)) {
    if (c.share === 1) continue; // vocab-only keeps every channel
    assert.equal(c.ffn % 32, 0, `share ${c.share}: I′ ${c.ffn}`);
    if (c.share === 0) {
      // FFN-only keeps the vocabulary: I′ is the nearest multiple (at least one), R moves with it.
      const unaligned = splitForShare(spec, 0.35, 0, { tokenizerSize: 50257, minVocab: 257 }).ffn;
      assert.ok(Math.abs(c.ffn - unaligned) <= 16 || c.ffn === 32, `FFN-only: ${unaligned} → ${c.ffn}`);
      assert.ok(Math.abs(c.ratio - achievedRatio(spec, 50257, c.ffn)) < 1e-12);
      continue;
    }
    // Other shares re-solve V′ after aligning (R within half a row), or were aligned already (half a channel).
    const perChannel = total - countParams(spec, { intermediate: spec.intermediate - 1 }).total_params;
    assert.ok(Math.abs(c.ratio - 0.35) <= Math.max(perRow, perChannel) / 2 / total, `share ${c.share}: ratio ${c.ratio}`);
  }
  const aligned = splitForShare(spec, 0.35, 0.75, limits);
  assert.equal(aligned.ffn, 960);
  assert.ok(aligned.vocab > plain.vocab, 'two fewer channels leave more rows to the vocabulary');

  const dir = fixtureWithTokenizer('llama3');
  const report = await pruneModel({ model: dir, out: join(makeTmpDir('ffn-multiple'), 'out'), ratio: 0.3, vocab: 900, ffnMultiple: 8, calib: CALIB(), calibTokens: 256, seqLen: 64, threads: 2, quiet: true });
  assert.equal(report.ffn.intermediate_after % 8, 0);
  assert.equal(report.flags.ffn_multiple, 8);
  await assert.rejects(pruneModel({ model: dir, out: join(makeTmpDir('ffn-multiple-bad'), 'out'), ratio: 0.3, ffnMultiple: 0, calib: CALIB(), quiet: true }), /--ffn-multiple must be an integer/);
});

test('default --ffn-multiple: 256, or the largest of 128/64/32 leaving 8 widths, 1 below 256; --ratio solves I′ to it, --ffn-multiple 1 keeps the exact I′', async () => {
  assert.deepEqual([14336, 4864, 2048, 1280, 1024, 511, 300, 255, 176].map(defaultFfnMultiple), [256, 256, 256, 128, 128, 32, 32, 1, 1]);
  const model = shared('models/wiki-28m');
  const { spec } = readModelConfig(model);
  const base = { model, ratio: 0.35, vocab: 30000, ffnCriterion: 'magnitude' as const, threads: 2, quiet: true };
  const aligned = await pruneModel({ ...base, out: join(makeTmpDir('ffn-default'), 'out') });
  const exact = await pruneModel({ ...base, out: join(makeTmpDir('ffn-exact'), 'out'), ffnMultiple: 1 });
  const solved = splitForVocab(spec, 0.35, 30000, { tokenizerSize: 50257, minVocab: 257 }).ffn;
  assert.equal(exact.ffn.intermediate_after, solved, '--ffn-multiple 1 keeps the exact solved I′');
  assert.equal(exact.flags.ffn_multiple, 1);
  assert.equal(aligned.flags.ffn_multiple, 128);
  assert.equal(aligned.ffn.intermediate_after % 128, 0);
  assert.equal(aligned.ffn.intermediate_after, Math.round(solved / 128) * 128);
});
