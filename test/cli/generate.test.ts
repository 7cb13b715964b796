/**
 * `compact generate`: the literal command of the issue prints text on wiki-28m; on a pruned model
 * the greedy ids the command prints equal the KV decoder's own greedy generation and, at every
 * step, the argmax of Engine.forward's logits over the sequence so far; sampling is seeded and
 * stays inside the nucleus; an end-of-sequence id stops it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pruneModel } from '../../src/prune/prune.ts';
import { KvDecoder } from '../../src/engine/kv-decoder.ts';
import { Engine } from '../../src/engine/runner.ts';
import { picker, streamGenerate } from '../../src/engine/sampling.ts';
import { generateText } from '../../src/cli/generate.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenize.ts';
import { REPO_ROOT, shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

const BIN = join(REPO_ROOT, 'bin/compact.mjs');
const PROMPT = 'The history of';

test('compact generate models/wiki-28m --prompt "The history of" prints the prompt and new text, and onnxruntime writes nothing outside', () => {
  // onnxruntime 1.30 keeps a telemetry database under $HOME/.cache and a /tmp/mat-debug-<pid>.log
  // unless ORT_DISABLE_TELEMETRY is set (engine/no-telemetry.ts); the child gets a HOME of its own.
  const home = makeTmpDir('home');
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  delete env.ORT_DISABLE_TELEMETRY;
  const r = spawnSync(process.execPath, [BIN, 'generate', shared('models/wiki-28m'), '--prompt', PROMPT, '--max-new-tokens', '8', '--threads', '2'], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readdirSync(home), [], 'nothing written under HOME');
  assert.equal(existsSync(`/tmp/mat-debug-${r.pid}.log`), false, 'no onnxruntime debug log in /tmp');
  assert.ok(r.stdout.startsWith(PROMPT), r.stdout);
  const added = r.stdout.slice(PROMPT.length).trim();
  assert.ok(added.length >= 8 && /[a-z]{2,}/.test(added), `no text generated: ${JSON.stringify(r.stdout)}`);
});

test('pruned wiki-28m: greedy ids of compact generate = KvDecoder.generate = Engine.forward argmax, step by step', async () => {
  const out = join(makeTmpDir('generate'), 'pruned');
  // Magnitude ranking needs no calibration pass: the test is about decoding a pruned folder.
  await pruneModel({ model: shared('models/wiki-28m'), out, vocab: 20000, ffn: 900, ffnCriterion: 'magnitude', quiet: true, threads: 2 });
  const N = 16;
  const r = spawnSync(process.execPath, [BIN, 'generate', out, '--prompt', PROMPT, '--max-new-tokens', String(N), '--threads', '2', '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const cli = JSON.parse(r.stdout) as { prompt_ids: number[]; ids: number[]; text: string; stop: string };
  const tok = loadTokenizer(out);
  assert.deepEqual(cli.prompt_ids, [tok.streamStartId, ...tok.encode(PROMPT)]);
  assert.ok(cli.ids.length >= 1 && cli.ids.length <= N);
  assert.equal(cli.stop === 'eos', cli.ids.length < N);
  assert.ok(cli.ids.every((id) => id >= 0 && id < 20000));
  assert.equal(cli.text, tok.decode([...cli.prompt_ids, ...cli.ids]).slice(tok.decode(cli.prompt_ids).length));

  const prompt = Int32Array.from(cli.prompt_ids);
  const dec = await KvDecoder.open(out, { threads: 2, capacity: prompt.length + N });
  try {
    const kv = await dec.generate(prompt, cli.ids.length);
    assert.deepEqual([...kv.ids], cli.ids, 'KV decoder greedy ids');
  } finally {
    await dec.close();
  }
  const engine = await Engine.open(out, { threads: 2 });
  try {
    const full = Int32Array.from([...cli.prompt_ids, ...cli.ids]);
    const logits = (await engine.forward([full], { logits: true })).logits![0]!;
    const V = engine.spec.vocabSize;
    for (let s = 0; s < cli.ids.length; s++) {
      const row = logits.subarray((prompt.length - 1 + s) * V, (prompt.length + s) * V);
      let best = 0;
      for (let i = 1; i < V; i++) if (row[i]! > row[best]!) best = i;
      assert.equal(best, cli.ids[s], `step ${s}: Engine.forward argmax ${best}, generate ${cli.ids[s]}`);
    }
  } finally {
    await engine.close();
  }

  // In-process, streamed: the pieces written add up to the text, and the same ids come out.
  const pieces: string[] = [];
  const again = await generateText(out, PROMPT, { maxNew: N, threads: 2, write: (s) => pieces.push(s) });
  assert.deepEqual(again.ids, cli.ids);
  assert.equal(pieces.join(''), again.text);
  assert.ok(pieces.length > 1, 'streamed in more than one piece');
});

test('sampling: seeded, inside the top-p nucleus, temperature sharpens; an EOS id stops generation', async () => {
  // p ∝ exp(logit): 0.6, 0.3, 0.1 (and a negligible fourth).
  const logits = Float32Array.from([Math.log(0.6), Math.log(0.3), Math.log(0.1), -60]);
  const draw = (o: Parameters<typeof picker>[0], n = 3000) => {
    const pick = picker(o);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < n; i++) counts[pick(logits)]!++;
    return counts;
  };
  assert.deepEqual(draw({ temperature: 1, topP: 0.5, seed: 3 }), [3000, 0, 0, 0], 'p=0.5: the top token alone holds it');
  const two = draw({ temperature: 1, topP: 0.85, seed: 3 });
  assert.equal(two[2]! + two[3]!, 0, 'p=0.85: the top two only');
  assert.ok(Math.abs(two[0]! / 3000 - 2 / 3) < 0.04, `renormalised 0.6/0.9: ${two}`);
  const all = draw({ temperature: 1, seed: 5 });
  assert.ok(Math.abs(all[0]! / 3000 - 0.6) < 0.04 && Math.abs(all[2]! / 3000 - 0.1) < 0.03, `p=1: ${all}`);
  const cold = draw({ temperature: 0.25, seed: 5 });
  assert.ok(cold[0]! / 3000 > 0.9, `T=0.25 concentrates on the top token: ${cold}`);
  assert.deepEqual(draw({ temperature: 1, seed: 9 }), draw({ temperature: 1, seed: 9 }), 'same seed, same draws');
  assert.notDeepEqual(draw({ temperature: 1, seed: 9 }, 50), draw({ temperature: 1, seed: 10 }, 50));
  assert.throws(() => picker({ topP: 0.9 }), /--temperature/);
  assert.throws(() => picker({ temperature: 1, topP: 0 }), /--top-p must be in/);

  const dir = join(shared('fixtures/hf-golden', 'llama3'), 'model');
  const dec = await KvDecoder.open(dir, { threads: 1, capacity: 16 });
  try {
    const prompt = Int32Array.of(1, 5, 9);
    const free = await streamGenerate(dec, prompt, { maxNew: 4, stopIds: [], pick: picker({}) });
    assert.equal(free.stop, 'max-new-tokens');
    assert.equal(free.ids.length, 4);
    const stopped = await streamGenerate(dec, prompt, { maxNew: 4, stopIds: [free.ids[1]!], pick: picker({}) });
    assert.equal(stopped.stop, 'eos');
    assert.deepEqual(stopped.ids, free.ids.slice(0, free.ids.indexOf(free.ids[1]!) + 1));
  } finally {
    await dec.close();
  }
});
