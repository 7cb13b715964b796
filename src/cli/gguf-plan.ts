/**
 * `compact inspect --gguf-plan TYPE`: what a quantized GGUF export would hold — every tensor's
 * type, the fallbacks forced by row lengths, the bytes and bits per weight — from the checkpoint's
 * header alone; nothing is written and no weight is read.
 */
import { exportGguf } from '../export/gguf-export.ts';
import type { QuantPlanEntry, QuantPlanSummary } from '../export/gguf-quant/quant-plan.ts';
import { fmtBytes, table } from '../report/format.ts';
import { ggufTypeOption } from './export.ts';

export { ggufTypeOption };
import { UsageError } from '../errors.ts';

export interface GgufPlanReport {
  file_type: string;
  /** Whole-file size (header included), as the export would write it. */
  file_bytes: number;
  summary: QuantPlanSummary;
  tensors: QuantPlanEntry[];
}

export async function ggufPlan(modelDir: string, type: string): Promise<GgufPlanReport> {
  const opt = ggufTypeOption(type, '--gguf-plan');
  if (!opt.quant) throw new UsageError(`--gguf-plan takes a quantized type (q8_0, q4_0, q6_k, q4_k_m, q5_k_m), got ${type}`);
  const r = await exportGguf(modelDir, '', { quant: opt.quant, dryRun: true });
  return { file_type: opt.quant, file_bytes: r.bytes, summary: r.quantization!, tensors: r.plan! };
}

export function formatGgufPlan(p: GgufPlanReport): string {
  // One row per (kind of tensor, type): layers repeat the same decision, so group blk.N.* by suffix.
  const groups = new Map<string, { count: number; bytes: number; weights: number; wanted: string; fallback: string | null; layers: number[] }>();
  for (const t of p.tensors) {
    const m = /^blk\.(\d+)\.(.*)$/.exec(t.name);
    const kind = m ? `blk.*.${m[2]}` : t.name;
    const key = `${kind}\u0000${t.type}`;
    const g = groups.get(key) ?? { count: 0, bytes: 0, weights: 0, wanted: t.wanted, fallback: t.fallback, layers: [] };
    g.count++;
    g.bytes += t.bytes;
    g.weights += t.shape.reduce((a, b) => a * b, 1);
    if (m) g.layers.push(Number(m[1]));
    groups.set(key, g);
  }
  const rows = [...groups].map(([key, g]) => {
    const [kind, type] = key.split('\u0000') as [string, string];
    const layers = g.layers.length && g.layers.length < p.tensors.filter((t) => t.name.endsWith(kind.slice(6))).length ? ` (layers ${g.layers.join(',')})` : '';
    return [kind + layers, type, String(g.count), g.fallback ? `${g.wanted} → ${type}: ${g.fallback}` : '', fmtBytes(g.bytes), ((8 * g.bytes) / g.weights).toFixed(2)];
  });
  const s = p.summary;
  return [
    `GGUF ${p.file_type} plan (nothing written):`,
    table(['tensor', 'type', 'count', 'fallback', 'bytes', 'bits/weight'], rows),
    `  ${Object.entries(s.types).map(([t, n]) => `${n} × ${t}`).join(', ')}; ${s.fallbacks.length} fallback${s.fallbacks.length === 1 ? '' : 's'}`,
    `  ${s.bitsPerWeight.toFixed(3)} bits per weight; file ${fmtBytes(p.file_bytes)}`,
  ].join('\n');
}
