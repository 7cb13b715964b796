/**
 * The automatic vocabulary/FFN split for `--ratio R`: build every candidate split, score each by
 * bits per byte on the held-out tail of the calibration text, keep the best.
 *
 * Cost: one calibration pass for all candidates (act² under every candidate's token mask is
 * accumulated together, see calibrate.ts), then per candidate one sliced checkpoint written to
 * disk and one forward pass over the held-out tokens. For wiki-28m (28M parameters) that is
 * about a second of writing and a few seconds of scoring per candidate; for a 1B model expect
 * ~2 GB written and ~1 minute of scoring per candidate on 2 CPU cores (21 candidates at the
 * default 5% step: ~30 minutes), so use a coarser --planner-step or fix the split with
 * --vocab/--ffn there.
 */
import { CompactError } from '../errors.ts';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { evaluateText } from '../eval/text-eval.ts';
import type { EngineOptions } from '../engine/runner.ts';
import { elapsedEta } from '../report/progress.ts';
import type { Split } from './budget.ts';

export interface PlannerCandidate {
  /** Share of the removed parameters taken from the vocabulary (0 = FFN-only, 1 = vocab-only). */
  share: number;
  vocab: number;
  ffn: number;
  /** Achieved total-parameter reduction (null when skipped). */
  ratio: number | null;
  /** Held-out bits per byte (null when skipped). */
  bpb: number | null;
  /** Why the candidate was not built, or null. */
  skipped: string | null;
  seconds: number;
}

export interface PlannerReport {
  target_ratio: number;
  share_step: number;
  /** Calibration tokens importance was computed on, and the held-out tail that scored candidates. */
  fit_tokens: number;
  heldout: { fraction: number; tokens: number; bytes: number };
  candidates: PlannerCandidate[];
  /** Index into `candidates` of the split written. */
  chosen: number;
  seconds: number;
}

/**
 * Scores feasible splits; `build(split, dir)` writes that candidate's checkpoint folder. The best
 * (lowest bits per byte; ties to the earlier, i.e. FFN-heavier, candidate) is returned by index.
 */
export async function scoreSplits(
  splits: Split[],
  build: (split: Split, dir: string) => Promise<{ vocab: number; ratio: number }>,
  heldoutText: string,
  workDir: string,
  evalOpts: EngineOptions & { seqLen: number },
  say: (line: string) => void,
  onCandidate?: (dir: string, candidate: Readonly<PlannerCandidate>) => Promise<void>,
): Promise<{ candidates: PlannerCandidate[]; chosen: number; bytes: number }> {
  const candidates: PlannerCandidate[] = [];
  let chosen = -1;
  let bytes = 0;
  await mkdir(workDir, { recursive: true });
  // The ETA counts candidates that are built: a skipped one costs nothing.
  const N = splits.length;
  const toBuild = splits.filter((s) => !s.infeasible).length;
  let built = 0;
  const start = Date.now();
  const head = (k: number, s: Split) => `planner: candidate ${k} of ${N} (vocab share ${pct(s.share!)})`;
  try {
    for (const s of splits) {
      const c: PlannerCandidate = { share: s.share!, vocab: s.vocab, ffn: s.ffn, ratio: null, bpb: null, skipped: s.infeasible, seconds: 0 };
      candidates.push(c);
      const k = candidates.length;
      if (s.infeasible) {
        say(`${head(k, s)}: skipped (${s.infeasible})`);
        continue;
      }
      const t0 = performance.now();
      const dir = join(workDir, `candidate-${candidates.length - 1}`);
      const made = await build(s, dir);
      c.vocab = made.vocab;
      c.ratio = made.ratio;
      const broken = (what: string) => new CompactError(`planner: candidate with vocab share ${pct(s.share!)} (V′ ${c.vocab}, I′ ${c.ffn}) scored ${what} bits/byte on the held-out text; stopping rather than choosing among broken scores`);
      const r = await evaluateText(dir, heldoutText, { ...evalOpts, seqLen: evalOpts.seqLen }).catch((e: unknown) => {
        throw e instanceof CompactError && /log-likelihood of the text is/.test(e.message) ? broken('non-finite') : e;
      });
      if (!Number.isFinite(r.bpb)) throw broken(String(r.bpb));
      c.bpb = r.bpb;
      bytes = r.bytes;
      c.seconds = (performance.now() - t0) / 1000;
      await onCandidate?.(dir, c);
      await rm(dir, { recursive: true, force: true });
      if (chosen < 0 || c.bpb < candidates[chosen]!.bpb!) chosen = candidates.length - 1;
      built++;
      say(`${head(k, s)}: V′ ${c.vocab}, I′ ${c.ffn}, reduction ${pct(c.ratio)}, held-out ${c.bpb.toFixed(4)} bits/byte; ${elapsedEta(built, toBuild, start)}`);
    }
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  return { candidates, chosen, bytes };
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}
