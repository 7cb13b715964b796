/**
 * The "With the refit (--reconstruct)" section of docs/results.md: every --reconstruct row beside
 * the same method without the refit, on WikiText-2 and on a second genre, the planner's candidates
 * with and without the refit, and the λ sweep. Verdicts are computed from the rows, never typed.
 */
import { fmtDuration } from '../../src/report/format.ts';
import type { Results, Row } from './experiments.ts';

/** What the section needs to know of a method (experiments.ts's METHODS). */
export interface RefitMethodInfo {
  key: string;
  refitOf?: string;
  sweepRidge?: number;
}

/** Issue #18's done-when figures on wiki-28m at R = 0.35. */
export const REFIT_TARGETS = { ratio: 0.35, fixedMaxBpb: 1.908, plannedGainBpb: 0.01 } as const;

const f4 = (x: number) => x.toFixed(4);
const pct = (x: number, d = 1) => `${(100 * x).toFixed(d)}%`;
const int = (x: number) => x.toLocaleString('en-US');
const signed = (x: number) => `${x > 0 ? '+' : x < 0 ? '−' : '±'}${Math.abs(x).toFixed(4)}`;
const mean = (xs: number[]) => xs.reduce((a, x) => a + x, 0) / xs.length;
/** "a → b", or "a" when both are the same. */
const pair = (a: string, b: string) => (a === b ? a : `${a} → ${b}`);
const share = (x: Row) => (x.planner ? pct(x.planner.candidates[x.planner.chosen]!.share, 0) : null);

export function refitMarkdown(r: Results, methods: RefitMethodInfo[]): string {
  const info = (x: Row) => methods.find((m) => m.key === x.key);
  const refitRows = r.rows.filter((x) => info(x)?.refitOf !== undefined);
  if (refitRows.length === 0) return '';
  const d = r.dense!;
  const second = r.second_text;
  const lines: string[] = [];
  lines.push('## With the refit (`--reconstruct`)', '');
  lines.push(
    '`--reconstruct` refits every layer\'s kept `down_proj` columns by least squares on the calibration activations, with a ridge toward the plain slice (README, `compact prune` item 2; [refit.md](refit.md)); λ is the default 0.01 except in the sweep. ' +
      'Same protocol, calibration and cuts as above; the planner scores each of its candidates with that candidate\'s own refit (still on the calibration tail only). ' +
      `Bits per byte also on a second genre: \`${second?.path ?? 'the second text'}\`${second ? ` (${int(second.bytes)} bytes)` : ''}, four US State of the Union addresses (2001–2021) — political speech, while the calibration is Wikipedia — in the same windows of ${r.protocol.eval_seq_len}. ` +
      'Each "plain" figure is the row of the table above; Δ = refit − plain (negative: the refit is better). The calibration loss is the share of the FFN output energy the cut loses on the calibration text, mean over layers, plain slice → refit, of the refit row\'s cut. LAMBADA and HellaSwag are not scored here: wiki-28m is at chance on both (table above), so they cannot rank a refit. Prune times are wall times on the shared machine (the plain rows\' are in the table above, from a quieter run; see [refit.md](refit.md) for times at equal load). The plain rows were made before the second-genre score existed; their SOTU figure comes from the same cut made again (same V′ and I′; the pipeline is deterministic).',
    '',
  );
  lines.push(`Dense model: WikiText-2 ${f4(d.bpb)}, ${second ? 'SOTU' : 'second text'} ${d.second_bpb === undefined ? '—' : f4(d.second_bpb)} bits/byte.`, '');

  const compared = refitRows.filter((x) => info(x)!.sweepRidge === undefined);
  const pairs: Array<{ refit: Row; plain: Row }> = [];
  for (const ratio of r.protocol.ratios) {
    const rows = compared.filter((x) => x.target_ratio === ratio);
    if (rows.length === 0) continue;
    lines.push(`### R = ${ratio.toFixed(2)}`, '');
    lines.push('| method | V′ | I′ | WikiText-2 plain | refit | Δ | SOTU plain | refit | Δ | calibration loss | refit prune time |');
    lines.push('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const x of rows) {
      const plain = r.rows.find((p) => p.key === info(x)!.refitOf && p.target_ratio === ratio);
      if (plain) pairs.push({ refit: x, plain });
      const chose = plain && x.planner ? ` — chose ${pair(share(plain)!, share(x)!)} from the vocabulary` : '';
      const loss = x.refit ? `${pct(mean(x.refit.loss_plain))} → ${pct(mean(x.refit.loss_refit))}` : '—';
      const sec = (y: Row | undefined) => (y?.second_bpb === undefined ? '—' : f4(y.second_bpb));
      const dSec = plain?.second_bpb !== undefined && x.second_bpb !== undefined ? signed(x.second_bpb - plain.second_bpb) : '—';
      lines.push(
        `| ${x.label}${chose} | ${plain ? pair(int(plain.vocab), int(x.vocab)) : int(x.vocab)} | ${plain ? pair(int(plain.ffn), int(x.ffn)) : int(x.ffn)} | ` +
          `${plain ? f4(plain.bpb) : '—'} | ${f4(x.bpb)} | ${plain ? signed(x.bpb - plain.bpb) : '—'} | ${sec(plain)} | ${sec(x)} | ${dSec} | ${loss} | ` +
          `${fmtDuration(x.prune_seconds)} |`,
      );
    }
    lines.push('');
  }
  if (pairs.length) lines.push(...verdicts(pairs), '');
  lines.push(...targets(r), '');
  lines.push(...plannerTables(r, refitRows, info));
  lines.push(...sweep(r, refitRows, info));
  return lines.join('\n');
}

/** How often, and by how much, the refit helped on each text. */
function verdicts(pairs: Array<{ refit: Row; plain: Row }>): string[] {
  const out: string[] = [];
  const onText = (name: string, get: (x: Row) => number | undefined) => {
    const ds = pairs.filter((p) => get(p.refit) !== undefined && get(p.plain) !== undefined).map((p) => ({ p, d: get(p.refit)! - get(p.plain)! }));
    if (ds.length === 0) return;
    const better = ds.filter((x) => x.d < 0);
    const worse = ds.filter((x) => x.d > 0);
    const lo = Math.min(...better.map((x) => -x.d));
    const hi = Math.max(...better.map((x) => -x.d));
    const range = better.length ? ` by ${f4(lo)}${hi > lo ? ` to ${f4(hi)}` : ''} bits/byte` : '';
    const worseText = worse.length ? `; worse in ${worse.map((x) => `${x.p.refit.key}@${x.p.refit.target_ratio} (${signed(x.d)})`).join(', ')}` : '';
    out.push(`- ${name}: the refit is better in ${better.length} of ${ds.length} rows${range}${worseText}.`);
  };
  onText('WikiText-2', (x) => x.bpb);
  onText('SOTU (another genre than the calibration)', (x) => x.second_bpb);
  return out;
}

/** The issue's done-when checks, met or not, from the rows. */
function targets(r: Results): string[] {
  const T = REFIT_TARGETS;
  const at = (key: string) => r.rows.find((x) => x.key === key && x.target_ratio === T.ratio);
  const out: string[] = [];
  const fixed = at('compact-fixed-refit');
  if (fixed) {
    out.push(`- Issue #18, R = ${T.ratio.toFixed(2)}, fixed 75% split with the refit (V′ ${int(fixed.vocab)}, I′ ${int(fixed.ffn)}): ${f4(fixed.bpb)} bits/byte, target ≤ ${T.fixedMaxBpb} — **${fixed.bpb <= T.fixedMaxBpb ? 'met' : 'not met'}**.`);
  }
  const planned = at('compact-planned-refit');
  const plain = at('compact-planned');
  if (planned && plain) {
    const gain = plain.bpb - planned.bpb;
    out.push(
      `- Issue #18, R = ${T.ratio.toFixed(2)}, the planner (calibration-tail objective) with the refit: chose ${share(planned)} (V′ ${int(planned.vocab)}, I′ ${int(planned.ffn)}), ${f4(planned.bpb)} bits/byte against ${f4(plain.bpb)} without it, ${f4(gain)} lower; target at least ${T.plannedGainBpb} lower — **${gain >= T.plannedGainBpb ? 'met' : 'not met'}**.`,
    );
  } else if (fixed) {
    out.push(`- Issue #18, R = ${T.ratio.toFixed(2)}, the planner with the refit (target: at least ${T.plannedGainBpb} below the plain planner): no \`compact-planned-refit\` row in this run yet (\`--resume --only compact-planned-refit\` adds it); [refit.md](refit.md) has the earlier measurement with the CLI.`);
  }
  return out;
}

/** Every planner candidate's held-out and WikiText-2 scores, without and with the refit. */
function plannerTables(r: Results, rows: Row[], info: (x: Row) => RefitMethodInfo | undefined): string[] {
  const out: string[] = [];
  for (const x of rows.filter((y) => y.planner && info(y)!.sweepRidge === undefined)) {
    const plain = r.rows.find((p) => p.key === info(x)!.refitOf && p.target_ratio === x.target_ratio && p.planner);
    const pl = x.planner!;
    out.push(`### The planner's candidates with the refit, R = ${x.target_ratio.toFixed(2)}`, '');
    out.push(`Held-out bits per byte (the planner's score: the last ${int(pl.heldout_tokens)} calibration tokens; importance and G from the first ${int(pl.fit_tokens)}) and, as a check the planner never sees, WikiText-2 bits per byte of every candidate, scored in the same streamed pass.`, '');
    out.push('| vocab share | V′ | I′ | held-out, plain | held-out, refit | WikiText-2, plain | WikiText-2, refit |');
    out.push('| ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    const bestRefit = Math.min(...pl.candidates.map((c) => c.eval_bpb ?? Infinity));
    pl.candidates.forEach((c, i) => {
      const pc = plain?.planner!.candidates.find((q) => q.share === c.share);
      const plainChosen = plain && pc === plain.planner!.candidates[plain.planner!.chosen] ? ' (chosen)' : '';
      const held = (v: number | null | undefined) => (v == null ? '—' : f4(v));
      const ev = c.eval_bpb == null ? '—' : c.eval_bpb === bestRefit ? `**${f4(c.eval_bpb)}** (best)` : f4(c.eval_bpb);
      out.push(
        `| ${pct(c.share, 0)} | ${int(c.vocab)} | ${int(c.ffn)} | ${held(pc?.bpb)}${plainChosen} | ${c.bpb === null ? `skipped: ${c.skipped}` : f4(c.bpb) + (i === pl.chosen ? ' (chosen)' : '')} | ${held(pc?.eval_bpb)} | ${ev} |`,
      );
    });
    out.push('');
    const pick = pl.candidates[pl.chosen]!;
    if (pick.eval_bpb != null && Number.isFinite(bestRefit)) {
      const best = pl.candidates.find((c) => c.eval_bpb === bestRefit)!;
      const gap = pick.eval_bpb - bestRefit;
      out.push(`Check of the pick: with the refit the best candidate on WikiText-2 is ${pct(best.share, 0)} from the vocabulary (${f4(bestRefit)}); the planner picked ${pct(pick.share, 0)} (${f4(pick.eval_bpb)}), ${gap === 0 ? 'the same split' : `${f4(gap)} bits/byte behind`}.`, '');
    }
  }
  return out;
}

/** The ridge sweep on one cut, the default-λ row and the plain slice beside it. */
function sweep(r: Results, rows: Row[], info: (x: Row) => RefitMethodInfo | undefined): string[] {
  const swept = rows.filter((x) => info(x)!.sweepRidge !== undefined);
  if (swept.length === 0) return [];
  const ratio = swept[0]!.target_ratio;
  const base = info(swept[0]!)!.refitOf!;
  const atDefault = rows.find((x) => x.target_ratio === ratio && info(x)!.refitOf === base && info(x)!.sweepRidge === undefined);
  const plain = r.rows.find((x) => x.key === base && x.target_ratio === ratio);
  const all = [...swept, ...(atDefault ? [atDefault] : [])].sort((a, b) => a.refit!.ridge - b.refit!.ridge);
  const out: string[] = [];
  out.push(`### λ sweep (\`--reconstruct-ridge\`), 75% split at R = ${ratio.toFixed(2)}`, '');
  out.push(`V′ ${int(swept[0]!.vocab)}, I′ ${int(swept[0]!.ffn)}; ρ = λ · mean diag G[S,S]. The plain slice is the row without the refit.`, '');
  out.push('| λ | WikiText-2 bits/byte | SOTU bits/byte | calibration loss (mean of layers) | layers kept plain |');
  out.push('| ---: | ---: | ---: | ---: | ---: |');
  if (plain) out.push(`| plain slice | ${f4(plain.bpb)} | ${plain.second_bpb === undefined ? '—' : f4(plain.second_bpb)} | ${all[0] ? pct(mean(all[0].refit!.loss_plain), 2) : '—'} | all |`);
  for (const x of all) {
    const def = x === atDefault ? ' (default)' : '';
    out.push(`| ${x.refit!.ridge}${def} | ${f4(x.bpb)} | ${x.second_bpb === undefined ? '—' : f4(x.second_bpb)} | ${pct(mean(x.refit!.loss_refit), 2)} | ${x.refit!.fallbacks} |`);
  }
  out.push('');
  const wt = all.map((x) => x.bpb);
  const so = all.filter((x) => x.second_bpb !== undefined).map((x) => x.second_bpb!);
  out.push(
    `Across λ ∈ {${all.map((x) => x.refit!.ridge).join(', ')}} WikiText-2 spans ${f4(Math.max(...wt) - Math.min(...wt))} bits/byte` +
      (so.length ? ` and SOTU ${f4(Math.max(...so) - Math.min(...so))}` : '') +
      '.',
    '',
  );
  return out;
}
