/** The model card's three plots, drawn with report/chart.ts; each returns null when it has no data. */
import { fmtInt } from './format.ts';
import { renderChart, type Chart } from './chart.ts';

export const PLOT_FILES = { planner: 'plot-planner.svg', energy: 'plot-ffn-energy.svg', coverage: 'plot-vocab-coverage.svg' } as const;

const pct = (v: number): string => `${Math.round(v * 100)}%`;

/**
 * The planner's objective for every scored candidate against its vocabulary share; the chosen one
 * circled. `calib`: held-out bits/byte; `robust`: the worst relative increase over the dense model.
 */
export function plannerPlot(p: { candidates: Array<{ share: number; vocab: number; ffn: number; bpb: number | null }>; chosen: number; target_ratio: number; objective?: string }): Chart | null {
  const robust = p.objective === 'robust';
  const pts = p.candidates.filter((c) => c.bpb !== null).map((c) => ({ x: c.share, y: c.bpb! }));
  const c = p.candidates[p.chosen];
  if (pts.length === 0 || !c || c.bpb === null) return null;
  return renderChart({
    title: `Planner candidates at ${pct(p.target_ratio)} fewer parameters`,
    xLabel: "vocabulary's share of the removed parameters (%)",
    note: '0% = all from the FFN, 100% = all from the vocabulary',
    yLabel: robust ? 'worst increase in bits/byte over dense, across held-out texts (%)' : 'held-out bits/byte (lower is better)',
    series: [{ label: 'candidates', points: pts }],
    marks: [{ x: c.share, y: c.bpb, label: `chosen: V′ ${fmtInt(c.vocab)}, I′ ${fmtInt(c.ffn)}` }],
    xDomain: [0, 1],
    xTicks: [0, 0.2, 0.4, 0.6, 0.8, 1],
    xFormat: pct,
    yFormat: robust ? (v) => `${(100 * v).toFixed(1)}%` : (v) => v.toFixed(3),
  });
}

/** The caption under the planner plot, for the objective the pick minimised. */
export function plannerCaption(objective: string | undefined): string {
  return objective === 'robust'
    ? 'Each planned split, scored by its worst relative increase in bits per byte over the dense model across the held-out texts (lower is better); the circled one was written.'
    : 'Each planned split, scored by bits per byte on held-out calibration text (lower is better); the circled one was written.';
}

/** Per layer, the share of FFN activation energy the kept channels hold. */
export function energyPlot(shares: number[], kept: number, of: number): Chart | null {
  if (shares.length === 0) return null;
  const lo = Math.min(...shares);
  return renderChart({
    title: `Activation energy kept per layer (I′ ${fmtInt(kept)} of ${fmtInt(of)} channels)`,
    xLabel: 'decoder layer (index)',
    yLabel: 'share of activation energy kept (%)',
    series: [{ label: 'kept share', kind: 'bar', points: shares.map((y, x) => ({ x, y })) }],
    // From a round floor under the lowest layer, so the differences between layers show.
    yDomain: [Math.max(0, Math.floor(lo * 10 - 0.5) / 10), 1],
    xTicks: shares.length <= 16 ? shares.map((_, i) => i) : undefined,
    xFormat: (v) => String(v),
    yFormat: pct,
  });
}

/** Share of calibration tokens a vocabulary of V′ tokens keeps, against V′; this model's V′ circled. */
export function coveragePlot(cov: { vocab: number[]; share: number[] }, chosenVocab: number, chosenShare: number): Chart | null {
  if (cov.vocab.length === 0) return null;
  return renderChart({
    title: 'Calibration tokens surviving the vocabulary cut',
    xLabel: 'V′: tokens kept in the vocabulary',
    yLabel: 'calibration tokens kept (%)',
    series: [{ label: 'kept share', points: cov.vocab.map((x, i) => ({ x, y: cov.share[i]! })) }],
    marks: [{ x: chosenVocab, y: chosenShare, label: `V′ ${fmtInt(chosenVocab)}: ${(100 * chosenShare).toFixed(1)}%` }],
    xDomain: [0, Math.max(...cov.vocab)],
    yDomain: [0, 1],
    xFormat: (v) => (v >= 1000 ? `${v / 1000}k` : String(v)),
    yFormat: pct,
  });
}
