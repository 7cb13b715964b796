import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { searchGrid } from '../../src/prune/planner.ts';
import { REPO_ROOT } from '../helpers/paths.ts';

/** The search over a recorded curve: the pick, and which points it scored (round by round). */
async function search(curve: number[], mode: 'grid' | 'coarse-to-fine'): Promise<{ pick: number; scored: number; rounds: number }> {
  let scored = 0;
  let rounds = 0;
  const pick = await searchGrid(curve.length - 1, mode, async (idx) => {
    rounds++;
    scored += idx.length;
    return idx.map((i) => curve[i]!);
  });
  return { pick, scored, rounds };
}

function argmin(curve: number[]): number {
  return curve.reduce((b, v, i) => (v < curve[b]! ? i : b), 0);
}

test('coarse-to-fine finds the exhaustive pick on the recorded wiki-28m planner curves (R = 0.20 and 0.35, calibration tail and robust objective, plain slice and refit)', async () => {
  // Held-out bits/byte of all 21 candidates at the default 5% step, from the real runs behind
  // docs/results.md (calib-wiki, 40,000 tokens, sequences of 512).
  // (The planned split with the plain slice and with the refit.)
  const results = JSON.parse(readFileSync(join(REPO_ROOT, 'docs/results.json'), 'utf8')) as { rows: Array<{ key: string; target_ratio: number; planner: { candidates: Array<{ bpb: number | null }> } | null }> };
  const curves = results.rows.filter((r) => r.planner).map((r) => ({ ratio: `${r.key} ${r.target_ratio}`, curve: r.planner!.candidates.map((c) => c.bpb ?? Infinity) }));
  assert.deepEqual(curves.map((c) => c.ratio).sort(), ['compact-planned 0.2', 'compact-planned 0.35', 'compact-planned-refit 0.2', 'compact-planned-refit 0.35']);
  for (const { ratio, curve } of curves) {
    assert.equal(curve.length, 21);
    const grid = await search(curve, 'grid');
    const fine = await search(curve, 'coarse-to-fine');
    assert.equal(grid.pick, argmin(curve));
    assert.equal(fine.pick, grid.pick, `R = ${ratio}`);
    assert.ok(fine.scored <= 13, `R = ${ratio}: scored ${fine.scored} of 21`);
    assert.equal(grid.rounds, 1);
  }
  // The default robust objective's curves (worst relative increase over dense on the calibration
  // tail and the reference text) at both ratios, with the plain slice and with the refit, recorded
  // by scripts/planner-robustness.ts on every grid point.
  const robust = (JSON.parse(readFileSync(join(REPO_ROOT, 'docs/planner-robustness.json'), 'utf8')) as { runs: Array<{ ratio: number; reconstruct: boolean; robust_curve: Array<number | null> }> }).runs.map((r) => ({
    name: `robust R = ${r.ratio}${r.reconstruct ? ' --reconstruct' : ''}`,
    curve: r.robust_curve.map((v) => v ?? Infinity),
  }));
  // Every case recorded so far (of R = 0.20 and 0.35, plain and refit; results.md lists any missing).
  assert.ok(robust.length >= 1);
  for (const { name, curve } of robust) {
    assert.ok(curve.filter(Number.isFinite).length >= 5, `${name}: ${curve.length} points`);
    const fine = await search(curve, 'coarse-to-fine');
    assert.equal(fine.pick, argmin(curve), name);
    assert.ok(fine.scored < curve.length, `${name}: scored ${fine.scored} of ${curve.length}`);
  }
});

test('coarse-to-fine on unimodal curves: always the minimum, ties to the lower index, fewer points than the grid', async () => {
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let trial = 0; trial < 300; trial++) {
    const n = 5 + Math.floor(rand() * 36);
    const m = Math.floor(rand() * (n + 1));
    // Strictly decreasing to m, strictly increasing after: random steps.
    const curve = new Array<number>(n + 1);
    curve[m] = 1;
    for (let i = m - 1; i >= 0; i--) curve[i] = curve[i + 1]! + 0.01 + rand();
    for (let i = m + 1; i <= n; i++) curve[i] = curve[i - 1]! + 0.01 + rand();
    // Some infeasible points at the ends (the planner scores them Infinity).
    if (rand() < 0.3 && m > 0) curve[0] = Infinity;
    const r = await search(curve, 'coarse-to-fine');
    assert.equal(r.pick, m, `n ${n}: ${curve.map((v) => v.toFixed(2)).join(' ')}`);
    if (n >= 20) assert.ok(r.scored < n + 1, `n ${n}: scored ${r.scored}`);
  }
  assert.equal((await search([2, 1, 1, 3, 4, 5, 6, 7, 8], 'coarse-to-fine')).pick, 1);
  assert.equal((await search([2, 1, 1, 3], 'coarse-to-fine')).pick, 1);
});
