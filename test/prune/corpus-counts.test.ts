import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { corpusCounts } from '../../src/prune/corpus-counts.ts';
import { calibrationData } from '../../src/prune/calibrate.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenize.ts';
import { countTokens } from '../../src/tokenizer/vocab-select.ts';
import { shared } from '../helpers/paths.ts';

test('freq counts on the calibration text never see the planner\'s held-out tail', () => {
  const tt = loadTokenizer(shared('models/wiki-28m'));
  const text = readFileSync(shared('data/text/calib-wiki.txt'), 'utf8').slice(0, 40_000);
  const data = calibrationData(tt, text, { calibTokens: 4000, seqLen: 512, allowShort: false, holdout: 0.25, label: 'calib' });
  const full = countTokens(tt, text);
  const counts = corpusCounts(tt, text, text, data);
  // What is missing is exactly the held-out span of the stream ([start] + ids; tokens 3000…3999).
  const ids = tt.encode(text);
  const held = new Uint32Array(full.length);
  for (let p = data.fitTokens; p < data.fitTokens + data.heldoutTokens; p++) held[ids[p - 1]!]!++;
  let missing = 0;
  for (let id = 0; id < full.length; id++) {
    assert.equal(full[id]! - counts[id]!, held[id]!, `id ${id}`);
    missing += held[id]!;
  }
  assert.equal(missing, data.heldoutTokens);
  // The held-out text the planner scores, re-encoded, is all in that span: none of its tokens beyond
  // what the rest of the file has were counted.
  assert.ok(tt.encode(data.heldoutText!).length >= data.heldoutTokens - 2);
  // Another corpus, or no held-out tail: everything counts.
  assert.deepEqual(corpusCounts(tt, text, text.slice(1), data), full);
  const noHoldout = calibrationData(tt, text, { calibTokens: 4000, seqLen: 512, allowShort: false, holdout: 0, label: 'calib' });
  assert.deepEqual(corpusCounts(tt, text, text, noHoldout), full);
});
