/**
 * Determinism: the same input and flags give byte-identical output folders across thread
 * counts (run after run with the same flags: crash-kill.test.ts). compact-report.json is
 * compared without its `run` object (wall time, peak RSS, threads: figures of the run,
 * documented as such); every other file byte for byte.
 * Both runs write to the same --out path because the report records it.
 *
 * Why thread counts matter: the FFN channel ranking sums act² over tokens; if onnxruntime split
 * those sums differently per thread count, the last bits could change and flip near-ties (the
 * closest neighbours differ by ~1e-7 relative on wiki-28m). The second test checks the raw
 * scores themselves are bit-identical, so the selection cannot depend on threads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Engine } from '../../src/engine/runner.ts';
import { cutSequences, readCalibrationText } from '../../src/prune/calibration-text.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenize.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { shared } from '../helpers/paths.ts';
import { folderDigest, startPrune } from './prune-process.ts';

// Two runs with the very same flags are also compared by crash-kill.test.ts (its reference run
// and its final rerun), so here only the thread count changes.
test('--threads 2 and --threads 1 give byte-identical folders', async (t) => {
  const parent = makeTmpDir('determinism');
  const out = path.join(parent, 'out');
  const digests: Record<string, string>[] = [];
  const threads: unknown[] = [];
  for (const n of ['2', '1']) {
    const res = await startPrune(parent, ['--quiet', '--threads', n], null).exit;
    assert.equal(res.code, 0, res.stderr);
    digests.push(folderDigest(out));
    threads.push((JSON.parse(readFileSync(path.join(out, 'compact-report.json'), 'utf8')) as { run: { threads: unknown } }).run.threads);
    rmSync(out, { recursive: true });
  }
  assert.deepEqual(threads, [2, 1], 'the runs must really differ in threads');
  assert.deepEqual(digests[1], digests[0], '--threads 1 and --threads 2 differ');
  t.diagnostic(`files compared: ${Object.keys(digests[0]!).join(', ')}`);
});

test('act² channel scores are bit-identical with 1 and 3 intra-op threads', async () => {
  const model = shared('models', 'wiki-28m');
  const tt = loadTokenizer(model);
  const ids = tt.encode(readCalibrationText(shared('data', 'text', 'calib-wiki.txt')).slice(0, 40_000));
  const stream = Int32Array.from([tt.streamStartId, ...ids]);
  const seqs = cutSequences(stream, 256, 2048);
  const scores: Float64Array[][] = [];
  for (const threads of [1, 3]) {
    const engine = await Engine.open(model, { threads });
    try {
      scores.push((await engine.forward(seqs, { act2: true, lastLayer: 7 })).act2!);
    } finally {
      await engine.close();
    }
  }
  let differing = 0;
  for (let l = 0; l < scores[0]!.length; l++) {
    const a = scores[0]![l]!;
    const b = scores[1]![l]!;
    for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) differing++;
  }
  assert.equal(differing, 0, `${differing} of ${scores[0]!.length * scores[0]![0]!.length} channel scores differ between thread counts`);
});
