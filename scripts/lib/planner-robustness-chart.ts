/**
 * The planner robustness chart of docs/results.md: one panel per case (ratio, plain slice or
 * refit), each text's bits/byte above the best candidate on that text against the vocabulary's
 * share, so the four texts share one axis and the regret limit is one line. Panels are drawn by
 * the charting module the model card uses and laid out 2 × 2 in one SVG.
 */
import { renderChart, SERIES_COLORS, type Mark, type Series } from '../../src/report/chart.ts';
import type { RobustnessData } from './planner-robustness.ts';

export const ROBUSTNESS_CHART_FILE = 'results-planner-robust.svg';
/** Points further than this above the text's best candidate are left out (the tables have them). */
export const CHART_CAP = 0.1;

const PANEL = { width: 560, height: 340 };

/** `picks[i]`: the index of the default pick in `data.runs[i].candidates`. */
export function robustnessChart(data: RobustnessData, picks: number[], limit: number, caseName: (r: RobustnessData['runs'][number]) => string): string {
  const panels = data.runs.map((run, ri) => {
    const names = run.texts.map((t) => t.name);
    const best = new Map(names.map((n) => [n, Math.min(...run.candidates.map((c) => c.scores?.[n] ?? Infinity))]));
    const series: Series[] = names.map((n, i) => ({
      label: n,
      color: SERIES_COLORS[i % SERIES_COLORS.length]!,
      points: run.candidates.flatMap((c) => (c.scores && c.scores[n]! - best.get(n)! <= CHART_CAP ? [{ x: c.share, y: c.scores[n]! - best.get(n)! }] : [])),
    }));
    series.push({ label: `limit ${limit}`, color: '#999999', points: [{ x: 0, y: limit }, { x: 1, y: limit }] });
    const pick = run.candidates[picks[ri]!]!;
    const marks: Mark[] = ['wikitext2', 'sotu'].map((n) => ({ x: pick.share, y: pick.scores![n]! - best.get(n)!, color: series[names.indexOf(n)]!.color }));
    marks[0]!.label = `pick ${Math.round(pick.share * 100)}%`;
    return renderChart({
      title: caseName(run),
      xLabel: "vocabulary's share of the removed parameters",
      yLabel: 'bits/byte above the best candidate',
      series,
      marks,
      xDomain: [0, 1],
      yDomain: [0, CHART_CAP],
      xTicks: [0, 0.2, 0.4, 0.6, 0.8, 1],
      xFormat: (v) => `${Math.round(v * 100)}%`,
      yFormat: (v) => v.toFixed(2),
      legend: true,
      ...PANEL,
    }).svg;
  });
  const cols = Math.min(2, panels.length);
  const rows = Math.ceil(panels.length / 2);
  const W = cols * PANEL.width;
  const H = rows * PANEL.height;
  const body = panels.map((svg, i) => svg.replace('<svg ', `<svg x="${(i % 2) * PANEL.width}" y="${Math.floor(i / 2) * PANEL.height}" `)).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">\n<title>The planner's candidates on every text, wiki-28m</title>\n${body}</svg>\n`;
}
