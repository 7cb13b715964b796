import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CompactError } from '../../src/errors.ts';
import {
  byteLevelAlphabet, parseTokenizerJson, readTokenizerFile, serializeTokenizerJson, tokenizerFromJson,
} from '../../src/tokenizer/tokenizer-file.ts';
import { pruneTokenizer } from '../../src/tokenizer/tokenizer-prune.ts';
import { RustTokenizer, realJsonText } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'compact-tokfile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Asserts a one-line CompactError whose message names `file` and matches `re`. */
function assertUserError(fn: () => unknown, file: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof CompactError, `expected CompactError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), 'one line');
    assert.ok(e.message.includes(file), `names ${file}: ${e.message}`);
    assert.match(e.message, re);
    return true;
  });
}

function writeTok(name: string, content: string): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

test('malformed JSON is a one-line error naming the file', () => {
  const p = writeTok('broken-tokenizer.json', '{"model": {"type": "BPE", "vocab": {"a": 0,}');
  assertUserError(() => readTokenizerFile(p), 'broken-tokenizer.json', /malformed JSON/);
});

test('a missing file is a one-line error naming it', () => {
  assertUserError(() => readTokenizerFile(join(dir, 'nope.json')), 'nope.json', /cannot read/);
});

test('unsupported model types are refused, listing what is supported', () => {
  const unigram = writeTok('unigram.json', JSON.stringify({ model: { type: 'Unigram', vocab: [['<unk>', 0], ['a', -1]] } }));
  assertUserError(() => readTokenizerFile(unigram), 'unigram.json', /"Unigram" is not supported \(supported: BPE .*byte-level.*byte_fallback/);
  const wp = writeTok('wordpiece.json', JSON.stringify({ model: { type: 'WordPiece', vocab: { '[UNK]': 0 } } }));
  assertUserError(() => readTokenizerFile(wp), 'wordpiece.json', /"WordPiece" is not supported/);
  assertUserError(() => tokenizerFromJson({ model: { type: 'WordLevel', vocab: {} } }, 'wl.json'), 'wl.json', /"WordLevel"/);
});

test('missing model.vocab, bad merges and plain BPE without byte fallback are refused', () => {
  assertUserError(() => parseTokenizerJson('{"model": {"type": "BPE", "merges": []}}', 'novocab.json'), 'novocab.json', /missing model\.vocab/);
  assertUserError(() => parseTokenizerJson('{"version": "1.0"}', 'nomodel.json'), 'nomodel.json', /missing "model"/);
  const base = { model: { type: 'BPE', byte_fallback: true, vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b c'] } };
  assertUserError(() => tokenizerFromJson(base, 'm.json'), 'm.json', /merges\[0\]/);
  const plain = { model: { type: 'BPE', vocab: { a: 0 }, merges: [] } };
  assertUserError(() => tokenizerFromJson(plain, 'plain.json'), 'plain.json', /cannot be pruned losslessly/);
});

test('deeply nested JSON is refused before any recursive walk', () => {
  const deep = '{"model": ' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
  assertUserError(() => parseTokenizerJson(deep, 'deep.json'), 'deep.json', /nested deeper than 64/);
  // Brackets inside strings do not count.
  const ok = parseTokenizerJson(JSON.stringify({ model: { type: 'BPE', byte_fallback: true, vocab: { ['['.repeat(200)]: 0 }, merges: [] } }));
  assert.equal(ok.size, 1);
});

test('flavours and merge encodings of real files are detected', () => {
  const gpt2 = parseTokenizerJson(realJsonText('gpt2'), 'gpt2.json');
  assert.equal(gpt2.flavour, 'byte-level');
  assert.equal(gpt2.mergeEncoding, 'string');
  assert.equal(gpt2.size, 50257);
  // The 256 byte characters are GPT-2's ids 0..255.
  const alphabet = byteLevelAlphabet();
  assert.deepEqual(alphabet.map((c) => gpt2.vocab[c]).sort((a, b) => a! - b!), Array.from({ length: 256 }, (_, i) => i));
  const mistral = parseTokenizerJson(realJsonText('mistral'), 'mistral.json');
  assert.equal(mistral.flavour, 'byte-fallback');
  assert.equal(mistral.unkToken, '<unk>');
  assert.equal(mistral.vocab['▁Hello'], 22557);
  const qwen = parseTokenizerJson(realJsonText('qwen3'), 'qwen3.json');
  assert.equal(qwen.flavour, 'byte-level');
  assert.equal(qwen.mergeEncoding, 'pair');
  assert.equal(qwen.size, 151669);
});

test('serialization reproduces real files byte for byte (vocab in id order, 2-space indent)', () => {
  for (const name of ['gpt2', 'mistral', 'llama3', 'qwen3'] as const) {
    const text = realJsonText(name);
    const tf = parseTokenizerJson(text, name);
    assert.ok(serializeTokenizerJson(tf.json) === text, `${name} re-serialized differs`);
  }
});

test('pruning keeps the merge encoding and splits "a b" on the single space', () => {
  // A byte_fallback toy with SentencePiece "▁" pieces (contain no ASCII space).
  const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
  const vocab: Record<string, number> = { '<unk>': 0 };
  for (const b of bytes) vocab[b] = Object.keys(vocab).length;
  for (const t of ['▁', 'a', 'b', '▁a', 'ab', '▁ab']) vocab[t] = Object.keys(vocab).length;
  const mk = (merges: unknown[]) => ({
    version: '1.0', added_tokens: [{ id: 0, content: '<unk>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null, pre_tokenizer: null, post_processor: null, decoder: { type: 'ByteFallback' },
    model: { type: 'BPE', unk_token: '<unk>', byte_fallback: true, vocab, merges },
  });
  const drop = new Set([vocab['ab']]);
  const kept = Object.values(vocab).filter((id) => !drop.has(id));
  const asString = pruneTokenizer(mk(['▁ a', 'a b', '▁a b']), kept).json.model as { merges: unknown[] };
  assert.deepEqual(asString.merges, ['▁ a', '▁a b']);
  const asPair = pruneTokenizer(mk([['▁', 'a'], ['a', 'b'], ['▁a', 'b']]), kept);
  assert.deepEqual((asPair.json.model as { merges: unknown[] }).merges, [['▁', 'a'], ['▁a', 'b']]);
  // Renumbered densely: "▁ab" moves down by one; the Rust loader accepts the file.
  assert.equal(asPair.oldToNew[vocab['▁ab']!], vocab['▁ab']! - 1);
  assert.equal(asPair.oldToNew[vocab['ab']!], -1);
  const rust = RustTokenizer.fromString(serializeTokenizerJson(asPair.json));
  assert.equal(rust.getVocabSize(true), kept.length);
});
