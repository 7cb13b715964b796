import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompactError } from '../../src/errors.ts';
import { remapSpecialIds } from '../../src/tokenizer/special-ids.ts';

// Old ids 0..9; ids 3, 4 and 7 were removed: 0→0 1→1 2→2 5→3 6→4 8→5 9→6.
const oldToNew = Int32Array.from([0, 1, 2, -1, -1, 3, 4, -1, 5, 6]);

test('config.json: *_token_id keys at any level, ints, arrays and nulls; key order kept; input untouched', () => {
  const config = {
    architectures: ['Gemma3ForConditionalGeneration'],
    bos_token_id: 2,
    eos_token_id: [1, 9],
    pad_token_id: null,
    image_token_index: 8,
    text_config: { bos_token_id: 2, eos_token_id: 6, vocab_size: 10, hidden_size: 64 },
    vocab_size: 10,
  };
  const copy = structuredClone(config);
  const out = remapSpecialIds(config, oldToNew, 'config.json');
  assert.deepEqual(config, copy, 'input not mutated');
  assert.deepEqual(out, {
    architectures: ['Gemma3ForConditionalGeneration'],
    bos_token_id: 2,
    eos_token_id: [1, 6],
    pad_token_id: null,
    image_token_index: 5,
    text_config: { bos_token_id: 2, eos_token_id: 4, vocab_size: 10, hidden_size: 64 },
    vocab_size: 10,
  });
  assert.deepEqual(Object.keys(out), Object.keys(config));
});

test('generation_config.json: ids remapped, suppressed/bad words referring to removed tokens dropped', () => {
  const gen = { bos_token_id: 0, eos_token_id: [1, 8], decoder_start_token_id: 5, suppress_tokens: [3, 9], bad_words_ids: [[4, 5], [6]], do_sample: true };
  assert.deepEqual(remapSpecialIds(gen, oldToNew, 'generation_config.json'), {
    bos_token_id: 0, eos_token_id: [1, 5], decoder_start_token_id: 3, suppress_tokens: [6], bad_words_ids: [[4]], do_sample: true,
  });
});

test('tokenizer_config.json: added_tokens_decoder re-keyed by new id, in new-id order', () => {
  const tc = {
    add_bos_token: true,
    added_tokens_decoder: {
      '0': { content: '<pad>', special: true },
      '9': { content: '<image>', special: true },
      '5': { content: '<mask>', special: false },
    },
    bos_token: '<bos>',
  };
  const out = remapSpecialIds(tc, oldToNew, 'tokenizer_config.json');
  assert.deepEqual(Object.keys(out), ['add_bos_token', 'added_tokens_decoder', 'bos_token']);
  assert.deepEqual(Object.entries(out.added_tokens_decoder), [
    ['0', { content: '<pad>', special: true }],
    ['3', { content: '<mask>', special: false }],
    ['6', { content: '<image>', special: true }],
  ]);
});

test('a removed special id is a one-line error naming the file and the key', () => {
  const check = (obj: unknown, file: string, key: string) => assert.throws(() => remapSpecialIds(obj, oldToNew, file), (e: unknown) => {
    assert.ok(e instanceof CompactError);
    assert.ok(!e.message.includes('\n'));
    assert.ok(e.message.startsWith(`${file}: `), e.message);
    assert.ok(e.message.includes(key), e.message);
    return true;
  });
  check({ eos_token_id: 7 }, 'config.json', 'eos_token_id');
  check({ text_config: { pad_token_id: 4 } }, 'config.json', 'text_config.pad_token_id');
  check({ eos_token_id: [1, 3] }, 'generation_config.json', 'eos_token_id[1]');
  check({ bos_token_id: 50 }, 'config.json', 'bos_token_id');
  check({ added_tokens_decoder: { '7': { content: '<x>' } } }, 'tokenizer_config.json', 'added_tokens_decoder["7"]');
});
