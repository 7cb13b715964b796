/**
 * `compact compare A B [C…]`: models side by side in one table — parameters, weights on disk,
 * bits per byte on a text, zero-shot accuracies ± stderr — each row after the first with its
 * difference from the first (the dense model, usually). The figures are exactly `compact eval`'s.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CompactError } from '../errors.ts';
import { readModelConfig } from '../families/model-config.ts';
import { checkSubsetOptions, parseTaskList, type MetricName, type TaskSpec } from '../eval/tasks.ts';
import type { TaskResult } from '../eval/zero-shot.ts';
import type { TextEvalResult } from '../eval/text-eval.ts';
import { fmtBytes, fmtInt, table } from '../report/format.ts';
import { bool, parseArgs, str } from './args.ts';
import { inspectModel } from '../prune/inspect-model.ts';
import { EVAL_FLAGS, runTaskEval, runTextEval } from './eval.ts';

export const COMPARE_USAGE = `usage: compact compare <model-dir> <model-dir> [<model-dir>…] [--text FILE] [--tasks LIST]
                       [--seq-len 512] [--max-tokens N] [--limit N] [--seed S] [--task-dir DIR]
                       [--json] [--device cpu|webgpu] [--threads N] [--quiet]

One row per model: parameters (counted from the tensors on disk), weights on disk (the safetensors
files), bits per byte on --text and each task's accuracies ± standard error on --tasks, computed as
compact eval computes them; every row after the first also shows its difference from the first.
  --json   {"models": [{model, params, weights_bytes, text?, tasks?, delta?}], ...} on stdout`;

export interface CompareRow {
  model: string;
  params: number;
  weights_bytes: number;
  text?: TextEvalResult;
  tasks?: Array<{ task: string; items: number; metrics: TaskResult['metrics'] }>;
  /** Differences from the first model (absent on the first row). */
  delta?: { params: number; weights_bytes: number; bpb?: number; tasks?: Record<string, Partial<Record<MetricName, number>>> };
}

export interface CompareResult {
  text_file: string | null;
  tasks: string[];
  models: CompareRow[];
}

/** Bytes of the checkpoint's weight files (what the model weighs; exports beside it are not counted). */
export function weightsBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) if (f.endsWith('.safetensors')) n += statSync(join(dir, f)).size;
  return n;
}

/** The metrics a compare table shows per task: accuracies (LAMBADA's perplexity stays in compact eval). */
function shownMetrics(spec: TaskSpec): MetricName[] {
  return spec.metrics.filter((m) => m !== 'perplexity');
}

export async function compareCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv, EVAL_FLAGS, 'compare');
  if (bool(a, 'help')) {
    console.log(COMPARE_USAGE);
    return 0;
  }
  if (a.positional.length < 2) {
    console.error(COMPARE_USAGE);
    return 2;
  }
  if (bool(a, 'per-item')) throw new CompactError('--per-item applies to compact eval only');
  const tasksFlag = str(a, 'tasks');
  if (tasksFlag === undefined) {
    for (const f of ['limit', 'seed', 'task-dir']) if (a.flags[f] !== undefined) throw new CompactError(`--${f} applies to --tasks only`);
  }
  // Every model folder, the task list and the subset flags are checked before anything is scored.
  const specs = tasksFlag !== undefined ? parseTaskList(tasksFlag) : [];
  checkSubsetOptions(a.flags.limit as number | undefined, a.flags.seed as number | undefined);
  for (const m of a.positional) readModelConfig(m);
  const res: CompareResult = { text_file: str(a, 'text') ?? null, tasks: specs.map((s) => s.name), models: [] };
  for (const m of a.positional) {
    const info = await inspectModel(m);
    const row: CompareRow = { model: m, params: info.checkpoint.total_params, weights_bytes: weightsBytes(m) };
    if (str(a, 'text') !== undefined) row.text = await runTextEval(a, m);
    if (specs.length) row.tasks = (await runTaskEval(a, m)).tasks.map((t) => ({ task: t.task, items: t.items, metrics: t.metrics }));
    res.models.push(row);
  }
  const first = res.models[0]!;
  for (const row of res.models.slice(1)) {
    row.delta = { params: row.params - first.params, weights_bytes: row.weights_bytes - first.weights_bytes };
    if (row.text && first.text) row.delta.bpb = row.text.bpb - first.text.bpb;
    if (row.tasks && first.tasks) {
      row.delta.tasks = {};
      for (const t of row.tasks) {
        const base = first.tasks.find((x) => x.task === t.task)!;
        const d: Partial<Record<MetricName, number>> = {};
        for (const [k, v] of Object.entries(t.metrics) as Array<[MetricName, { value: number }]>) d[k] = v.value - base.metrics[k]!.value;
        row.delta.tasks[t.task] = d;
      }
    }
  }
  console.log(bool(a, 'json') ? JSON.stringify(res, null, 2) : formatCompare(res, specs));
  return 0;
}

const signed = (x: number, d: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(d)}`;
const pctOf = (d: number, base: number): string => `${d >= 0 ? '+' : '−'}${Math.abs((100 * d) / base).toFixed(1)}%`;

export function formatCompare(r: CompareResult, specs: TaskSpec[] = parseTaskList(r.tasks.join(',') || 'all').filter((s) => r.tasks.includes(s.name))): string {
  const first = r.models[0]!;
  const header = ['model', 'params', 'weights on disk'];
  if (r.text_file !== null) header.push('bits/byte');
  const cols: Array<[string, MetricName]> = specs.flatMap((s) => shownMetrics(s).map((m): [string, MetricName] => [s.name, m]));
  for (const [t, m] of cols) header.push(`${t} ${m}`);
  const rows = r.models.map((row, i) => {
    const d = row.delta;
    const cells = [
      row.model,
      fmtInt(row.params) + (d ? ` (${pctOf(d.params, first.params)})` : ''),
      fmtBytes(row.weights_bytes) + (d ? ` (${pctOf(d.weights_bytes, first.weights_bytes)})` : ''),
    ];
    if (r.text_file !== null) cells.push(row.text!.bpb.toFixed(4) + (d?.bpb !== undefined ? ` (${signed(d.bpb, 4)})` : ''));
    for (const [t, m] of cols) {
      const v = row.tasks!.find((x) => x.task === t)!.metrics[m]!;
      const dv = d?.tasks?.[t]?.[m];
      cells.push(`${v.value.toFixed(4)} ± ${(v.stderr ?? 0).toFixed(4)}` + (dv !== undefined && i > 0 ? ` (${signed(dv, 4)})` : ''));
    }
    return cells;
  });
  const notes = [`differences in parentheses are against ${first.model}`];
  if (r.text_file !== null) notes.push(`bits/byte on ${r.text_file} (lower is better)`);
  return `${table(header, rows)}\n(${notes.join('; ')})`;
}

