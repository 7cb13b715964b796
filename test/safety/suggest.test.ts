import { test } from 'node:test';
import assert from 'node:assert/strict';
import { editDistance, nearest } from '../../src/suggest.ts';

test('edit distance: insertions, deletions, substitutions, and a swapped pair as one edit', () => {
  assert.equal(editDistance('ratio', 'ratio'), 0);
  assert.equal(editDistance('ratoi', 'ratio'), 1);
  assert.equal(editDistance('rati', 'ratio'), 1);
  assert.equal(editDistance('ffn', 'vocab'), 5);
  assert.equal(editDistance('', 'abc'), 3);
});

test('nearest: typos, abbreviations and mistyped suffixes; nothing for unrelated names', () => {
  const flags = ['ratio', 'vocab', 'vocab-ratio', 'vocab-policy', 'ffn', 'ffn-ratio', 'calib', 'calib-tokens', 'force'];
  assert.equal(nearest('ratoi', flags), 'ratio');
  assert.equal(nearest('vocab-ration', flags), 'vocab-ratio');
  assert.equal(nearest('calib-tok', flags), 'calib-tokens');
  assert.equal(nearest('vocab-sise', flags), 'vocab');
  assert.equal(nearest('forse', flags), 'force');
  assert.equal(nearest('temperature', flags), null);
  assert.equal(nearest('prnue', ['prune', 'eval', 'export', 'inspect', 'experiments']), 'prune');
  assert.equal(nearest('exprot', ['prune', 'eval', 'export', 'inspect', 'experiments']), 'export');
});
