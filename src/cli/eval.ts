import { readFileSync } from 'node:fs';
import { CompactError, UsageError } from '../errors.ts';
import { evaluateText, type TextEvalResult } from '../eval/text-eval.ts';
import { checkSubsetOptions, DEFAULT_SEED, defaultTaskDir, parseTaskList, taskFile, TASK_NAMES } from '../eval/tasks.ts';
import { notAModelFolder } from '../families/model-config.ts';
import { checkTextFile } from '../io/text-file.ts';
import { evaluateTasks, type ZeroShotResult } from '../eval/zero-shot.ts';
import { table } from '../report/format.ts';
import { Progress } from '../report/progress.ts';
import { bool, num, parseArgs, str, type ParsedArgs } from './args.ts';
import { HUB_FLAGS, HUB_USAGE, modelArg } from './hub-flags.ts';

export const EVAL_USAGE = `usage: compact eval <model-dir> [--text FILE] [--tasks LIST] [--json] [--device cpu|webgpu] [--threads N] [--quiet]
         text:  [--seq-len 512] [--max-tokens N]
         tasks: [--limit N] [--seed ${DEFAULT_SEED}] [--task-dir DIR] [--per-item]

At least one of --text and --tasks; with both, both results are printed (and returned by --json).

  --text FILE      bits per byte (NLL in bits / UTF-8 bytes covered; compares models with different
                   vocabularies fairly) and token perplexity of a plain-text file, as one stream
                   [BOS or EOS] + tokens cut into windows of --seq-len without overlap
  --tasks LIST     zero-shot tasks, lm-evaluation-harness style, comma-separated or "all":
                   ${TASK_NAMES.join(', ')}
                   acc = argmax of Σ log p(" " + choice | context); acc_norm divides by the choice's
                   UTF-8 bytes; LAMBADA: greedy last-word accuracy and last-word perplexity; each
                   accuracy ± its standard error (sqrt(p(1-p)/(n-1)))
  --limit N        score a seeded random subset of N items per task (the same subset on every run
                   and thread count; a smaller N picks a subset of a larger one)
  --seed S         seed of that subset (default ${DEFAULT_SEED})
  --task-dir DIR   folder with the task files (default: shared/data/tasks beside the repository,
                   i.e. <repo>/../shared/data/tasks = ${defaultTaskDir()})
  --per-item       with --json: each item's log-likelihoods and predictions
  --json           JSON on stdout: with --tasks {"model", "tasks": [...], "text"?}; --text alone
                   prints the text result object (unchanged)
  --quiet          no progress on stderr
${HUB_USAGE}`;

export const EVAL_FLAGS = {
  text: 'string', 'seq-len': 'integer', 'max-tokens': 'integer', json: 'boolean', device: 'string', threads: 'integer', quiet: 'boolean', help: 'boolean',
  tasks: 'string', limit: 'integer', seed: 'integer', 'task-dir': 'string', 'per-item': 'boolean',
  ...HUB_FLAGS,
} as const;

export async function runTextEval(a: ParsedArgs, model: string): Promise<TextEvalResult> {
  const file = str(a, 'text')!;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CompactError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (text.length === 0) throw new CompactError(`${file}: evaluation text is empty`);
  // Created before the model loads so rates and ETA count from the start; the layer count comes with the first event.
  const bar = new Progress('eval', 1, 'tokens', process.stderr, bool(a, 'quiet'));
  return evaluateText(model, text, {
    seqLen: num(a, 'seq-len'),
    maxTokens: num(a, 'max-tokens'),
    device: deviceFlag(a),
    threads: num(a, 'threads'),
    onProgress: (done, total, tokens) => {
      bar.total = total;
      bar.update(done, (tokens * done) / total, `layer ${done}/${total}`);
    },
  });
}

function deviceFlag(a: ParsedArgs): 'cpu' | 'webgpu' | undefined {
  const device = str(a, 'device');
  if (device !== undefined && device !== 'cpu' && device !== 'webgpu') throw new UsageError(`--device must be cpu or webgpu, got ${device}`);
  return device;
}

export async function runTaskEval(a: ParsedArgs, model: string): Promise<ZeroShotResult> {
  const specs = parseTaskList(str(a, 'tasks')!);
  const quiet = bool(a, 'quiet');
  let bar: Progress | null = null;
  return evaluateTasks(model, specs, {
    taskDir: str(a, 'task-dir') ?? defaultTaskDir(),
    limit: num(a, 'limit'),
    seed: num(a, 'seed'),
    perItem: bool(a, 'per-item'),
    device: deviceFlag(a),
    threads: num(a, 'threads'),
    onTaskStart: (task, items) => {
      bar = new Progress(`${task} (items)`, items, 'tokens', process.stderr, quiet);
    },
    onProgress: (_task, done, _total, tokens) => bar?.update(done, tokens),
  });
}

const fmt = (x: number, d = 4): string => (Number.isFinite(x) ? x.toFixed(d) : String(x));

/** One row per task and metric: value ± stderr, and chance for reference. */
export function formatTaskTable(r: ZeroShotResult): string {
  const rows: string[][] = [];
  for (const t of r.tasks) {
    let first = true;
    for (const [name, m] of Object.entries(t.metrics)) {
      rows.push([
        first ? t.task : '',
        first ? `${t.items}${t.items < t.of ? `/${t.of}` : ''}` : '',
        name,
        name === 'perplexity' ? fmt(m.value, 2) : fmt(m.value),
        m.stderr === null ? '' : `± ${fmt(m.stderr)}`,
        first && t.chance !== null && name !== 'perplexity' ? fmt(t.chance, 2) : '',
      ]);
      first = false;
    }
  }
  const subset = r.tasks.some((t) => t.subset) ? `; subsets: --limit seeded with ${r.seed}` : '';
  return `${table(['task', 'items', 'metric', 'value', 'stderr', 'chance'], rows)}\n(${r.model}; ${fmt(r.seconds, 1)} s${subset})`;
}

export async function evalCommand(argv: string[]): Promise<number> {
  const a = parseArgs(argv, EVAL_FLAGS, 'eval');
  if (bool(a, 'help')) {
    console.log(EVAL_USAGE);
    return 0;
  }
  if (a.positional.length !== 1) throw new UsageError(a.positional.length === 0 ? 'compact eval: give the model folder (compact eval <model-dir> --text FILE | --tasks LIST; see compact eval --help)' : `compact eval: one model folder, got ${a.positional.length}: ${a.positional.join(' ')}`);
  if (!str(a, 'text') && !str(a, 'tasks')) throw new UsageError('compact eval: give --text FILE, --tasks LIST, or both');
  const model = a.positional[0]!;
  deviceFlag(a);
  if (str(a, 'text') !== undefined) checkTextFile(str(a, 'text')!, '--text');
  if (str(a, 'tasks') === undefined) {
    for (const f of ['limit', 'seed', 'task-dir', 'per-item']) if (a.flags[f] !== undefined) throw new UsageError(`--${f} applies to --tasks only`);
  }
  // Validate the task list and --limit/--seed before a possibly long --text run.
  if (str(a, 'tasks') !== undefined) {
    const taskDir = str(a, 'task-dir') ?? defaultTaskDir();
    for (const spec of parseTaskList(str(a, 'tasks')!)) taskFile(spec, taskDir);
    checkSubsetOptions(num(a, 'limit'), num(a, 'seed'));
  }
  const dir = (await modelArg(model, a)).dir;
  const notModel = notAModelFolder(dir);
  if (notModel) throw new CompactError(notModel);
  const text = str(a, 'text') ? await runTextEval(a, dir) : undefined;
  const tasks = str(a, 'tasks') !== undefined ? await runTaskEval(a, dir) : undefined;
  if (bool(a, 'json')) {
    console.log(JSON.stringify(tasks ? { ...tasks, ...(text ? { text } : {}) } : text, null, 2));
    return 0;
  }
  if (text) console.log(`${model}: ${text.bpb.toFixed(4)} bits/byte, perplexity ${text.ppl.toFixed(2)} over ${text.tokens} tokens (${text.bytes} bytes, windows of ${text.seq_len})`);
  if (tasks) console.log(formatTaskTable(tasks));
  return 0;
}
