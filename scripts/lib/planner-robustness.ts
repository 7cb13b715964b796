/**
 * The planner's robustness check (issue #21): on wiki-28m with calib-wiki calibration, every grid
 * candidate at R = 0.20 and 0.35 scored on the planner's own texts (calibration tail, built-in
 * reference) and on two evaluation texts it never reads (WikiText-2 and a text of another genre,
 * data/sotu-2001-2021.txt). From these curves: each objective's pick, its regret on each
 * evaluation text, and the coarse-to-fine search's pick. Data in docs/planner-robustness.json,
 * rendered into docs/results.md by `npm run experiments` (this module's markdown).
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pruneModel } from '../../src/prune/prune.ts';
import { searchGrid, type PlannerCandidate, type PlannerTextInfo } from '../../src/prune/planner.ts';
import { peakRssBytes } from '../../src/report/progress.ts';

export const ROBUSTNESS_FILE = 'planner-robustness.json';
/** The second evaluation text: another genre than the Wikipedia calibration; the planner never reads it. */
export const SECOND_TEXT = 'data/sotu-2001-2021.txt';

export interface RobustnessRun {
  ratio: number;
  reconstruct: boolean;
  texts: PlannerTextInfo[];
  candidates: Array<Pick<PlannerCandidate, 'share' | 'vocab' | 'ffn'> & { scores: Record<string, number> | null }>;
  /** Per grid point: the objectives (Infinity where infeasible). */
  calib_curve: number[];
  robust_curve: number[];
  /** Worst absolute increase over dense (bits/byte), the alternative rule compared in the README. */
  robust_abs_curve: number[];
  seconds: number;
  peak_rss_bytes: number;
}

export interface RobustnessData {
  protocol: { model: string; calib: string; calib_tokens: number; seq_len: number; holdout: number; step: number; eval_texts: string[] };
  runs: RobustnessRun[];
}

const CHOOSING = ['calib-heldout', 'moby-dick-end'];
const EVAL = ['wikitext2', 'sotu'];

function curves(texts: PlannerTextInfo[], cands: RobustnessRun['candidates']): Pick<RobustnessRun, 'calib_curve' | 'robust_curve' | 'robust_abs_curve'> {
  const dense = new Map(texts.map((t) => [t.name, t.dense_bpb!]));
  const at = (f: (s: Record<string, number>) => number) => cands.map((c) => (c.scores ? f(c.scores) : Infinity));
  return {
    calib_curve: at((s) => s['calib-heldout']!),
    robust_curve: at((s) => Math.max(...CHOOSING.map((n) => s[n]! / dense.get(n)! - 1))),
    robust_abs_curve: at((s) => Math.max(...CHOOSING.map((n) => s[n]! - dense.get(n)!))),
  };
}

export async function runRobustness(opts: { repo: string; shared: string; outDir: string; ratios: number[]; reconstruct: boolean[]; step: number; evalBytes: number; log: (s: string) => void }): Promise<void> {
  const file = join(opts.outDir, ROBUSTNESS_FILE);
  const data: RobustnessData = existsSync(file)
    ? (JSON.parse(readFileSync(file, 'utf8')) as RobustnessData)
    : { protocol: { model: 'models/wiki-28m', calib: 'data/text/calib-wiki.txt', calib_tokens: 40000, seq_len: 512, holdout: 0.15, step: opts.step, eval_texts: [`data/text/wikitext2-test.raw (first ${opts.evalBytes} bytes to a line end)`, `${SECOND_TEXT} (first ${opts.evalBytes} bytes to a line end)`] }, runs: [] };
  if (data.protocol.step !== opts.step) throw new Error(`${file}: made with step ${data.protocol.step}, not ${opts.step}`);
  const head = (buf: Buffer) => {
    const b = buf.subarray(0, opts.evalBytes);
    return b.subarray(0, Math.max(b.lastIndexOf(0x0a), b.lastIndexOf(0x20)) + 1).toString('utf8');
  };
  const wiki = head(readFileSync(join(opts.shared, 'data/text/wikitext2-test.raw')));
  const sotu = head(readFileSync(join(opts.repo, SECOND_TEXT)));
  for (const reconstruct of opts.reconstruct) {
    for (const ratio of opts.ratios) {
      if (data.runs.some((r) => r.ratio === ratio && r.reconstruct === reconstruct)) continue;
      opts.log(`R = ${ratio}${reconstruct ? ' with --reconstruct' : ''}: every candidate on every text`);
      const t0 = performance.now();
      const work = await mkdtemp(join(tmpdir(), 'compact-robustness-'));
      const report = await pruneModel({
        model: join(opts.shared, 'models/wiki-28m'),
        out: join(work, 'out'),
        force: true,
        quiet: true,
        ratio,
        calib: join(opts.shared, 'data/text/calib-wiki.txt'),
        calibTokens: 40000,
        seqLen: 512,
        holdout: 0.15,
        plannerStep: opts.step,
        plannerSearch: 'grid',
        plannerObjective: 'robust',
        plannerCheckTexts: [{ name: 'wikitext2', text: wiki }, { name: 'sotu', text: sotu }],
        ...(reconstruct ? ({ reconstruct: true } as object) : {}),
      });
      const p = report.planner!;
      const candidates = p.candidates.map((c) => ({ share: c.share, vocab: c.vocab, ffn: c.ffn, scores: c.scores }));
      data.runs.push({ ratio, reconstruct, texts: p.texts, candidates, ...curves(p.texts, candidates), seconds: (performance.now() - t0) / 1000, peak_rss_bytes: peakRssBytes() });
      await writeFile(file, JSON.stringify(data, null, 2) + '\n');
      await rm(work, { recursive: true, force: true });
    }
  }
}

const argmin = (c: number[]) => c.reduce((b, v, i) => (v < c[b]! ? i : b), 0);
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

/** Picks of each rule and their regret (bits/byte behind the best candidate) on each evaluation text. */
export function picks(run: RobustnessRun): Array<{ rule: string; pick: number; regret: Record<string, number> }> {
  const best = Object.fromEntries(EVAL.map((t) => [t, Math.min(...run.candidates.map((c) => c.scores?.[t] ?? Infinity))]));
  const regret = (i: number) => Object.fromEntries(EVAL.map((t) => [t, run.candidates[i]!.scores![t]! - best[t]!]));
  return [
    { rule: 'calib (calibration tail only)', pick: argmin(run.calib_curve) },
    { rule: 'robust: worst relative increase over dense (default)', pick: argmin(run.robust_curve) },
    { rule: 'worst absolute increase over dense', pick: argmin(run.robust_abs_curve) },
  ].map((r) => ({ ...r, regret: regret(r.pick) }));
}

export async function coarseToFinePick(curve: number[]): Promise<number> {
  return searchGrid(curve.length - 1, 'coarse-to-fine', async (idx) => idx.map((i) => curve[i]!));
}

export async function robustnessMarkdown(outDir: string): Promise<string> {
  const file = join(outDir, ROBUSTNESS_FILE);
  if (!existsSync(file)) return '';
  const data = JSON.parse(readFileSync(file, 'utf8')) as RobustnessData;
  const lines: string[] = ['## The planner on text the calibration never saw', ''];
  lines.push(
    `Generated by \`node --import tsx scripts/planner-robustness.ts\` (scripts/lib/planner-robustness.ts; data in [${ROBUSTNESS_FILE}](${ROBUSTNESS_FILE})). wiki-28m, calibration: the first 40,000 tokens of calib-wiki (85% for importance, 15% held out), sequences of 512; every candidate of the ${pct(data.protocol.step)} grid scored in the planner's streamed pass on its two texts — \`calib-heldout\` (the calibration tail) and \`moby-dick-end\` (the built-in reference: the last chapters of Moby-Dick, as many tokens as the tail) — and, for checking only, on two evaluation texts it never reads: \`wikitext2\` and \`sotu\` (${SECOND_TEXT}: four US State of the Union addresses, 2001–2021; political speech, another genre than the Wikipedia calibration), here ${data.protocol.eval_texts.join(' and ')}. Regret: the pick's bits/byte minus the best candidate's on that text.`,
    '',
  );
  for (const run of data.runs) {
    const dense = new Map(run.texts.map((t) => [t.name, t.dense_bpb!]));
    lines.push(`### R = ${run.ratio.toFixed(2)}${run.reconstruct ? ' with --reconstruct' : ''}`, '');
    lines.push(`Dense model: ${run.texts.map((t) => `${t.name} ${t.dense_bpb!.toFixed(4)}`).join(', ')} bits/byte. Calibration and all ${run.candidates.filter((c) => c.scores).length} candidates on all four texts in ${run.seconds.toFixed(0)} s (2 CPU cores shared with other work, load average 20–30), process peak RSS ${(run.peak_rss_bytes / 2 ** 20).toFixed(0)} MiB.`, '');
    const names = run.texts.map((t) => t.name);
    lines.push(`| vocab share | V′ | I′ | ${names.join(' | ')} | robust objective |`);
    lines.push(`| ---: | ---: | ---: | ${names.map(() => '---:').join(' | ')} | ---: |`);
    const best = Object.fromEntries(names.map((n) => [n, Math.min(...run.candidates.map((c) => c.scores?.[n] ?? Infinity))]));
    run.candidates.forEach((c, i) => {
      const cells = names.map((n) => (c.scores ? (c.scores[n] === best[n] ? `**${c.scores[n]!.toFixed(4)}**` : c.scores[n]!.toFixed(4)) : '—'));
      lines.push(`| ${pct(c.share)} | ${c.vocab.toLocaleString('en-US')} | ${c.ffn.toLocaleString('en-US')} | ${cells.join(' | ')} | ${Number.isFinite(run.robust_curve[i]!) ? `${(100 * run.robust_curve[i]!).toFixed(2)}%` : '—'} |`);
    });
    lines.push('', `(bold: the best candidate on that text. Robust objective: the worst of ${CHOOSING.join(' and ')} relative to the dense model's ${CHOOSING.map((n) => dense.get(n)!.toFixed(4)).join(' and ')}; the evaluation texts never enter it.)`, '');
    lines.push('| rule | pick | regret on wikitext2 | regret on sotu |', '| --- | ---: | ---: | ---: |');
    for (const p of picks(run)) lines.push(`| ${p.rule} | ${pct(run.candidates[p.pick]!.share)} | ${p.regret.wikitext2!.toFixed(4)} | ${p.regret.sotu!.toFixed(4)} |`);
    const c2f = await coarseToFinePick(run.robust_curve);
    lines.push('', `Coarse-to-fine search on the robust objective: picks ${pct(run.candidates[c2f]!.share)}${c2f === argmin(run.robust_curve) ? ', the exhaustive search\'s pick' : ` (**the exhaustive search picks ${pct(run.candidates[argmin(run.robust_curve)]!.share)}**)`}.`, '');
  }
  return lines.join('\n');
}

export const VOCAB_POLICY_FILE = 'vocab-policy.jsonl';

/** The freq policy against merge order at the same V′ (scripts/vocab-policy-sweep.ts output). */
export function vocabPolicyMarkdown(outDir: string): string {
  const file = join(outDir, VOCAB_POLICY_FILE);
  if (!existsSync(file)) return '';
  type Row = { ratio: number; policy: string; vocab: number; wiki_bpb: number; wiki_tokens: number; sotu_bpb: number; sotu_tokens: number };
  const rows = readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as Row);
  const lines = ['## Vocabulary policies at the same V′', ''];
  lines.push(
    'Generated by `node --import tsx scripts/vocab-policy-sweep.ts` (data in [' + VOCAB_POLICY_FILE + '](' + VOCAB_POLICY_FILE + ')): wiki-28m vocab-only at R = 0.20 and 0.35, `--vocab-policy id` (merge order) against `freq` with counts from all of calib-wiki (600 KB), raw (a = 0) and smoothed with the merge-order prior of strength a (the default a = 16).. Bits per byte on the first 120 KB of WikiText-2 (same domain as the counts) and on data/sotu-2001-2021.txt (another genre); tokens: how many the pruned tokenizer needs for each text.',
    '',
    '| R | V′ | policy | WikiText-2 bits/byte | tokens | SOTU bits/byte | tokens |',
    '| ---: | ---: | --- | ---: | ---: | ---: | ---: |',
  );
  for (const r of [...rows].sort((a, b) => a.ratio - b.ratio)) {
    lines.push(`| ${r.ratio.toFixed(2)} | ${r.vocab.toLocaleString('en-US')} | ${r.policy} | ${r.wiki_bpb.toFixed(4)} | ${r.wiki_tokens.toLocaleString('en-US')} | ${r.sotu_bpb.toFixed(4)} | ${r.sotu_tokens.toLocaleString('en-US')} |`);
  }
  return lines.join('\n') + '\n';
}
