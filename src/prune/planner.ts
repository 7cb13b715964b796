/**
 * The automatic vocabulary/FFN split for `--ratio R`: candidate splits scored by bits per byte on
 * texts the importance scores never saw, the best by the objective written.
 *
 * Cost: one calibration pass for all candidates (act² under every candidate's token mask is
 * accumulated together, see calibrate.ts), then streamed scoring passes (engine/candidate-pass.ts):
 * each reads every layer's weights once and advances all of its candidates' held-out windows
 * through it, each with its own kept channels, vocabulary rows and tokenizer. Nothing is written.
 *
 * Search (`coarse-to-fine`, default): the vocabulary's share of the budget on the grid
 * 0, step, …, 1 is searched from a coarse grid (every 5th point at the default step: 0, 25, 50,
 * 75, 100%) and then around the best so far at spacings ⌈h/2⌉ down to 1 — 11 candidates instead of
 * 21 at the default step, in 4 passes. It finds the exhaustive grid's optimum whenever the score
 * is unimodal in the share (as measured on wiki-28m, docs/results.md); `grid` scores every point.
 *
 * Objective (`robust`, default): every candidate is scored on the held-out calibration tail, on a
 * reference text of another domain that ships with the package (see reference-text.ts) and on any
 * --planner-text; the dense model is scored on the same texts, and a candidate's objective is its
 * worst relative increase in bits per byte over the dense model across those texts. The pick is the
 * smallest worst case. `calib` scores the calibration tail alone (bits per byte), as the planner
 * did before. Why robust: FFN importance comes from the calibration domain while merge-order
 * vocabulary pruning does not, so the calibration tail alone always favours cutting more FFN, and
 * that pick loses elsewhere (README, "Choosing the split").
 */
import { CompactError } from '../errors.ts';
import { elapsedEta } from '../report/progress.ts';
import type { Split } from './budget.ts';
import type { DownProjHook, Variant, VariantScore } from '../engine/candidate-pass.ts';

export const PLANNER_OBJECTIVES = ['robust', 'calib'] as const;
export type PlannerObjective = (typeof PLANNER_OBJECTIVES)[number];
export const PLANNER_SEARCHES = ['coarse-to-fine', 'grid'] as const;
export type PlannerSearch = (typeof PLANNER_SEARCHES)[number];

/** What a text is to the planner. */
export type PlannerTextRole =
  /** The held-out tail of the calibration stream. */
  | 'heldout'
  /** The built-in reference text of another domain. */
  | 'reference'
  /** A --planner-text of the user's. */
  | 'user'
  /** Scored and reported, never used to choose (the experiments' evaluation texts). */
  | 'check';

export interface PlannerTextInput {
  name: string;
  role: PlannerTextRole;
  text: string;
}

export interface PlannerTextInfo {
  name: string;
  role: PlannerTextRole;
  bytes: number;
  /** Tokens of the dense tokenizer. */
  tokens: number;
  /** The dense model's bits per byte on it (null when the dense model was not scored). */
  dense_bpb: number | null;
}

export interface PlannerCandidate {
  /** Share of the removed parameters taken from the vocabulary (0 = FFN-only, 1 = vocab-only). */
  share: number;
  vocab: number;
  ffn: number;
  /** Achieved total-parameter reduction (null when skipped). */
  ratio: number | null;
  /**
   * The objective the pick minimised (null when not scored): `calib`: bits per byte on the
   * held-out calibration tail; `robust`: the worst relative increase in bits per byte over the
   * dense model across the planner's texts (0.05 = 5% worse than dense on the worst text).
   */
  bpb: number | null;
  /** Bits per byte on every text, by text name (`texts` of the report), or null when not scored. */
  scores: Record<string, number> | null;
  /** Why the candidate was not built, or null; "not searched" when the search did not need it. */
  skipped: string | null;
  /** Which scoring pass scored it (0-based), or null. */
  pass: number | null;
}

export interface PlannerReport {
  target_ratio: number;
  share_step: number;
  search: PlannerSearch;
  objective: PlannerObjective;
  /** Calibration tokens importance was computed on, and the held-out tail that scored candidates. */
  fit_tokens: number;
  /** The held-out tail: its share and size, and the tokens of it (and of every other text) a candidate is scored on. */
  heldout: { fraction: number; tokens: number; bytes: number; scored_tokens: number };
  texts: PlannerTextInfo[];
  candidates: PlannerCandidate[];
  /** Index into `candidates` of the split written. */
  chosen: number;
  /** Streamed scoring passes (each reads the model's weights once). */
  passes: number;
  /** Bytes of candidate checkpoints written to disk: none. */
  candidate_bytes_written: 0;
  seconds: number;
}

/** A candidate as the streamed scorer needs it: its rows, channels and its own tokenizer. */
export interface CandidateModel {
  rows: Int32Array;
  channels: Int32Array[] | null;
  /** down_proj instead of the plain slice (the refit, when on). */
  downProj?: DownProjHook;
  encode: (text: string) => Int32Array;
  startId: number;
  /** V′ as built, and the reduction it achieves. */
  vocab: number;
  ratio: number;
}

export interface PlanArgs {
  /** The grid: shares 0, step, …, 1 in order (deduplicated splits keep their share). */
  splits: Split[];
  search: PlannerSearch;
  objective: PlannerObjective;
  texts: PlannerTextInput[];
  seqLen: number;
  /** Build one candidate (or the dense model for `null`). */
  model: (split: Split | null) => Promise<CandidateModel>;
  /** Score variants in one pass; the second argument is each variant's split (null = dense). */
  score: (variants: Variant[], splits: Array<Split | null>) => Promise<VariantScore[]>;
  /** Residual-stream budget of one pass, in tokens (the calibration's own footprint). */
  maxPassTokens: number;
  say: (line: string) => void;
}

export interface PlanResult {
  candidates: PlannerCandidate[];
  chosen: number;
  texts: PlannerTextInfo[];
  passes: number;
}

/** Windows of [start] + ids as evaluateText cuts them: inputs stream[s, s+n), targets stream[s+1, s+n+1). */
export function textWindows(ids: Int32Array, startId: number, seqLen: number): { inputs: Int32Array[]; targets: Int32Array[] } {
  const stream = new Int32Array(ids.length + 1);
  stream[0] = startId;
  stream.set(ids, 1);
  const inputs: Int32Array[] = [];
  const targets: Int32Array[] = [];
  for (let s = 0; s < ids.length; s += seqLen) {
    const n = Math.min(seqLen, ids.length - s);
    inputs.push(stream.subarray(s, s + n));
    targets.push(stream.subarray(s + 1, s + n + 1));
  }
  return { inputs, targets };
}

/**
 * The grid indices the search scores, round by round: `score(indices)` returns their objective
 * values (Infinity for infeasible ones). Returns the best index (ties to the lower index, i.e. the
 * FFN-heavier split).
 */
export async function searchGrid(n: number, mode: PlannerSearch, score: (indices: number[]) => Promise<number[]>): Promise<number> {
  const value = new Map<number, number>();
  const run = async (indices: number[]) => {
    const fresh = [...new Set(indices)].filter((i) => i >= 0 && i <= n && !value.has(i)).sort((a, b) => a - b);
    if (fresh.length === 0) return;
    const v = await score(fresh);
    fresh.forEach((i, k) => value.set(i, v[k]!));
  };
  const best = (): number => {
    let b = -1;
    for (const [i, v] of [...value].sort((x, y) => x[0] - y[0])) if (b < 0 || v < value.get(b)!) b = i;
    return b;
  };
  if (mode === 'grid' || n <= 4) {
    await run(Array.from({ length: n + 1 }, (_, i) => i));
    return best();
  }
  let h = Math.max(1, Math.round(n / 4));
  const coarse: number[] = [];
  for (let i = 0; i < n; i += h) coarse.push(i);
  coarse.push(n);
  await run(coarse);
  while (h > 1) {
    h = Math.ceil(h / 2);
    const b = best();
    await run([b - h, b + h]);
  }
  // Hill-climb at spacing 1 until the best point's neighbours are both scored.
  for (;;) {
    const b = best();
    const before = value.size;
    await run([b - 1, b + 1]);
    if (value.size === before) return b;
  }
}

/** Runs the search; every grid point appears in `candidates` (scored, skipped or not searched). */
export async function planSplit(a: PlanArgs): Promise<PlanResult> {
  const n = a.splits.length - 1;
  const candidates: PlannerCandidate[] = a.splits.map((s) => ({
    share: s.share!,
    vocab: s.vocab,
    ffn: s.ffn,
    ratio: null,
    bpb: null,
    scores: null,
    skipped: s.infeasible ?? 'not searched',
    pass: null,
  }));
  const bytes = a.texts.map((t) => Buffer.byteLength(t.text, 'utf8'));
  const texts: PlannerTextInfo[] = a.texts.map((t, i) => ({ name: t.name, role: t.role, bytes: bytes[i]!, tokens: 0, dense_bpb: null }));
  const chooses = a.texts.map((t) => (a.objective === 'calib' ? t.role === 'heldout' : t.role !== 'check'));
  let dense: number[] | null = null;
  let passes = 0;
  // Progress: candidate k of the number the search is expected to visit, with an ETA.
  const expected = expectedVisits(n, a.search);
  let visited = 0;
  let built = 0;
  const toBuild = Math.min(expected, a.splits.filter((s) => !s.infeasible).length);
  const start = Date.now();
  const head = (c: PlannerCandidate) => `planner: candidate ${++visited} of ${Math.max(expected, visited)} (vocab share ${pct(c.share)})`;

  // Builds and scores a set of models (null = dense) in passes bounded by maxPassTokens.
  const scoreModels = async (splits: Array<Split | null>): Promise<number[][]> => {
    const built: Array<{ variant: Variant; tokens: number }> = [];
    for (const s of splits) {
      const m = await a.model(s);
      const ci = s ? a.splits.indexOf(s) : -1;
      if (ci >= 0) {
        candidates[ci]!.vocab = m.vocab;
        candidates[ci]!.ratio = m.ratio;
      }
      let tokens = 0;
      const vt = a.texts.map((t, ti) => {
        const ids = m.encode(t.text);
        if (s === null) texts[ti]!.tokens = ids.length;
        tokens += ids.length;
        return textWindows(ids, m.startId, a.seqLen);
      });
      built.push({ variant: { rows: m.rows, channels: m.channels, texts: vt, downProj: m.downProj }, tokens });
    }
    const out: number[][] = new Array(splits.length);
    for (let i = 0; i < built.length; ) {
      let j = i;
      let sum = 0;
      while (j < built.length && (j === i || sum + built[j]!.tokens <= a.maxPassTokens)) sum += built[j++]!.tokens;
      const scores = await a.score(built.slice(i, j).map((b) => b.variant), splits.slice(i, j));
      passes++;
      scores.forEach((sc, k) => (out[i + k] = sc.texts.map((t, ti) => t.nll / Math.LN2 / bytes[ti]!)));
      for (let k = i; k < j; k++) built[k] = { variant: { rows: new Int32Array(0), channels: null, texts: [] }, tokens: 0 };
      i = j;
    }
    return out;
  };
  const objective = (bpb: number[]): number => {
    if (a.objective === 'calib') return bpb[a.texts.findIndex((t) => t.role === 'heldout')]!;
    let worst = -Infinity;
    bpb.forEach((b, ti) => {
      if (chooses[ti]) worst = Math.max(worst, b / dense![ti]! - 1);
    });
    return worst;
  };

  const chosen = await searchGrid(n, a.search, async (indices) => {
    const feasible = indices.filter((i) => !a.splits[i]!.infeasible);
    const withDense = dense === null && a.objective === 'robust';
    const models: Array<Split | null> = [...(withDense ? [null] : []), ...feasible.map((i) => a.splits[i]!)];
    const pass = passes;
    const results = models.length ? await scoreModels(models) : [];
    if (withDense) {
      dense = results.shift()!;
      dense.forEach((b, ti) => (texts[ti]!.dense_bpb = b));
      a.say(`planner: dense model ${a.texts.map((t, ti) => `${t.name} ${dense![ti]!.toFixed(4)}`).join(', ')} bits/byte`);
    }
    const byIndex = new Map(feasible.map((i, k) => [i, results[k]!]));
    return indices.map((i) => {
      const c = candidates[i]!;
      const bpb = byIndex.get(i);
      if (!bpb) {
        a.say(`${head(c)}: skipped (${c.skipped})`);
        return Infinity;
      }
      c.skipped = null;
      c.pass = pass;
      c.scores = Object.fromEntries(a.texts.map((t, ti) => [t.name, bpb[ti]!]));
      if (!bpb.every((b) => Number.isFinite(b))) {
        throw new CompactError(`planner: candidate with vocab share ${pct(c.share)} (V′ ${c.vocab}, I′ ${c.ffn}) scored non-finite bits/byte on the held-out text (${a.texts.map((t, ti) => `${t.name} ${bpb[ti]}`).join(', ')}); stopping rather than choosing among broken scores`);
      }
      c.bpb = objective(bpb);
      built++;
      a.say(`${head(c)}: V′ ${c.vocab}, I′ ${c.ffn}, ${a.texts.map((t, ti) => `${t.name} ${bpb[ti]!.toFixed(4)}`).join(', ')} bits/byte; objective ${c.bpb.toFixed(4)}; ${elapsedEta(built, Math.max(toBuild, built), start)}`);
      return c.bpb;
    });
  });
  if (chosen < 0 || candidates[chosen]!.bpb === null) throw new Error('planner: no candidate was scored');
  return { candidates, chosen, texts, passes };
}

/** Grid points the search scores (at most; the final hill-climb may add a few on odd curves). */
function expectedVisits(n: number, mode: PlannerSearch): number {
  if (mode === 'grid' || n <= 4) return n + 1;
  let h = Math.max(1, Math.round(n / 4));
  let count = Math.floor((n - 1) / h) + 2;
  while (h > 1) {
    h = Math.ceil(h / 2);
    count += 2;
  }
  return Math.min(n + 1, count);
}

function pct(x: number): string {
  return `${(100 * x).toFixed(1)}%`;
}
