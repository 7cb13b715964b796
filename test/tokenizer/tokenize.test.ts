import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { chunkPlan, createTokenizer, loadTokenizer } from '../../src/tokenizer/tokenize.ts';
import type { JsonObject } from '../../src/tokenizer/tokenizer-file.ts';
import { npmTestOnly } from '../helpers/quick.ts';
import { MULTI_SCRIPT, REAL, firstDiff, realConfig, realDir, realJsonText, sameIds, sharedDir, wikitext, type RealName } from './helpers.ts';

// Chunked encoding must equal whole-text encoding. A few tens of KB with many cut points are enough:
// every line of WikiText is a candidate cut, and the multi-script sample adds code, tabs and blank lines.
const TEXT_CHARS = 30_000;

for (const name of Object.keys(REAL) as RealName[]) {
  // Gemma 3's file (262,144 pieces, 514,906 merges) costs as much as the other four together.
  test(`${name}: chunked encoding equals whole-text encoding; exact round trip`, { skip: name === 'gemma3' && npmTestOnly('the 262k-piece Gemma 3 file') }, () => {
    const json = JSON.parse(realJsonText(name)) as JsonObject;
    const plan = chunkPlan(json);
    assert.equal(plan.splittable, true, 'these tokenizers are analysed as safe to cut');
    assert.equal(plan.continuationJson !== null, name === 'mistral', 'only Mistral prepends "▁"');
    const wiki = wikitext();
    const text = wiki.slice(0, wiki.indexOf('\n', TEXT_CHARS) + 1) + MULTI_SCRIPT + '\n' + MULTI_SCRIPT;
    const chunked = createTokenizer(json, realConfig(name), { chunkChars: 500 });
    const whole = createTokenizer(json, realConfig(name), { chunkChars: Number.MAX_SAFE_INTEGER });
    const a = chunked.encode(text);
    const b = whole.encode(text);
    assert.ok(sameIds(a, b), `differ at token ${firstDiff(a, b)}`);
    assert.equal(chunked.decode(a), text);
    assert.equal(chunked.decode([]), '');
    // encodePrefix: a true prefix of the whole encoding, at least as long as asked.
    for (const want of [1, 777, 4000, b.length, b.length + 1]) {
      const p = chunked.encodePrefix(text, want);
      assert.ok(p.length >= Math.min(want, b.length), `${want}: got ${p.length}`);
      assert.ok(sameIds(p, b.subarray(0, p.length)), `prefix for ${want} differs at token ${firstDiff(p, b.subarray(0, p.length))}`);
    }
    // …and it stops early where the text can be cut (WikiText's lines end in " \n", which GPT-2's
    // pre-tokenizer never lets us cut at, so plain lines are used here).
    const lines = Array.from({ length: 400 }, (_, i) => `Line ${i} of the river text.`).join('\n');
    const few = chunked.encodePrefix(lines, 10);
    const all = whole.encode(lines);
    assert.ok(few.length >= 10 && few.length < all.length / 4, `encoded ${few.length} of ${all.length} tokens for 10`);
    assert.ok(sameIds(few, all.subarray(0, few.length)));
  });
}

test('reference ids and stream start tokens', () => {
  const expect: Record<RealName, { hello: number[]; start: number }> = {
    llama3: { hello: [9906, 1917], start: 128000 },
    qwen3: { hello: [9707, 1879], start: 151645 }, // no BOS in tokenizer_config: EOS (<|im_end|>)
    gpt2: { hello: [15496, 995], start: 50256 },
    mistral: { hello: [22557, 1526], start: 1 },
    gemma3: { hello: [9259, 1902], start: 2 },
  };
  for (const name of ['llama3', 'qwen3', 'gpt2', 'mistral'] as const) {
    const t = loadTokenizer(realDir(name));
    assert.deepEqual([...t.encode('Hello world')], expect[name].hello, name);
    assert.equal(t.streamStartId, expect[name].start, name);
  }
  // A model config's bos_token_id counts as a BOS (Qwen's configs name <|endoftext|>).
  const qwen = createTokenizer(JSON.parse(realJsonText('qwen3')), realConfig('qwen3'), { modelConfig: { bos_token_id: 151643 } });
  assert.equal(qwen.streamStartId, 151643);
  assert.equal(qwen.eosId, 151645);
  // Without tokenizer_config.json, the post-processor template's first special token is the BOS.
  const mistral = createTokenizer(JSON.parse(realJsonText('mistral')));
  assert.equal(mistral.bosId, 1);
});

test('loadTokenizer on the shared wiki-28m model (GPT-2 tokenizer, 50,304 embedding rows)', () => {
  const t = loadTokenizer(join(sharedDir, 'models', 'wiki-28m'));
  assert.equal(t.vocabSize, 50257);
  assert.equal(t.streamStartId, 50256);
  // clean_up_tokenization_spaces is true in its config: decode must still be exact.
  const s = 'Hello , world . It \'s " quoted " ; ok ?';
  assert.equal(t.decode(t.encode(s)), s);
});

test('chunking survives adversarial whitespace (deterministic fuzz, a cut at every safe point)', () => {
  const alphabet = ['a', 'b', ' ', ' ', '\n', '\n', '\r', '\t', '.', '1', '▁', 'é', '😀', "'s"];
  let seed = 12345;
  const rand = (n: number): number => { seed = (seed * 1103515245 + 12345) >>> 0; return (seed >>> 8) % n; };
  for (const name of ['gpt2', 'llama3', 'mistral'] as const) {
    const json = JSON.parse(realJsonText(name)) as JsonObject;
    const chunked = createTokenizer(json, realConfig(name), { chunkChars: 1 });
    const whole = createTokenizer(json, realConfig(name), { chunkChars: Number.MAX_SAFE_INTEGER });
    for (let k = 0; k < 20; k++) {
      let text = '';
      for (let i = 0; i < 400; i++) text += alphabet[rand(alphabet.length)];
      const a = chunked.encode(text);
      const b = whole.encode(text);
      assert.ok(sameIds(a, b), `${name}: differ at token ${firstDiff(a, b)} for ${JSON.stringify(text)}`);
    }
  }
});
