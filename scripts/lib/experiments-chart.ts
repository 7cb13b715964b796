/**
 * The planner's candidate curve for docs/results.md: held-out bits per byte against the
 * vocabulary's share of the removed parameters, one line per ratio, each chosen candidate circled
 * in its line's colour. Drawn by the charting module the model card's plots use.
 */
import { renderChart, SERIES_COLORS } from '../../src/report/chart.ts';
import { isRefitRow, type Results } from './experiments.ts';

export function plannerChart(r: Results): string {
  const rows = r.rows.filter((x) => x.planner && !isRefitRow(x));
  const series = rows.map((x, i) => ({
    label: `R = ${x.target_ratio.toFixed(2)}`,
    color: SERIES_COLORS[i % SERIES_COLORS.length]!,
    points: x.planner!.candidates.filter((c) => c.bpb !== null).map((c) => ({ x: c.share, y: c.bpb! })),
  }));
  const marks = rows.flatMap((x, i) => {
    const c = x.planner!.candidates[x.planner!.chosen]!;
    return c.bpb === null ? [] : [{ x: c.share, y: c.bpb, color: series[i]!.color, label: `chose ${(100 * c.share).toFixed(0)}%` }];
  });
  return renderChart({
    title: 'Planner candidates on wiki-28m: held-out bits/byte by vocabulary share',
    xLabel: "vocabulary's share of the removed parameters (%)",
    note: '0% = FFN-only, 100% = vocab-only',
    yLabel: 'held-out bits/byte (lower is better)',
    series,
    marks,
    xDomain: [0, 1],
    xTicks: [0, 0.2, 0.4, 0.6, 0.8, 1],
    xFormat: (v) => `${Math.round(v * 100)}%`,
    yFormat: (v) => v.toFixed(2),
    legend: true,
  }).svg;
}
