/**
 * Issue 14, item 8: calibration text was cut only at newlines, so a 20 MB single-line file went
 * to the tokenizer whole (153 s, 1.3 GB for 2,048 tokens). The work is bounded now: the test
 * counts the characters handed to the tokenizer (no wall-clock figure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { calibrationData } from '../../src/prune/calibrate.ts';
import { createTokenizer } from '../../src/tokenizer/tokenize.ts';
import { parseJsonGuarded } from '../../src/tokenizer/tokenizer-file.ts';
import { shared } from '../helpers/paths.ts';

const json = parseJsonGuarded(readFileSync(shared('models/wiki-28m/tokenizer.json'), 'utf8'), 'tokenizer.json') as Record<string, unknown>;
const paragraph = readFileSync(shared('data/text/calib-wiki.txt'), 'utf8').slice(0, 200_000).replace(/\s+/g, ' ');

function counted(): { tok: ReturnType<typeof createTokenizer>; chars: () => number; calls: () => number } {
  let chars = 0;
  let calls = 0;
  const tok = createTokenizer(json, {}, { modelConfig: { bos_token_id: 0 }, onEncode: (n) => ((chars += n), calls++) });
  return { tok, chars: () => chars, calls: () => calls };
}

const MB20 = 20 * 1024 * 1024;

test('a 20 MB single-line text: 2,048 calibration tokens cost a few chunks, not the file', () => {
  const line = paragraph.repeat(Math.ceil(MB20 / paragraph.length)).slice(0, MB20);
  assert.ok(!line.includes('\n'));
  const c = counted();
  const data = calibrationData(c.tok, line, { calibTokens: 2048, seqLen: 256, allowShort: false, holdout: 0, label: 'one-line.txt' });
  assert.equal(data.fitTokens, 2048);
  assert.ok(c.chars() <= 4 * 65_536, `${c.chars()} characters tokenized for 2,048 tokens`);
});

test('cut before a word: on a byte-level BPE the prefix equals whole-text encoding', () => {
  const line = paragraph.slice(0, 60_000);
  const c = counted();
  const prefix = c.tok.encodePrefix(line, 3000);
  assert.ok(c.calls() > 1, 'the line was cut');
  const whole = counted().tok.encode(line);
  assert.ok(prefix.length >= 3000 && prefix.length < whole.length);
  assert.deepEqual([...prefix], [...whole.subarray(0, prefix.length)]);
});

test('no spaces and no newlines (one 20 MB "word"): still bounded, on character boundaries', () => {
  const c = counted();
  const emoji = '😀'.repeat(MB20 / 4);
  const ids = c.tok.encodePrefix(emoji, 2048);
  assert.ok(ids.length >= 2048);
  assert.ok(c.chars() <= 4 * 65_536, `${c.chars()} characters tokenized`);
  // No surrogate pair was split: the ids decode back to whole emoji.
  assert.match(c.tok.decode(ids), /^(😀)+$/u);
});
