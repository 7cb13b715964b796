/**
 * Zero-shot scoring on the real wiki-28m model with hand-made items. Expected values are computed
 * here independently of src/eval/multiple-choice.ts: the engine's full logits of
 * [EOS] + context + " " + choice, a float64 log-softmax, and the sum over the choice's tokens.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Engine } from '../../src/engine/runner.ts';
import { parseTaskList, seededSubset } from '../../src/eval/tasks.ts';
import { formatTaskTable } from '../../src/cli/eval.ts';
import { evaluateTasks, type TaskResult, type ZeroShotResult } from '../../src/eval/zero-shot.ts';
import { loadTokenizer, type TextTokenizer } from '../../src/tokenizer/tokenize.ts';
import { REPO_ROOT, shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

const MODEL = shared('models/wiki-28m');

/** Hand-made ARC-style items: the query as llm-foundry stores it ("Question: …"). */
const ARC_ITEMS = [
  { query: 'Question: What is the capital city of France?', choices: ['Paris', 'a banana', 'the ocean floor', 'Tuesday'], gold: 0 },
  { query: 'Question: Which animal is known for barking?', choices: ['the moon', 'a dog', 'purple', 'seven'], gold: 1 },
  { query: 'Question: What do plants need to make their food?', choices: ['sunlight', 'plastic bags', 'loud music', 'cold iron'], gold: 0 },
  { query: 'Question: The United States declared its independence in which year?', choices: ['the kitchen', 'happily', '1776', 'a bicycle wheel'], gold: 2 },
];

const LAMBADA_ITEMS = [
  { context: 'He opened the door and walked into the', continuation: 'room' },
  { context: 'The game was played on 12 March 1994 in front of a crowd of 40,000 at the national', continuation: 'stadium' },
  { context: 'She said that she would be back in a few', continuation: 'minutes' },
];

function jsonl(rows: object[]): string {
  return rows.map((r) => JSON.stringify(r)).join('\n') + '\n';
}

/** Σ log_softmax(logits)[target] over the continuation, and whether each target was the argmax. */
function reference(logits: Float32Array, V: number, full: Int32Array, contStart: number): { lp: number; greedy: boolean } {
  let lp = 0;
  let greedy = true;
  for (let t = contStart; t < full.length; t++) {
    const row = logits.subarray((t - 1) * V, t * V); // position t−1 predicts token t
    let max = -Infinity;
    let arg = -1;
    for (let v = 0; v < V; v++) if (row[v]! > max) [max, arg] = [row[v]!, v];
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(row[v]! - max);
    lp += row[full[t]!]! - max - Math.log(sum);
    if (arg !== full[t]) greedy = false;
  }
  return { lp, greedy };
}

describe('zero-shot scoring on wiki-28m', () => {
  let tok: TextTokenizer;
  let engine: Engine;
  let dir: string;
  before(async () => {
    tok = loadTokenizer(MODEL);
    engine = await Engine.open(MODEL, { threads: 2 });
    dir = makeTmpDir('zs');
    writeFileSync(join(dir, 'arc_easy.jsonl'), jsonl(ARC_ITEMS));
    writeFileSync(join(dir, 'lambada_openai.jsonl'), jsonl(LAMBADA_ITEMS));
  });
  after(async () => engine?.close());

  /** Independent log-likelihoods: context and " choice" tokenized separately (equal to the joint split here). */
  async function independent(pairs: { context: string; continuation: string }[]): Promise<{ lp: number; greedy: boolean }[]> {
    const fulls = pairs.map(({ context, continuation }) => {
      const c = tok.encode(context);
      const k = tok.encode(continuation);
      // These items are chosen so that joint encoding splits at the same place.
      assert.deepEqual(Array.from(tok.encode(context + continuation)), [...c, ...k], `joint split of ${JSON.stringify(context + continuation)}`);
      return { full: Int32Array.from([tok.streamStartId, ...c, ...k]), contStart: 1 + c.length };
    });
    const r = await engine.forward(fulls.map((f) => f.full), { logits: true });
    return fulls.map((f, i) => reference(r.logits![i]!, engine.spec.vocabSize, f.full, f.contStart));
  }

  test('ARC-style items: log-likelihoods, acc and acc_norm match an independent log-softmax', async () => {
    const res = await evaluateTasks(MODEL, parseTaskList('arc_easy'), { taskDir: dir, threads: 2, perItem: true, budget: { tokens: 200 } });
    const t = res.tasks[0]!;
    assert.equal(t.items, ARC_ITEMS.length);
    const pairs = ARC_ITEMS.flatMap((it) => it.choices.map((c) => ({ context: it.query + '\nAnswer:', continuation: ' ' + c })));
    const want = await independent(pairs);
    let accHits = 0;
    let normHits = 0;
    ARC_ITEMS.forEach((it, i) => {
      const got = t.per_item![i]!;
      const exp = want.slice(i * 4, i * 4 + 4).map((w) => w.lp);
      for (let k = 0; k < 4; k++) assert.ok(Math.abs(got.logprobs[k]! - exp[k]!) < 2e-3, `item ${i} choice ${k}: ${got.logprobs[k]} vs ${exp[k]}`);
      const pred = exp.indexOf(Math.max(...exp));
      const normed = exp.map((lp, k) => lp / Buffer.byteLength(it.choices[k]!));
      const predNorm = normed.indexOf(Math.max(...normed));
      assert.equal(got.pred, pred, `item ${i} pred`);
      assert.equal(got.pred_norm, predNorm, `item ${i} pred_norm`);
      accHits += pred === it.gold ? 1 : 0;
      normHits += predNorm === it.gold ? 1 : 0;
    });
    const n = ARC_ITEMS.length;
    assert.equal(t.metrics.acc!.value, accHits / n);
    assert.equal(t.metrics.acc_norm!.value, normHits / n);
    const p = accHits / n;
    assert.ok(Math.abs(t.metrics.acc!.stderr! - Math.sqrt((p * (1 - p)) / (n - 1))) < 1e-12);
  });

  test('LAMBADA: greedy accuracy and last-word perplexity match the independent reference', async () => {
    const res = await evaluateTasks(MODEL, parseTaskList('lambada_openai'), { taskDir: dir, threads: 2, perItem: true, budget: { tokens: 20 } });
    const t: TaskResult = res.tasks[0]!;
    const want = await independent(LAMBADA_ITEMS.map((it) => ({ context: it.context, continuation: ' ' + it.continuation })));
    t.per_item!.forEach((got, i) => {
      assert.ok(Math.abs(got.logprobs[0]! - want[i]!.lp) < 2e-3, `item ${i}: ${got.logprobs[0]} vs ${want[i]!.lp}`);
      assert.equal(got.greedy, want[i]!.greedy, `item ${i} greedy`);
    });
    assert.equal(t.metrics.acc!.value, want.filter((w) => w.greedy).length / want.length);
    const ppl = Math.exp(-want.reduce((a, w) => a + w.lp, 0) / want.length);
    assert.ok(Math.abs(t.metrics.perplexity!.value / ppl - 1) < 1e-3, `${t.metrics.perplexity!.value} vs ${ppl}`);
    // The model is trained on English prose: at least one of these easy last words is greedy.
    assert.ok(want.some((w) => w.greedy), 'no greedy last word at all');
  });
  test('shuffling the choices changes nothing but the gold index; a duplicated choice scores identically', async () => {
    const perm = [2, 0, 3, 1]; // new position k holds old choice perm[k]
    const shuffled = ARC_ITEMS.map((it) => ({
      query: it.query,
      choices: [...perm.map((p) => it.choices[p]!), it.choices[0]!], // + a duplicate of old choice 0
      gold: perm.indexOf(it.gold),
    }));
    const d = makeTmpDir('zs-perm');
    writeFileSync(join(d, 'arc_easy.jsonl'), jsonl(ARC_ITEMS));
    writeFileSync(join(d, 'arc_challenge.jsonl'), jsonl(shuffled));
    const res = await evaluateTasks(MODEL, parseTaskList('arc_easy,arc_challenge'), { taskDir: d, threads: 2, perItem: true });
    const [orig, shuf] = res.tasks as [TaskResult, TaskResult];
    orig.per_item!.forEach((o, i) => {
      const s = shuf.per_item![i]!;
      for (let k = 0; k < 4; k++) assert.ok(Math.abs(s.logprobs[k]! - o.logprobs[perm[k]!]!) < 1e-4, `item ${i} choice ${k}`);
      const dupOf = perm.indexOf(0);
      assert.equal(s.logprobs[4], s.logprobs[dupOf], `item ${i}: the duplicate scores exactly as its original`);
      assert.equal(perm[s.pred]!, o.pred, `item ${i}: same predicted choice`);
      assert.equal(s.gold, perm.indexOf(o.gold!));
    });
    assert.equal(shuf.metrics.acc!.value, orig.metrics.acc!.value);
    assert.equal(shuf.metrics.acc_norm!.value, orig.metrics.acc_norm!.value);
  });

  test('--limit with a seed scores the same items on every run and thread count; another seed others', async () => {
    const items = Array.from({ length: 4 }, () => ARC_ITEMS).flat();
    const d = makeTmpDir('zs-limit');
    writeFileSync(join(d, 'arc_easy.jsonl'), jsonl(items));
    assert.notDeepEqual(seededSubset(items.length, 3, 11), seededSubset(items.length, 3, 12), 'the seeds chosen pick different subsets');
    const run = async (seed: number, threads: number) =>
      (await evaluateTasks(MODEL, parseTaskList('arc_easy'), { taskDir: d, limit: 3, seed, threads, perItem: true })).tasks[0]!;
    const a = await run(11, 2);
    const b = await run(11, 1);
    const lines = (t: TaskResult) => t.per_item!.map((r) => r.line);
    assert.equal(a.items, 3);
    assert.deepEqual(a.subset, { limit: 3, seed: 11 });
    assert.equal(a.of, items.length);
    assert.deepEqual(lines(a), seededSubset(items.length, 3, 11).map((i) => i + 1));
    assert.deepEqual(lines(b), lines(a));
    a.per_item!.forEach((r, i) => r.logprobs.forEach((lp, k) => assert.ok(Math.abs(lp - b.per_item![i]!.logprobs[k]!) < 1e-4)));
    // Another seed: other items (the subset is all that depends on it; see tasks.test.ts).
    assert.notDeepEqual(seededSubset(items.length, 3, 12).map((i) => i + 1), lines(a));
  });

  test('CLI: --tasks with --text returns both (JSON; the table); an unknown task exits 1 with one line', () => {
    const bin = join(REPO_ROOT, 'bin/compact.mjs');
    const textFile = join(dir, 'text.txt');
    writeFileSync(textFile, 'The cat sat on the mat. It was a sunny day, and the children were playing in the park.\n');
    const cli = (...args: string[]) => spawnSync(process.execPath, [bin, 'eval', MODEL, ...args, '--task-dir', dir, '--threads', '2'], { encoding: 'utf8' });
    const json = cli('--tasks', 'arc_easy,lambada_openai', '--text', textFile, '--limit', '2', '--seed', '5', '--json');
    assert.equal(json.status, 0, json.stderr);
    assert.match(json.stderr, /^arc_easy.*\n(.*\n)*lambada_openai/m, 'progress on stderr');
    const j = JSON.parse(json.stdout) as ZeroShotResult & { text: { bpb: number; tokens: number } };
    assert.deepEqual(j.tasks.map((t) => [t.task, t.items, t.of]), [['arc_easy', 2, 4], ['lambada_openai', 2, 3]]);
    assert.ok(j.tasks[0]!.metrics.acc!.value >= 0 && j.tasks[0]!.metrics.acc_norm!.stderr! >= 0);
    assert.ok(j.tasks[1]!.metrics.perplexity!.value > 1);
    assert.ok(j.text.bpb > 0 && j.text.tokens > 10);
    // The table printed without --json.
    const tbl = formatTaskTable(j);
    assert.match(tbl, /^task\s+items\s+metric\s+value\s+stderr\s+chance\n/);
    assert.match(tbl, /\narc_easy\s+2\/4\s+acc\s+\d\.\d{4}\s+± \d\.\d{4}\s+0\.25\n\s+acc_norm\s+\d\.\d{4}\s+± /);
    assert.match(tbl, /\nlambada_openai\s+2\/3\s+acc\s.*\n\s+perplexity\s+\d+\.\d\d\n/);

    const bad = cli('--tasks', 'arc_easy,nope', '--json');
    assert.equal(bad.status, 2, 'a usage mistake');
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /^error: unknown task "nope" \(known: arc_easy, .*hellaswag, or all\)\n$/);
  });
});
