/**
 * `compact eval --tasks`: zero-shot multiple-choice accuracy (and LAMBADA) as lm-evaluation-harness
 * computes it. Every task file is read and validated before the model is opened, so a bad line
 * fails in seconds rather than after an hour of scoring, and nothing is reported unless every
 * requested task completed.
 */
import { Engine, type EngineOptions } from '../engine/runner.ts';
import { loadTokenizer, type TextTokenizer } from '../tokenizer/tokenize.ts';
import { argmax, buildSequence, defaultBudget, encodeRequest, scoreSequences, type ForwardBudget, type ScoringSequence } from './multiple-choice.ts';
import { DEFAULT_SEED, loadTask, seededSubset, type ChoiceItem, type GreedyItem, type LoadedTask, type MetricName, type TaskSpec } from './tasks.ts';

export interface ZeroShotOptions extends EngineOptions {
  taskDir: string;
  /** Score a seeded random subset of this many items per task. */
  limit?: number;
  seed?: number;
  /** Overrides the per-call budgets (tests use small ones to cross call boundaries). */
  budget?: Partial<ForwardBudget>;
  /** Keep per-item predictions in the result. */
  perItem?: boolean;
  onTaskStart?: (task: string, items: number) => void;
  onProgress?: (task: string, doneItems: number, totalItems: number, tokens: number) => void;
}

export interface MetricValue {
  value: number;
  /** Standard error of the mean over items (lm-eval's sample stderr, sqrt(p(1−p)/(n−1))); null for perplexity. */
  stderr: number | null;
}

export interface ItemResult {
  /** 1-based line of the item in the task file. */
  line: number;
  /** Σ log p per choice (one entry for LAMBADA). */
  logprobs: number[];
  gold: number | null;
  pred: number;
  pred_norm?: number;
  greedy?: boolean;
}

export interface TaskResult {
  task: string;
  file: string;
  /** Items scored. */
  items: number;
  /** Items in the file. */
  of: number;
  /** The subset, when --limit selected fewer than all items. */
  subset: { limit: number; seed: number } | null;
  metrics: Partial<Record<MetricName, MetricValue>>;
  /** Random-guess accuracy, for reference. */
  chance: number | null;
  /** Sequences whose context was left-truncated to the model's max positions. */
  truncated: number;
  /** Tokens run through the model. */
  tokens: number;
  seconds: number;
  per_item?: ItemResult[];
}

export interface ZeroShotResult {
  model: string;
  task_dir: string;
  seed: number;
  tasks: TaskResult[];
  seconds: number;
}

/** lm-eval's `mean_stderr`: sample standard deviation / sqrt(n) = sqrt(p(1−p)/(n−1)) for 0/1 values. */
export function meanStderr(values: number[]): number {
  const n = values.length;
  if (n < 2) return NaN;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const ss = values.reduce((a, b) => a + (b - mean) ** 2, 0);
  return Math.sqrt(ss / (n - 1) / n);
}

function accuracy(hits: boolean[]): MetricValue {
  const v = hits.map((h) => (h ? 1 : 0));
  return { value: v.reduce((a: number, b) => a + b, 0) / v.length, stderr: meanStderr(v) };
}

export async function evaluateTasks(modelDir: string, specs: TaskSpec[], opts: ZeroShotOptions): Promise<ZeroShotResult> {
  const t0 = performance.now();
  const seed = opts.seed ?? DEFAULT_SEED;
  // Validate everything up front: files, items, --limit/--seed.
  const tasks = specs.map((s) => loadTask(s, opts.taskDir));
  const subsets = tasks.map((t) => seededSubset(t.items.length, opts.limit, seed));
  const tok = loadTokenizer(modelDir);
  const engine = await Engine.open(modelDir, opts);
  try {
    const budget = { ...defaultBudget(engine.spec.hidden), ...opts.budget };
    const results: TaskResult[] = [];
    for (let i = 0; i < tasks.length; i++) {
      results.push(await runTask(engine, tok, tasks[i]!, subsets[i]!, budget, seed, opts));
    }
    return { model: modelDir, task_dir: opts.taskDir, seed, tasks: results, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await engine.close();
  }
}

interface Pending {
  item: ChoiceItem | GreedyItem;
  /** Per request: index into the call's unique sequences. */
  slots: number[];
}

async function runTask(engine: Engine, tok: TextTokenizer, task: LoadedTask, subset: number[], budget: ForwardBudget, seed: number, opts: ZeroShotOptions): Promise<TaskResult> {
  const t0 = performance.now();
  const name = task.spec.name;
  const greedy = task.items[0]!.kind === 'greedy';
  const perCall = budget.tokens;
  const maxPositions = engine.spec.maxPositions;
  opts.onTaskStart?.(name, subset.length);

  const itemResults: ItemResult[] = [];
  let tokens = 0;
  let truncated = 0;
  let done = 0;

  // Items are tokenized as they are batched (tokenizing a whole task up front would hold every
  // sequence in memory and delay the first progress line).
  let next = 0;
  while (next < subset.length) {
    const seqs: ScoringSequence[] = [];
    const keyToSlot = new Map<string, number>();
    const pending: Pending[] = [];
    let callTokens = 0;
    while (next < subset.length && (callTokens < perCall || seqs.length === 0)) {
      const item = task.items[subset[next++]!]!;
      const requests = item.kind === 'choice' ? item.requests : [item.request];
      const contextCache = new Map<string, Int32Array>();
      const where = `${task.file}:${item.line}`;
      const slots = requests.map((req) => {
        const enc = encodeRequest(tok, req, contextCache);
        const seq = buildSequence(tok.streamStartId, enc.context, enc.continuation, maxPositions, where);
        // A duplicated choice (same tokens) is scored once, so it gets the identical score.
        // Inputs alone are not enough: single-token continuations (BoolQ's " no"/" yes") share
        // the input and differ only in the target.
        const key = `${seq.input.join(',')}|${seq.targets.subarray(seq.input.length - seq.continuationTokens).join(',')}`;
        let slot = keyToSlot.get(key);
        if (slot === undefined) {
          slot = seqs.length;
          keyToSlot.set(key, slot);
          seqs.push(seq);
          callTokens += seq.input.length;
          if (seq.truncated) truncated++;
        }
        return slot;
      });
      pending.push({ item, slots });
    }
    const scores = await scoreSequences(engine, seqs, greedy);
    tokens += callTokens;
    for (const { item, slots } of pending) {
      const lps = slots.map((s) => scores[s]!.logprob);
      if (item.kind === 'greedy') {
        itemResults.push({ line: item.line, logprobs: lps, gold: null, pred: 0, greedy: scores[slots[0]!]!.greedy! });
      } else {
        const normed = lps.map((lp, k) => lp / item.normLengths[k]!);
        itemResults.push({ line: item.line, logprobs: lps, gold: item.gold, pred: argmax(lps), pred_norm: argmax(normed) });
      }
    }
    done = next;
    opts.onProgress?.(name, done, subset.length, tokens);
  }

  const metrics: TaskResult['metrics'] = {};
  for (const m of task.spec.metrics) {
    if (m === 'acc') metrics.acc = accuracy(itemResults.map((r) => (greedy ? r.greedy! : r.pred === r.gold)));
    else if (m === 'acc_norm') metrics.acc_norm = accuracy(itemResults.map((r) => r.pred_norm === r.gold));
    // lm-eval's LAMBADA perplexity: exp of the mean negative log-likelihood of the whole last word.
    else metrics.perplexity = { value: Math.exp(-itemResults.reduce((a, r) => a + r.logprobs[0]!, 0) / itemResults.length), stderr: null };
  }
  const result: TaskResult = {
    task: name,
    file: task.file,
    items: subset.length,
    of: task.items.length,
    subset: subset.length < task.items.length ? { limit: subset.length, seed } : null,
    metrics,
    chance: task.spec.chance,
    truncated,
    tokens,
    seconds: (performance.now() - t0) / 1000,
  };
  if (opts.perItem) result.per_item = itemResults;
  return result;
}
