/**
 * `compact compare`: one row per model with what `compact eval` and `compact inspect` give for
 * each model on its own, and the differences from the first row.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pruneModel } from '../../src/prune/prune.ts';
import { evaluateText } from '../../src/eval/text-eval.ts';
import { evaluateTasks } from '../../src/eval/zero-shot.ts';
import { defaultTaskDir, parseTaskList } from '../../src/eval/tasks.ts';
import { countTensors } from '../../src/report/params.ts';
import { readModelConfig } from '../../src/families/model-config.ts';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { formatCompare, type CompareResult } from '../../src/cli/compare.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { REPO_ROOT, shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

const BIN = join(REPO_ROOT, 'bin/compact.mjs');

async function tensorParams(dir: string): Promise<number> {
  const { spec } = readModelConfig(dir);
  const ck = await openCheckpoint(dir);
  try {
    return countTensors(spec, ck.names().map((n) => ck.info(n))).total;
  } finally {
    await ck.close();
  }
}

test('compare A B: params, weights on disk, bits/byte and task accuracies as eval gives them, deltas against A', async () => {
  const dense = fixtureWithTokenizer('llama3');
  const parent = makeTmpDir('compare');
  const pruned = join(parent, 'pruned');
  await pruneModel({ model: dense, out: pruned, vocab: 700, ffn: 120, ffnCriterion: 'magnitude', quiet: true });
  const textFile = join(parent, 'text.txt');
  writeFileSync(textFile, readFileSync(shared('data/text/wikitext2-test.raw'), 'utf8').slice(0, 2000));
  const r = spawnSync(process.execPath, [BIN, 'compare', dense, pruned, '--text', textFile, '--seq-len', '128', '--tasks', 'arc_easy,lambada_openai', '--limit', '6', '--threads', '2', '--quiet', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const res = JSON.parse(r.stdout) as CompareResult;
  assert.deepEqual(res.models.map((m) => m.model), [dense, pruned]);
  assert.deepEqual(res.tasks, ['arc_easy', 'lambada_openai']);
  const specs = parseTaskList('arc_easy,lambada_openai');
  for (const row of res.models) {
    assert.equal(row.params, await tensorParams(row.model));
    const st = readdirSync(row.model).filter((f) => f.endsWith('.safetensors')).reduce((a, f) => a + statSync(join(row.model, f)).size, 0);
    assert.equal(row.weights_bytes, st);
    const t = await evaluateText(row.model, readFileSync(textFile, 'utf8'), { seqLen: 128, threads: 2 });
    assert.equal(row.text!.bpb, t.bpb);
    const z = await evaluateTasks(row.model, specs, { taskDir: defaultTaskDir(), limit: 6, threads: 2 });
    for (const task of z.tasks) assert.deepEqual(row.tasks!.find((x) => x.task === task.task)!.metrics, task.metrics);
  }
  const [a, b] = res.models as [CompareResult['models'][0], CompareResult['models'][0]];
  assert.equal(a.delta, undefined);
  assert.equal(b.delta!.params, b.params - a.params);
  assert.ok(b.delta!.params < 0 && b.delta!.weights_bytes < 0);
  assert.equal(b.delta!.bpb, b.text!.bpb - a.text!.bpb);
  assert.equal(b.delta!.tasks!.arc_easy!.acc, b.tasks![0]!.metrics.acc!.value - a.tasks![0]!.metrics.acc!.value);

  const lines = formatCompare(res).split('\n');
  assert.match(lines[0]!, /^model\s+params\s+weights on disk\s+bits\/byte\s+arc_easy acc\s+arc_easy acc_norm\s+lambada_openai acc$/);
  assert.equal(lines.length, 5, 'header, rule, two rows, note');
  assert.ok(lines[3]!.startsWith(pruned) && lines[3]!.includes(`(${b.delta!.bpb! >= 0 ? '+' : '−'}${Math.abs(b.delta!.bpb!).toFixed(4)})`), lines[3]);
  assert.match(lines[2]!, /± \d\.\d{4}/);
  assert.doesNotMatch(lines[2]!, /\(/, 'the first row has no differences');
});

test('compare: fewer than two models is a usage error; a bad folder or task fails before scoring', () => {
  const one = spawnSync(process.execPath, [BIN, 'compare', shared('models/wiki-28m')], { encoding: 'utf8' });
  assert.equal(one.status, 2);
  const bad = spawnSync(process.execPath, [BIN, 'compare', shared('models/wiki-28m'), '/nonexistent/model', '--tasks', 'arc_easy'], { encoding: 'utf8' });
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /nonexistent/);
  assert.equal(bad.stdout, '');
  const task = spawnSync(process.execPath, [BIN, 'compare', shared('models/wiki-28m'), shared('models/wiki-28m'), '--tasks', 'arc_eas'], { encoding: 'utf8' });
  assert.equal(task.status, 2, 'an unknown task is a usage mistake (README, "Exit status")');
  assert.match(task.stderr, /unknown task "arc_eas"; did you mean arc_easy\?/);
});
