/**
 * docs/results.md's refit section is generated: its comparisons and the done-when verdicts
 * must follow the rows. Synthetic Results (no pruning) check both outcomes of each verdict.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROTOCOL, resultsMarkdown, type Results, type Row } from '../../scripts/lib/experiments.ts';
import { plannerChart } from '../../scripts/lib/experiments-chart.ts';

const scores = { eval_tokens: 1, eval_bytes: 100, lambada_acc: 0.04, lambada_stderr: 0.006, hellaswag_acc: 0.25, hellaswag_acc_norm: 0.26, hellaswag_stderr: 0.014, eval_seconds: 1 };
const noTasks = { ...scores, lambada_acc: null, lambada_stderr: null, hellaswag_acc: null, hellaswag_acc_norm: null, hellaswag_stderr: null };

function row(key: string, bpb: number, second: number | undefined, extra: Partial<Row> = {}): Row {
  const refit = key.includes('refit') ? { ridge: 0.01, loss_plain: [0.1, 0.2], loss_refit: [0.05, 0.1], fallbacks: 0 } : null;
  return { key, label: key, target_ratio: 0.35, ratio: 0.35, vocab: 27418, ffn: 962, layers: 8, dropped_layers: null, prune_seconds: 1, planner: null, bpb, second_bpb: second, ...(refit ? noTasks : scores), refit, ...extra };
}

const cand = (share: number, bpb: number, eval_bpb: number) => ({ share, vocab: 40000 - share * 10000, ffn: 1000, ratio: 0.35, bpb, skipped: null, seconds: 1, eval_bpb });

function results(fixedRefit: number, plannedRefit: number, fixedRefitSecond: number): Results {
  const plainPlanner = { candidates: [cand(0.6, 1.60, 1.945), cand(0.75, 1.572, 1.9136)], chosen: 1, heldout_tokens: 6000, fit_tokens: 34000 };
  const refitPlanner = { candidates: [cand(0.6, 1.529, plannedRefit), cand(0.75, 1.546, 1.9031)], chosen: 0, heldout_tokens: 6000, fit_tokens: 34000 };
  return {
    protocol: { ...PROTOCOL, ratios: [0.35] },
    machine: { cpus: 2, cpu_model: 'x', node: 'v20' },
    dense: { ...scores, bpb: 1.773, second_bpb: 1.337, params: 1e6, vocab: 50257, ffn: 1280, layers: 8 },
    rows: [
      row('compact-planned', 1.9136, 1.45, { planner: plainPlanner }),
      row('compact-fixed', 1.9164, 1.46),
      row('vocab-only', 1.9794, 1.44),
      row('ffn-only', 3.86, 3.7),
      row('compact-planned-refit', plannedRefit, 1.44, { planner: refitPlanner, vocab: 31995, ffn: 771 }),
      row('compact-fixed-refit', fixedRefit, fixedRefitSecond),
      row('ffn-only-refit', 3.2, 3.1),
      row('compact-fixed-refit-ridge-0.001', 1.906, 1.455, { refit: { ridge: 0.001, loss_plain: [0.1, 0.2], loss_refit: [0.05, 0.1], fallbacks: 0 } }),
      row('compact-fixed-refit-ridge-0.1', 1.9065, 1.452, { refit: { ridge: 0.1, loss_plain: [0.1, 0.2], loss_refit: [0.06, 0.11], fallbacks: 0 } }),
    ],
    seconds: 1,
    second_text: { path: 'data/sotu-2001-2021.txt', bytes: 119977 },
  };
}

test('results.md: refit rows sit in their own section beside the plain rows, not among the baselines', () => {
  const md = resultsMarkdown(results(1.9059, 1.9002, 1.45));
  const [main, refit] = md.split('## With the refit (`--reconstruct`)');
  assert.ok(refit, 'the refit section exists');
  // The baseline ranking holds only plain rows.
  assert.match(main!, /Ranked by bits per byte: compact-planned 1\.914 < compact-fixed 1\.916 < vocab-only 1\.979 < ffn-only 3\.860\./);
  assert.doesNotMatch(main!.slice(main!.indexOf('## Protocol')), /refit/);
  assert.match(refit!, /\| compact-fixed-refit \| 27,418 \| 962 \| 1\.9164 \| 1\.9059 \| −0\.0105 \| 1\.4600 \| 1\.4500 \| −0\.0100 \| 15\.0% → 7\.5% \|/);
  assert.match(refit!, /\| compact-planned-refit — chose 75% → 60% from the vocabulary \| 27,418 → 31,995 \| 962 → 771 \|/);
  assert.match(refit!, /- WikiText-2: the refit is better in 3 of 3 rows by 0\.0105 to 0\.6600 bits\/byte\./);
  // The λ sweep holds the default-λ row and the plain slice.
  assert.match(refit!, /\| 0\.01 \(default\) \| 1\.9059 \| 1\.4500 \| 7\.50% \| 0 \|/);
  assert.match(refit!, /\| plain slice \| 1\.9164 \| 1\.4600 \| 15\.00% \| all \|/);
  assert.match(refit!, /\| 60% \| 34,000 \| 1,000 \| 1\.6000 \| 1\.5290 \(chosen\) \| 1\.9450 \| \*\*1\.9002\*\* \(best\) \|/);
  assert.match(refit!, /\| 75% \| 32,500 \| 1,000 \| 1\.5720 \(chosen\) \| 1\.5460 \|/);
  // The chart shows the plain planner only.
  assert.equal((plannerChart(results(1.9059, 1.9002, 1.45)).match(/chose /g) ?? []).length, 1);
});

test('results.md: the done-when verdicts and the second-genre comparison follow the numbers', () => {
  const good = resultsMarkdown(results(1.9059, 1.9002, 1.45));
  assert.match(good, /fixed 75% split with the refit \(V′ 27,418, I′ 962\): 1\.9059 bits\/byte, target ≤ 1\.908 — \*\*met\*\*/);
  assert.match(good, /chose 60% \(V′ 31,995, I′ 771\), 1\.9002 bits\/byte against 1\.9136 without it, 0\.0134 lower; target at least 0\.01 lower — \*\*met\*\*/);
  const bad = resultsMarkdown(results(1.9090, 1.9080, 1.47));
  assert.match(bad, /1\.9090 bits\/byte, target ≤ 1\.908 — \*\*not met\*\*/);
  assert.match(bad, /0\.0056 lower; target at least 0\.01 lower — \*\*not met\*\*/);
  assert.match(bad, /- SOTU \(another genre than the calibration\): the refit is better in 2 of 3 rows by 0\.0100 to 0\.6000 bits\/byte; worse in compact-fixed-refit@0\.35 \(\+0\.0100\)\./);
});
