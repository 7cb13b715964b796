/**
 * Task files → requests (lm-eval prompt formats, checked on the real shared files), bad input,
 * seeded subsets. No model is run here, except the tokenizer for lm-eval's whitespace rule.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { CompactError } from '../../src/errors.ts';
import { encodeRequest } from '../../src/eval/multiple-choice.ts';
import { loadTask, parseTaskList, seededSubset, TASK_NAMES, TASKS, type ChoiceItem, type TaskSpec } from '../../src/eval/tasks.ts';
import { evaluateTasks } from '../../src/eval/zero-shot.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenize.ts';
import { shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

const TASK_DIR = shared('data/tasks');
const task = (name: string): TaskSpec => TASKS.find((t) => t.name === name)!;
const firstChoice = (name: string): ChoiceItem => {
  const it = loadTask(task(name), TASK_DIR).items[0]!;
  assert.equal(it.kind, 'choice');
  return it as ChoiceItem;
};
const isCompactError = (re: RegExp) => (e: unknown): boolean => e instanceof CompactError && re.test(e.message) && !e.message.includes('\n');

describe('shared task files: item counts and lm-eval prompts', () => {
  test('every JSON-lines file loads with the documented number of items', () => {
    const counts: Record<string, number> = { arc_easy: 2376, arc_challenge: 1172, boolq: 3270, openbook_qa: 500, winogrande: 1267, lambada_openai: 5153, piqa: 1838 };
    for (const [name, n] of Object.entries(counts)) assert.equal(loadTask(task(name), TASK_DIR).items.length, n, name);
  });

  test('ARC and PIQA: "Question: {q}\\nAnswer:" + " {choice}"', () => {
    const arc = firstChoice('arc_easy');
    assert.equal(arc.requests[0]!.context, 'Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:');
    assert.equal(arc.requests[0]!.continuation, ' Sunlight is the source of energy for nearly all ecosystems.');
    assert.deepEqual(arc.normLengths, [59, 54, 50, 43]);
    const piqa = firstChoice('piqa');
    assert.equal(piqa.requests[1]!.context, "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:");
    assert.match(piqa.requests[1]!.continuation, /^ Provide the guinea pig .* ripped jeans material/);
    for (const name of ['arc_challenge', 'piqa']) {
      for (const it of loadTask(task(name), TASK_DIR).items as ChoiceItem[]) assert.match(it.requests[0]!.context, /^Question: [^\n]*\S\nAnswer:$/s);
    }
  });

  test('BoolQ: "{passage}\\nQuestion: {question}?\\nAnswer:" with " no"/" yes" (llm-foundry\'s "Passage: " removed)', () => {
    const b = firstChoice('boolq');
    assert.match(b.requests[0]!.context, /^All biomass goes through .*\nQuestion: does ethanol take more energy make that produces\?\nAnswer:$/s);
    assert.deepEqual(b.requests.map((r) => r.continuation), [' no', ' yes']);
    assert.equal(b.gold, 0);
  });

  test('OpenBookQA: the bare question stem; WinoGrande: partial scoring; LAMBADA: " " + last word', () => {
    const o = firstChoice('openbook_qa');
    assert.ok(o.requests.every((r) => r.context.endsWith('the best way to save money is to')));
    assert.equal(o.requests[1]!.continuation, ' quit eating lunch out');
    const w = firstChoice('winogrande');
    assert.deepEqual(w.requests, [
      { context: 'Sarah was a much better surgeon than Maria so Sarah', continuation: ' always got the easier cases.' },
      { context: 'Sarah was a much better surgeon than Maria so Maria', continuation: ' always got the easier cases.' },
    ]);
    assert.equal(w.gold, 1);
    const l = loadTask(task('lambada_openai'), TASK_DIR).items[0]!;
    assert.ok(l.kind === 'greedy');
    assert.equal(l.request.continuation, ' signs');
    assert.ok(l.request.context.endsWith("I don't care about"));
  });

  test("lm-eval's whitespace rule: a context's trailing spaces move to the continuation before encoding", () => {
    const tok = loadTokenizer(shared('models/wiki-28m'));
    const a = encodeRequest(tok, { context: 'The cat sat on the ', continuation: 'mat' });
    const b = encodeRequest(tok, { context: 'The cat sat on the', continuation: ' mat' });
    assert.deepEqual(a, b);
    assert.deepEqual(Array.from(b.continuation), Array.from(tok.encode(' mat')));
  });
});

describe('bad input: one-line CompactError naming the file and line', () => {
  const dir = makeTmpDir('tasks-bad');
  const good = JSON.stringify({ query: 'Question: Q?', choices: ['a', 'b', 'c', 'd'], gold: 1 });

  test('a malformed JSON line', () => {
    writeFileSync(join(dir, 'arc_easy.jsonl'), `${good}\n{"query": "Question: Q?", "choices": ["a", "b"],, "gold": 0}\n${good}\n`);
    assert.throws(() => loadTask(task('arc_easy'), dir), isCompactError(/arc_easy\.jsonl:2: malformed JSON/));
  });

  test('a gold index out of range, a missing field, a non-integer gold', () => {
    writeFileSync(join(dir, 'arc_challenge.jsonl'), `${good}\n${JSON.stringify({ query: 'Q', choices: ['a', 'b', 'c', 'd'], gold: 4 })}\n`);
    assert.throws(() => loadTask(task('arc_challenge'), dir), isCompactError(/arc_challenge\.jsonl:2: gold 4 is out of range for 4 choices/));
    writeFileSync(join(dir, 'piqa.jsonl'), `${JSON.stringify({ query: 'Q', gold: 0 })}\n`);
    assert.throws(() => loadTask(task('piqa'), dir), isCompactError(/piqa\.jsonl:1: "choices" must be an array .*\(missing\)/));
    writeFileSync(join(dir, 'boolq.jsonl'), `${JSON.stringify({ query: 'Q', choices: ['no', 'yes'], gold: '1' })}\n`);
    assert.throws(() => loadTask(task('boolq'), dir), isCompactError(/boolq\.jsonl:1: "gold" must be an integer, got "1"/));
    writeFileSync(join(dir, 'winogrande.jsonl'), `${JSON.stringify({ context_options: ['A', 'B'], continuation: 'x', gold: -1 })}\n`);
    assert.throws(() => loadTask(task('winogrande'), dir), isCompactError(/winogrande\.jsonl:1: gold -1 is out of range for 2 choices/));
  });

  test('HellaSwag text: an incomplete item and a gold out of range name their lines', () => {
    const item = ['Label: context', '1', 'e0', 'e1', 'e2', 'e3'];
    writeFileSync(join(dir, 'hellaswag_val_full.txt'), [...item, ...item.slice(0, 4)].join('\n') + '\n');
    assert.throws(() => loadTask(task('hellaswag'), dir), isCompactError(/hellaswag_val_full\.txt: 10 lines is not a multiple of 6.*line 7/));
    writeFileSync(join(dir, 'hellaswag_val_full.txt'), [...item, 'Label: c2', '4', 'a', 'b', 'c', 'd'].join('\n'));
    assert.throws(() => loadTask(task('hellaswag'), dir), isCompactError(/hellaswag_val_full\.txt:8: gold 4 is out of range for 4 choices/));
  });

  test('an unknown task name lists the known ones; a missing file names the path', () => {
    assert.throws(() => parseTaskList('arc_easy,hellaswagg'), isCompactError(new RegExp(`unknown task "hellaswagg"; did you mean hellaswag\\? \\(known: ${TASK_NAMES.join(', ')}, or all\\)`)));
    assert.deepEqual(parseTaskList('all').map((t) => t.name), TASK_NAMES);
    assert.throws(() => loadTask(task('openbook_qa'), join(dir, 'nowhere')), isCompactError(/nowhere\/openbook_qa\.jsonl: missing/));
  });

  test('evaluateTasks validates every task before scoring: a bad later task reports nothing', async () => {
    const d = makeTmpDir('tasks-partial');
    writeFileSync(join(d, 'arc_easy.jsonl'), `${good}\n`);
    writeFileSync(join(d, 'piqa.jsonl'), `${good}\n{oops\n`);
    let started = 0;
    await assert.rejects(
      evaluateTasks(shared('models/wiki-28m'), parseTaskList('arc_easy,piqa'), { taskDir: d, onTaskStart: () => started++ }),
      isCompactError(/piqa\.jsonl:2: malformed JSON/),
    );
    assert.equal(started, 0, 'no task started scoring');
  });
});

describe('seeded subsets (--limit N --seed S)', () => {
  test('the same seed picks the same subset every time; another seed another subset', () => {
    const a = seededSubset(2376, 100, 7);
    assert.deepEqual(seededSubset(2376, 100, 7), a);
    assert.equal(new Set(a).size, 100);
    assert.ok(a.every((i, k) => i >= 0 && i < 2376 && (k === 0 || i > a[k - 1]!)), 'distinct, in file order');
    assert.notDeepEqual(seededSubset(2376, 100, 8), a);
    // Not simply the first items.
    assert.notDeepEqual(a, Array.from({ length: 100 }, (_, i) => i));
  });

  test('a smaller limit picks a subset of a larger one; limit ≥ n keeps everything', () => {
    const small = new Set(seededSubset(1000, 50, 3));
    const large = new Set(seededSubset(1000, 200, 3));
    for (const i of small) assert.ok(large.has(i));
    assert.deepEqual(seededSubset(5, 9, 3), [0, 1, 2, 3, 4]);
    assert.deepEqual(seededSubset(5, undefined, 3), [0, 1, 2, 3, 4]);
  });

  test('bad --limit or --seed', () => {
    assert.throws(() => seededSubset(10, 0, 1), isCompactError(/--limit must be a positive integer, got 0/));
    assert.throws(() => seededSubset(10, 2.5, 1), isCompactError(/--limit/));
    assert.throws(() => seededSubset(10, 3, -1), isCompactError(/--seed must be an integer/));
  });
});
