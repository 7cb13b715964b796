/**
 * Zero-shot task files → scoring requests, with lm-evaluation-harness's prompt formats.
 *
 * The files are the MosaicML llm-foundry "local data" JSON lines (one item per line) plus
 * HellaSwag's 6-lines-per-item text. Their `query` fields are already partly formatted
 * ("Question: …", "Passage: …\nQuestion: …?"), so each task below rewrites them into exactly the
 * context lm-eval builds from the original data set, and every choice becomes the continuation
 * " " + choice (lm-eval's default target_delimiter). See README "compact eval" for the formats.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CompactError, UsageError } from '../errors.ts';
import { didYouMean } from '../suggest.ts';
import { isJsonObject, parseJson } from '../json-text.ts';
import { bunzip2 } from './bzip2.ts';
import { mulberry32 } from '../random.ts';

/** One log-likelihood request: log p(continuation | context). */
export interface Request {
  context: string;
  continuation: string;
}

/** A multiple-choice item: one request per choice; the prediction is the argmax. */
export interface ChoiceItem {
  kind: 'choice';
  /** 1-based line of the item in its file (errors and per-item output). */
  line: number;
  requests: Request[];
  gold: number;
  /** lm-eval's acc_norm denominator per choice: the choice text's length (UTF-8 bytes here). */
  normLengths: number[];
}

/** A LAMBADA item: the last word must be the greedy continuation of the context. */
export interface GreedyItem {
  kind: 'greedy';
  line: number;
  request: Request;
}

export type TaskItem = ChoiceItem | GreedyItem;

export type MetricName = 'acc' | 'acc_norm' | 'perplexity';

export interface TaskSpec {
  name: string;
  /** File names tried in --task-dir, in order. */
  files: string[];
  /** Metrics lm-eval reports for the task. */
  metrics: MetricName[];
  /** Chance accuracy (for reading small models' numbers), or null where it has none. */
  chance: number | null;
  parse(text: string, file: string): TaskItem[];
}

export interface LoadedTask {
  spec: TaskSpec;
  /** The file read. */
  file: string;
  items: TaskItem[];
}

/** `<repo>/../shared/data/tasks`: the shared data folder beside the repository checkout. */
export function defaultTaskDir(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '../../../shared/data/tasks');
}

// --- parsing helpers ---------------------------------------------------------------------------

type Json = Record<string, unknown>;

/** Non-blank lines of a JSON-lines file as objects; a malformed line names its file and line. */
function jsonLines(text: string, file: string): { line: number; obj: Json }[] {
  const out: { line: number; obj: Json }[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.replace(/\r$/, '');
    if (raw.trim() === '') continue;
    // Depth-guarded: a line nested 100,000 deep parses, but JSON.stringify of it in an error
    // message below would overflow the stack.
    const v = parseJson(raw, `${file}:${i + 1}`);
    if (!isJsonObject(v)) throw new CompactError(`${file}:${i + 1}: expected a JSON object, got ${Array.isArray(v) ? 'an array' : typeof v}`);
    out.push({ line: i + 1, obj: v as Json });
  }
  if (out.length === 0) throw new CompactError(`${file}: no items`);
  return out;
}

function field(obj: Json, key: string, file: string, line: number): string {
  const v = obj[key];
  if (typeof v !== 'string') throw new CompactError(`${file}:${line}: "${key}" must be a string${v === undefined ? ' (missing)' : ''}`);
  return v;
}

function stringList(obj: Json, key: string, file: string, line: number): string[] {
  const v = obj[key];
  if (!Array.isArray(v) || v.length < 2 || !v.every((c) => typeof c === 'string')) {
    throw new CompactError(`${file}:${line}: "${key}" must be an array of at least 2 strings${v === undefined ? ' (missing)' : ''}`);
  }
  v.forEach((c: string, i) => {
    if (c.trim() === '') throw new CompactError(`${file}:${line}: "${key}"[${i}] is empty`);
  });
  return v as string[];
}

function goldIndex(v: unknown, n: number, file: string, line: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new CompactError(`${file}:${line}: "gold" must be an integer${v === undefined ? ' (missing)' : `, got ${JSON.stringify(v)}`}`);
  if (v < 0 || v >= n) throw new CompactError(`${file}:${line}: gold ${v} is out of range for ${n} choices (0..${n - 1})`);
  return v;
}

const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

/** An item whose choices share one context: continuations " " + choice. */
function sharedContext(line: number, context: string, choices: string[], gold: number): ChoiceItem {
  return {
    kind: 'choice',
    line,
    requests: choices.map((c) => ({ context, continuation: ' ' + c })),
    gold,
    normLengths: choices.map(utf8Bytes),
  };
}

/** llm-foundry `{query, choices, gold}` lines, with `format` turning the query into lm-eval's context. */
function queryChoices(format: (query: string) => string) {
  return (text: string, file: string): TaskItem[] =>
    jsonLines(text, file).map(({ line, obj }) => {
      const query = field(obj, 'query', file, line);
      const choices = stringList(obj, 'choices', file, line);
      return sharedContext(line, format(query), choices, goldIndex(obj.gold, choices.length, file, line));
    });
}

/**
 * lm-eval's "Question: {q}\nAnswer:" (ARC, PIQA). llm-foundry stores "Question: {q}" (ARC) or
 * "Question: {q}\n" (PIQA); a bare question or an already complete prompt is accepted too.
 */
function questionAnswer(query: string): string {
  if (/\nAnswer:$/.test(query)) return query;
  const q = query.startsWith('Question: ') ? query : `Question: ${query}`;
  return q.endsWith('\n') ? `${q}Answer:` : `${q}\nAnswer:`;
}

/** lm-eval's BoolQ "{passage}\nQuestion: {question}?\nAnswer:"; llm-foundry prefixes "Passage: ". */
function boolqPrompt(query: string): string {
  const q = query.startsWith('Passage: ') ? query.slice('Passage: '.length) : query;
  return /\nAnswer:$/.test(q) ? q : `${q}\nAnswer:`;
}

/** WinoGrande, lm-eval's partial scoring: the shared " " + continuation after each option's sentence start. */
function parseWinogrande(text: string, file: string): TaskItem[] {
  return jsonLines(text, file).map(({ line, obj }) => {
    const contexts = stringList(obj, 'context_options', file, line);
    const continuation = field(obj, 'continuation', file, line).trim();
    if (continuation === '') throw new CompactError(`${file}:${line}: "continuation" is empty`);
    const gold = goldIndex(obj.gold, contexts.length, file, line);
    return {
      kind: 'choice',
      line,
      requests: contexts.map((context) => ({ context, continuation: ' ' + continuation })),
      gold,
      // lm-eval's completion_len is over doc_to_choice = the options; it reports acc only.
      normLengths: contexts.map(utf8Bytes),
    } satisfies ChoiceItem;
  });
}

/** LAMBADA (OpenAI): context = text up to the last space, continuation " " + last word. */
function parseLambada(text: string, file: string): TaskItem[] {
  return jsonLines(text, file).map(({ line, obj }) => {
    const context = field(obj, 'context', file, line);
    const word = field(obj, 'continuation', file, line);
    if (word === '') throw new CompactError(`${file}:${line}: "continuation" is empty`);
    return { kind: 'greedy', line, request: { context, continuation: ' ' + word } } satisfies GreedyItem;
  });
}

/**
 * HellaSwag as lm-eval preprocesses it, 6 lines per item: "{activity_label}: {ctx_a} {Ctx_b}",
 * the gold index, then the 4 endings; each scored as " " + ending after the context.
 */
function parseHellaswag(text: string, file: string): TaskItem[] {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new CompactError(`${file}: no items`);
  if (lines.length % 6 !== 0) {
    throw new CompactError(`${file}: ${lines.length} lines is not a multiple of 6 (context, gold, 4 endings per item); the last item starting at line ${lines.length - (lines.length % 6) + 1} is incomplete`);
  }
  const items: TaskItem[] = [];
  for (let i = 0; i < lines.length; i += 6) {
    const line = i + 1;
    const context = lines[i]!;
    if (context.trim() === '') throw new CompactError(`${file}:${line}: empty context`);
    const goldText = lines[i + 1]!.trim();
    if (!/^-?\d+$/.test(goldText)) throw new CompactError(`${file}:${line + 1}: gold must be an integer, got ${JSON.stringify(lines[i + 1])}`);
    const endings = lines.slice(i + 2, i + 6);
    endings.forEach((e, k) => {
      if (e.trim() === '') throw new CompactError(`${file}:${line + 2 + k}: empty ending`);
    });
    items.push(sharedContext(line, context, endings, goldIndex(Number(goldText), 4, file, line + 1)));
  }
  return items;
}

// --- the registry ------------------------------------------------------------------------------

const spec = (name: string, files: string[], metrics: MetricName[], chance: number | null, parse: TaskSpec['parse']): TaskSpec => ({ name, files, metrics, chance, parse });

/** Known tasks, in the order they are reported. */
export const TASKS: readonly TaskSpec[] = [
  spec('arc_easy', ['arc_easy.jsonl'], ['acc', 'acc_norm'], 0.25, queryChoices(questionAnswer)),
  spec('arc_challenge', ['arc_challenge.jsonl'], ['acc', 'acc_norm'], 0.25, queryChoices(questionAnswer)),
  spec('boolq', ['boolq.jsonl'], ['acc'], null, queryChoices(boolqPrompt)),
  // lm-eval: doc_to_text is the bare question_stem.
  spec('openbook_qa', ['openbook_qa.jsonl'], ['acc', 'acc_norm'], 0.25, queryChoices((q) => q)),
  spec('piqa', ['piqa.jsonl'], ['acc', 'acc_norm'], 0.5, queryChoices(questionAnswer)),
  spec('winogrande', ['winogrande.jsonl'], ['acc'], 0.5, parseWinogrande),
  spec('lambada_openai', ['lambada_openai.jsonl'], ['acc', 'perplexity'], null, parseLambada),
  spec('hellaswag', ['hellaswag_val_full.txt.bz2', 'hellaswag_val_full.txt'], ['acc', 'acc_norm'], 0.25, parseHellaswag),
];

export const TASK_NAMES: readonly string[] = TASKS.map((t) => t.name);

/** "arc_easy,piqa" → specs; unknown names are an error listing the known ones; "all" = every task. */
export function parseTaskList(list: string): TaskSpec[] {
  const names = list.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (names.length === 0) throw new UsageError(`--tasks is empty (known: ${TASK_NAMES.join(', ')}, or all)`);
  const out: TaskSpec[] = [];
  for (const n of names) {
    const found = n === 'all' ? TASKS : TASKS.filter((t) => t.name === n);
    if (found.length === 0) throw new UsageError(`unknown task "${n}"${didYouMean(n, [...TASK_NAMES, 'all'])} (known: ${TASK_NAMES.join(', ')}, or all)`);
    for (const t of found) if (!out.includes(t)) out.push(t);
  }
  return out;
}

/** The task's file in `taskDir`, or a CompactError naming what is missing (checked before any model work). */
export function taskFile(spec: TaskSpec, taskDir: string): string {
  const file = spec.files.map((f) => join(taskDir, f)).find((p) => existsSync(p));
  if (!file) throw new CompactError(`${join(taskDir, spec.files[0]!)}: missing (task ${spec.name} reads ${spec.files.join(' or ')} from --task-dir)`);
  return file;
}

/** Reads and validates a task's file from `taskDir` (bzip2-compressed HellaSwag decoded in JS). */
export function loadTask(spec: TaskSpec, taskDir: string): LoadedTask {
  const file = taskFile(spec, taskDir);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new CompactError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (file.endsWith('.bz2')) bytes = bunzip2(bytes, file);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CompactError(`${file}: not valid UTF-8`);
  }
  return { spec, file, items: spec.parse(text, file) };
}

// --- seeded subsets ----------------------------------------------------------------------------

/** Validates --limit and --seed (the CLI calls it before any long-running work). */
export function checkSubsetOptions(limit: number | undefined, seed: number | undefined): void {
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new UsageError(`--limit must be a positive integer, got ${limit}`);
  if (seed !== undefined && !(Number.isInteger(seed) && seed >= 0 && seed <= 0xffffffff)) throw new UsageError(`--seed must be an integer in [0, 4294967295], got ${seed}`);
}


export const DEFAULT_SEED = 1234;

/**
 * Indices of a seeded random subset of `limit` out of `n` items, in file order. A Fisher–Yates
 * shuffle of 0..n−1 driven by mulberry32(seed) is cut to its first `limit` entries, so the subset
 * depends only on (n, limit, seed) — not on threads or batching — and a smaller limit with the same
 * seed picks a subset of a larger one. `limit` ≥ n (or undefined) means every item.
 */
export function seededSubset(n: number, limit: number | undefined, seed = DEFAULT_SEED): number[] {
  checkSubsetOptions(limit, seed);
  const all = Array.from({ length: n }, (_, i) => i);
  if (limit === undefined || limit >= n) return all;
  const rand = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [all[i], all[j]] = [all[j]!, all[i]!];
  }
  return all.slice(0, limit).sort((a, b) => a - b);
}
