/**
 * Small self-contained SVG charts (no dependencies): a framed plot with grid, ticks, axis labels
 * with units, lines/points/bars per series, and marked points (the chosen candidate, the chosen
 * V′). Written for the model card's plots and docs/results.md; deterministic text output.
 */

export interface Point {
  x: number;
  y: number;
}

export interface Series {
  label: string;
  points: Point[];
  /** line (default): a polyline with dots; bar: one bar per point, from the y axis's lower end. */
  kind?: 'line' | 'bar';
  color?: string;
}

export interface Mark extends Point {
  /** Shown beside the mark. */
  label?: string;
  color?: string;
}

export interface ChartSpec {
  title: string;
  /** Axis titles, units included (e.g. "held-out bits/byte"). */
  xLabel: string;
  yLabel: string;
  series: Series[];
  marks?: Mark[];
  xFormat?: (v: number) => string;
  yFormat?: (v: number) => string;
  /** Fixed ranges; default: the data's, padded. */
  xDomain?: [number, number];
  yDomain?: [number, number];
  /** Explicit tick values (e.g. integer layer indices); default: about five round values. */
  xTicks?: number[];
  width?: number;
  height?: number;
  /** A legend on the right (default: when there is more than one series). */
  legend?: boolean;
  /** A note under the x axis label, smaller. */
  note?: string;
}

export interface Chart {
  svg: string;
  /** Data → pixel coordinates, as drawn (tests check the marks land where the data says). */
  px: (x: number) => number;
  py: (y: number) => number;
  width: number;
  height: number;
}

/** Series colours (blue, green, purple, orange): none is the mark colour. */
export const SERIES_COLORS = ['#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e'];
/** The colour of marked points. */
export const MARK_COLOR = '#d62728';

export function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** About five round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, target = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9))!;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toFixed(10)));
  return out;
}

function extent(vals: number[], pad: number, minPad: number): [number, number] {
  let lo = Math.min(...vals);
  let hi = Math.max(...vals);
  const p = Math.max((hi - lo) * pad, minPad);
  lo -= p;
  hi += p;
  return [lo, hi];
}

const f1 = (v: number): string => v.toFixed(1);

export function renderChart(spec: ChartSpec): Chart {
  const W = spec.width ?? 640;
  const H = spec.height ?? 380;
  const legend = spec.legend ?? spec.series.length > 1;
  const M = { left: 70, right: legend ? 150 : 24, top: 40, bottom: spec.note ? 66 : 52 };
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const all = [...spec.series.flatMap((s) => s.points), ...(spec.marks ?? [])];
  const hasBars = spec.series.some((s) => s.kind === 'bar');
  const xs = all.map((p) => p.x);
  const ys = all.map((p) => p.y);
  const [x0, x1] = spec.xDomain ?? (xs.length ? extent(xs, hasBars ? 0 : 0.03, hasBars ? 0.6 : 1e-9) : [0, 1]);
  const [y0, y1] = spec.yDomain ?? (ys.length ? extent(ys, 0.08, Math.max(Math.abs(Math.max(...ys)) * 1e-3, 1e-6)) : [0, 1]);
  const px = (x: number): number => M.left + ((x - x0) / (x1 - x0 || 1)) * pw;
  const py = (y: number): number => M.top + (1 - (y - y0) / (y1 - y0 || 1)) * ph;
  const xf = spec.xFormat ?? ((v: number) => String(v));
  const yf = spec.yFormat ?? ((v: number) => String(v));

  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<title>${esc(spec.title)}</title>`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${f1(M.left + pw / 2)}" y="22" text-anchor="middle" font-size="14">${esc(spec.title)}</text>`);
  const xt = (spec.xTicks ?? ticks(x0, x1)).filter((t) => t >= x0 - 1e-9 && t <= x1 + 1e-9);
  const yt = ticks(y0, y1).filter((t) => t >= y0 - 1e-9 && t <= y1 + 1e-9);
  parts.push(`<g stroke="#ddd" stroke-width="1">`);
  for (const t of yt) parts.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${f1(py(t))}" y2="${f1(py(t))}"/>`);
  for (const t of xt) parts.push(`<line x1="${f1(px(t))}" x2="${f1(px(t))}" y1="${M.top}" y2="${M.top + ph}"/>`);
  parts.push('</g>');
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (const t of yt) parts.push(`<text x="${M.left - 6}" y="${f1(py(t) + 4)}" text-anchor="end">${esc(yf(t))}</text>`);
  for (const t of xt) parts.push(`<text x="${f1(px(t))}" y="${M.top + ph + 18}" text-anchor="middle">${esc(xf(t))}</text>`);
  parts.push(`<text x="${f1(M.left + pw / 2)}" y="${M.top + ph + 38}" text-anchor="middle">${esc(spec.xLabel)}</text>`);
  if (spec.note) parts.push(`<text x="${f1(M.left + pw / 2)}" y="${M.top + ph + 54}" text-anchor="middle" font-size="10" fill="#555">${esc(spec.note)}</text>`);
  parts.push(`<text transform="translate(18 ${f1(M.top + ph / 2)}) rotate(-90)" text-anchor="middle">${esc(spec.yLabel)}</text>`);

  const bars = spec.series.filter((s) => s.kind === 'bar');
  spec.series.forEach((s, i) => {
    const c = s.color ?? SERIES_COLORS[i % SERIES_COLORS.length]!;
    if (s.kind === 'bar') {
      // Bars share each x slot side by side; their width comes from the closest two x values.
      const sorted = [...new Set(s.points.map((p) => p.x))].sort((a, b) => a - b);
      let gap = x1 - x0;
      for (let k = 1; k < sorted.length; k++) gap = Math.min(gap, sorted[k]! - sorted[k - 1]!);
      const slot = (Math.abs(px(x0 + gap) - px(x0)) * 0.8) / bars.length;
      const j = bars.indexOf(s);
      const base = py(Math.max(y0, Math.min(0, y1)));
      for (const p of s.points) {
        const left = px(p.x) - (slot * bars.length) / 2 + j * slot;
        const top = Math.min(py(p.y), base);
        parts.push(`<rect x="${f1(left)}" y="${f1(top)}" width="${f1(slot)}" height="${f1(Math.abs(base - py(p.y)))}" fill="${c}"/>`);
      }
    } else {
      const path = s.points.map((p) => `${f1(px(p.x))},${f1(py(p.y))}`).join(' ');
      if (s.points.length > 1) parts.push(`<polyline points="${path}" fill="none" stroke="${c}" stroke-width="2"/>`);
      for (const p of s.points) parts.push(`<circle cx="${f1(px(p.x))}" cy="${f1(py(p.y))}" r="3" fill="${c}"/>`);
    }
    if (legend) {
      const ly = M.top + 16 + i * 22;
      const lx = M.left + pw + 14;
      parts.push(`<rect x="${lx}" y="${ly - 5}" width="20" height="10" fill="${c}"/>`);
      parts.push(`<text x="${lx + 26}" y="${ly + 4}">${esc(s.label)}</text>`);
    }
  });
  for (const m of spec.marks ?? []) {
    const c = m.color ?? MARK_COLOR;
    parts.push(`<circle cx="${f1(px(m.x))}" cy="${f1(py(m.y))}" r="8" fill="none" stroke="${c}" stroke-width="3"/>`);
    if (m.label) {
      // The label goes to the side with more room.
      const right = px(m.x) < M.left + pw / 2;
      const below = py(m.y) < M.top + 30;
      parts.push(`<text x="${f1(px(m.x) + (right ? 12 : -12))}" y="${f1(py(m.y) + (below ? 22 : -10))}" text-anchor="${right ? 'start' : 'end'}" fill="#333">${esc(m.label)}</text>`);
    }
  }
  parts.push('</svg>');
  return { svg: parts.join('\n') + '\n', px, py, width: W, height: H };
}
