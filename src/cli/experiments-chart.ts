/**
 * The planner's candidate curve as a self-contained SVG (no dependencies): held-out bits per byte
 * against the vocabulary's share of the removed parameters, one line per ratio, the chosen
 * candidate circled.
 */
import type { Results } from './experiments.ts';

const W = 640;
const H = 380;
const M = { left: 64, right: 150, top: 36, bottom: 52 };
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** About five round tick values covering [lo, hi]. */
function ticks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toFixed(10)));
  return out;
}

export function plannerChart(r: Results): string {
  const series = r.rows
    .filter((x) => x.planner)
    .map((x) => ({
      ratio: x.target_ratio,
      points: x.planner!.candidates.filter((c) => c.bpb !== null).map((c) => ({ x: c.share, y: c.bpb! })),
      chosen: x.planner!.candidates[x.planner!.chosen]!,
    }));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${W / 2 - M.right / 2 + M.left / 2}" y="20" text-anchor="middle" font-size="14">Planner candidates on wiki-28m: held-out bits/byte by vocabulary share</text>`);
  const ys = series.flatMap((s) => s.points.map((p) => p.y));
  if (ys.length === 0) {
    parts.push(`<text x="${W / 2}" y="${H / 2}" text-anchor="middle">no planner rows yet</text></svg>`);
    return parts.join('\n') + '\n';
  }
  let lo = Math.min(...ys);
  let hi = Math.max(...ys);
  const pad = Math.max((hi - lo) * 0.08, 0.005);
  lo -= pad;
  hi += pad;
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const X = (x: number) => M.left + x * pw;
  const Y = (y: number) => M.top + (1 - (y - lo) / (hi - lo)) * ph;
  // Axes, grid and ticks.
  parts.push(`<g stroke="#ccc" stroke-width="1">`);
  for (const t of ticks(lo, hi)) parts.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${Y(t).toFixed(1)}" y2="${Y(t).toFixed(1)}"/>`);
  for (let s = 0; s <= 10; s++) parts.push(`<line x1="${X(s / 10).toFixed(1)}" x2="${X(s / 10).toFixed(1)}" y1="${M.top}" y2="${M.top + ph}"/>`);
  parts.push('</g>');
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (const t of ticks(lo, hi)) parts.push(`<text x="${M.left - 6}" y="${(Y(t) + 4).toFixed(1)}" text-anchor="end">${t.toFixed(t < 10 ? 2 : 1)}</text>`);
  for (let s = 0; s <= 10; s += 2) parts.push(`<text x="${X(s / 10).toFixed(1)}" y="${M.top + ph + 18}" text-anchor="middle">${s * 10}%</text>`);
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 12}" text-anchor="middle" font-size="11">vocabulary's share of the removed parameters (0% = FFN-only, 100% = vocab-only)</text>`);
  parts.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">held-out bits/byte (lower is better)</text>`);
  // One line per ratio.
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    const path = s.points.map((p) => `${X(p.x).toFixed(1)},${Y(p.y).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${path}" fill="none" stroke="${c}" stroke-width="2"/>`);
    for (const p of s.points) parts.push(`<circle cx="${X(p.x).toFixed(1)}" cy="${Y(p.y).toFixed(1)}" r="3" fill="${c}"/>`);
    if (s.chosen.bpb !== null) {
      parts.push(`<circle cx="${X(s.chosen.share).toFixed(1)}" cy="${Y(s.chosen.bpb).toFixed(1)}" r="8" fill="none" stroke="${c}" stroke-width="2"/>`);
    }
    const ly = M.top + 20 + i * 40;
    const lx = M.left + pw + 14;
    parts.push(`<line x1="${lx}" x2="${lx + 22}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2"/>`);
    parts.push(`<text x="${lx + 28}" y="${ly + 4}">${esc(`R = ${s.ratio.toFixed(2)}`)}</text>`);
    parts.push(`<text x="${lx + 28}" y="${ly + 19}" font-size="11" fill="#555">${esc(`chose ${(100 * s.chosen.share).toFixed(0)}%`)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
