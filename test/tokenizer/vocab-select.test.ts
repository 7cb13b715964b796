import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { CompactError } from '../../src/errors.ts';
import { byteLevelAlphabet, mergeResult, parseTokenizerJson, type TokenizerFile } from '../../src/tokenizer/tokenizer-file.ts';
import { countTokens, FREQ_PRIOR_STRENGTH, mandatoryIds, selectKeptIds } from '../../src/tokenizer/vocab-select.ts';
import { pruneTokenizer } from '../../src/tokenizer/tokenizer-prune.ts';
import { serializeTokenizerJson } from '../../src/tokenizer/tokenizer-file.ts';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot, RustTokenizer, rustEncode } from './helpers.ts';
import { createTokenizer, type TextTokenizer } from '../../src/tokenizer/tokenize.ts';
import { realConfig, realJsonText, wikitext } from './helpers.ts';

let gpt2: TokenizerFile;
let mistral: TokenizerFile;
let js: TextTokenizer;
let counts: Uint32Array;

before(() => {
  gpt2 = parseTokenizerJson(realJsonText('gpt2'), 'gpt2/tokenizer.json');
  mistral = parseTokenizerJson(realJsonText('mistral'), 'mistral/tokenizer.json');
  js = createTokenizer(gpt2.json, realConfig('gpt2'));
  counts = countTokens(js, wikitext().slice(0, 40_000));
});

test('mandatory sets: added tokens + byte alphabet (+ unk and "▁" for byte fallback)', () => {
  const m = [...mandatoryIds(gpt2)];
  assert.equal(m.length, 257); // 256 byte characters + <|endoftext|>
  assert.ok(m.includes(50256));
  assert.deepEqual(new Set(byteLevelAlphabet().map((c) => gpt2.vocab[c])), new Set(m.slice(0, 256)));
  const mm = new Set(mandatoryIds(mistral));
  assert.equal(mm.size, 3 + 256 + 1); // <unk> <s> </s>, <0x00>…<0xFF>, "▁" (id 28705)
  assert.ok(mm.has(mistral.vocab['<0xFF>']!) && mm.has(28705) && mm.has(0));
});

test('V′ below the mandatory minimum is an error stating the minimum', () => {
  assert.throws(() => selectKeptIds(gpt2, { policy: 'id', vocabSize: 256 }), (e: unknown) => {
    assert.ok(e instanceof CompactError && e.message.startsWith('gpt2/tokenizer.json: ') && /minimum of 257\b/.test(e.message), String(e));
    return true;
  });
  assert.equal(selectKeptIds(gpt2, { policy: 'id', vocabSize: 257 }).length, 257);
});

test('modelRows: padding rows are never kept; tokenizer ids beyond the rows are an error', () => {
  const kept = selectKeptIds(gpt2, { policy: 'id', vocabSize: 60_000 }, { modelRows: 50_304 });
  assert.equal(kept.length, 50_257);
  assert.equal(kept[kept.length - 1], 50_256);
  assert.throws(() => selectKeptIds(gpt2, { policy: 'id', vocabSize: 1000 }, { modelRows: 50_000 }), /gpt2\/tokenizer\.json: token id 50256 .* 50000 rows/);
});

test('id policy: byte-level keeps exactly the lowest ids (merge order)', () => {
  const kept = selectKeptIds(gpt2, { policy: 'id', vocabSize: 5000 });
  assert.equal(kept.length, 5000);
  assert.deepEqual([...kept.slice(0, 4999)], Array.from({ length: 4999 }, (_, i) => i));
  assert.equal(kept[4999], 50256);
});

test('id policy on SentencePiece BPE pulls in the characters its merges need', () => {
  // Mistral numbers single characters last (e.g. "e" is 28,706), so plain ids < V′ would keep
  // "▁the" without "t", "h", "e". With the merge closure every kept merged token is derivable.
  const kept = new Set(selectKeptIds(mistral, { policy: 'id', vocabSize: 8000 }));
  assert.equal(kept.size, 8000);
  for (const c of ['t', 'h', 'e', '▁t', 'he', '▁the']) assert.ok(kept.has(mistral.vocab[c]!), c);
  const plain = new Set(selectKeptIds(mistral, { policy: 'id', vocabSize: 8000, mergeClosure: false }));
  assert.ok(!plain.has(mistral.vocab.e!));
});

test('freq policy: the most frequent tokens win, ties by lower id; mandatory always kept', () => {
  const budget = 1500;
  const plain = selectKeptIds(gpt2, { policy: 'freq', vocabSize: budget, counts, priorStrength: 0, mergeClosure: false });
  assert.equal(plain.length, budget);
  const set = new Set(plain);
  for (const id of mandatoryIds(gpt2)) assert.ok(set.has(id));
  // Exactly the top (budget − 257) non-mandatory ids by (count desc, id asc).
  const mand = new Set(mandatoryIds(gpt2));
  const order = [...Array(gpt2.size).keys()].filter((id) => !mand.has(id)).sort((a, b) => counts[b]! - counts[a]! || a - b);
  assert.deepEqual([...plain].filter((id) => !mand.has(id)), order.slice(0, budget - 257).sort((a, b) => a - b));
  // Map counts behave like array counts.
  const asMap = new Map([...counts.entries()].filter(([, c]) => c > 0));
  assert.deepEqual(selectKeptIds(gpt2, { policy: 'freq', vocabSize: budget, counts: asMap, priorStrength: 0, mergeClosure: false }), plain);
});

test('freq policy with merge closure: every kept token is derivable from kept pieces', () => {
  const kept = selectKeptIds(gpt2, { policy: 'freq', vocabSize: 1500, counts });
  assert.equal(kept.length, 1500);
  const set = new Set(kept);
  // The most frequent token is kept, and so is each token's first derivation.
  let top = 0;
  for (let i = 1; i < counts.length; i++) if (counts[i]! > counts[top]!) top = i;
  assert.ok(set.has(top));
  const derivable = new Set(mandatoryIds(gpt2));
  for (const [a, b] of gpt2.merges) {
    const r = gpt2.vocab[mergeResult(a, b, '')]!;
    if (set.has(r) && derivable.has(gpt2.vocab[a]!) && derivable.has(gpt2.vocab[b]!)) derivable.add(r);
  }
  assert.equal(derivable.size, kept.length, 'all kept tokens reachable through kept merges');
});

test('countTokens counts ids of the encoding', () => {
  const c = countTokens(js, 'the the the cat');
  assert.equal(c[js.tokenToId('the')!], 1);
  assert.equal(c[js.tokenToId('Ġthe')!], 2);
  assert.equal(c.reduce((s, x) => s + x, 0), 4);
});

test('freq policy smoothed with the merge-order prior: a → ∞ is the id policy, a = 0 raw counts', () => {
  const id = selectKeptIds(gpt2, { policy: 'id', vocabSize: 3000 });
  assert.deepEqual(selectKeptIds(gpt2, { policy: 'freq', vocabSize: 3000, counts, priorStrength: 1e12 }), id);
  const raw = selectKeptIds(gpt2, { policy: 'freq', vocabSize: 3000, counts, priorStrength: 0 });
  const smoothed = selectKeptIds(gpt2, { policy: 'freq', vocabSize: 3000, counts });
  const overlap = (a: Int32Array, b: Int32Array) => { const s = new Set(a); return b.filter((x) => s.has(x)).length; };
  // In between: closer to merge order than raw counts are, yet not merge order.
  assert.ok(overlap(smoothed, id) > overlap(raw, id), `${overlap(smoothed, id)} vs ${overlap(raw, id)}`);
  assert.notDeepEqual(smoothed, id);
  assert.throws(() => selectKeptIds(gpt2, { policy: 'freq', vocabSize: 3000, counts, priorStrength: -1 }), /prior strength/);
});

test('freq policy (default prior) at the same V′: as few tokens as merge order on another genre, fewer than raw counts (Rust tokenizer)', async () => {
  // Counts from 40,000 characters of WikiText-2; the text is political speech (data/sotu-2001-2021.txt).
  const speech = readFileSync(join(repoRoot, 'data/sotu-2001-2021.txt'), 'utf8').slice(0, 20_000);
  const tokens = async (kept: Int32Array) => {
    const rust = RustTokenizer.fromString(serializeTokenizerJson(pruneTokenizer(gpt2, kept).json));
    const ids = await rustEncode(rust, speech);
    assert.equal(await rust.decode(ids, false), speech);
    return ids.length;
  };
  const V = 8000;
  const id = await tokens(selectKeptIds(gpt2, { policy: 'id', vocabSize: V }));
  const raw = await tokens(selectKeptIds(gpt2, { policy: 'freq', vocabSize: V, counts, priorStrength: 0 }));
  const smoothed = await tokens(selectKeptIds(gpt2, { policy: 'freq', vocabSize: V, counts, priorStrength: FREQ_PRIOR_STRENGTH }));
  assert.ok(raw > id * 1.01, `raw counts ${raw} vs id ${id}: the case the prior exists for`);
  assert.ok(smoothed < raw, `${smoothed} vs raw ${raw}`);
  assert.ok(smoothed <= id * 1.003, `${smoothed} vs id ${id}`);
});
