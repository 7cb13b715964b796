/**
 * docs/results.md is generated; its verdicts must follow the numbers. A synthetic Results object
 * (no pruning) checks the planner-pick check and the "beats every baseline" line both ways.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PROTOCOL, resultsMarkdown, type Results, type Row } from '../../scripts/lib/experiments.ts';
import { plannerChart } from '../../scripts/lib/experiments-chart.ts';

const scores = { eval_tokens: 1, eval_bytes: 100, lambada_acc: 0.04, lambada_stderr: 0.006, hellaswag_acc: 0.25, hellaswag_acc_norm: 0.26, hellaswag_stderr: 0.014, eval_seconds: 1 };

function row(key: string, bpb: number, planner: Row['planner'] = null): Row {
  return { key, label: key, target_ratio: 0.2, ratio: 0.2, vocab: 40000, ffn: 1000, layers: 8, dropped_layers: null, prune_seconds: 1, planner, bpb, ...scores };
}

function results(plannedBpb: number, evalBpb: [number, number, number]): Results {
  const cand = (share: number, bpb: number, eval_bpb: number) => ({ share, vocab: 40000, ffn: 1000, ratio: 0.2, bpb, skipped: null, seconds: 1, eval_bpb });
  const planner = { candidates: [cand(0, 1.6, evalBpb[0]), cand(0.5, 1.5, evalBpb[1]), cand(1, 1.55, evalBpb[2])], chosen: 1, heldout_tokens: 10, fit_tokens: 90 };
  return {
    protocol: { ...PROTOCOL, ratios: [0.2] },
    machine: { cpus: 2, cpu_model: 'x', node: 'v20' },
    dense: { ...scores, bpb: 1.7, params: 1e6, vocab: 50257, ffn: 1280, layers: 8 },
    rows: [row('compact-planned', plannedBpb, planner), row('compact-fixed', 1.81), row('vocab-only', 1.84), row('ffn-only', 2.0)],
    seconds: 1,
  };
}

test('results.md: the pick is checked against the best candidate on evaluation text, and the verdict follows the table', () => {
  const good = resultsMarkdown(results(1.82, [1.9, 1.82, 1.823]));
  assert.match(good, /the planner, which never sees that text, picked 50% \(1\.8200\): the same split — within the 0\.005/);
  assert.match(good, /\*\*The planned COMPACT split beats every baseline at R = 0\.20\*\*: 1\.8200 bits\/byte against the best baseline, vocab-only, at 1\.8400/);
  const close = resultsMarkdown(results(1.838, [1.9, 1.838, 1.84]));
  assert.match(close, /ahead of every baseline at R = 0\.20, but only just\*\*: 1\.8380 bits\/byte against vocab-only at 1\.8400, a margin of 0\.0020/);
  assert.match(good, /\| 50% \| 40,000 \| 1,000 \| 20\.00% \| 1\.5000 \(chosen\) \| \*\*1\.8200\*\* \(best\) \|/);

  const bad = resultsMarkdown(results(1.85, [1.9, 1.85, 1.84]));
  assert.match(bad, /picked 50% \(1\.8500\): 0\.0100 bits\/byte behind — \*\*outside\*\* the 0\.005/);
  assert.match(bad, /does not beat every baseline at R = 0\.20\*\*: 1\.8500 bits\/byte against vocab-only at 1\.8400/);
  assert.match(plannerChart(results(1.82, [1.9, 1.82, 1.823])), /^<svg/);
});
