/**
 * Fuzzes tokenizer.json reading with a small real tokenizer: GPT-2's, cut to its first 400 ids
 * (byte alphabet + earliest merges; real-files.ts), plus a byte_fallback variant of it. Damaged at
 * the byte and structure level (model type, vocab ids, merges in both encodings, added tokens,
 * pre-tokenizer/decoder pipelines, duplicates, deep nesting).
 *
 * A tokenizer that parses is then put through what `compact prune` does with it (select kept ids,
 * cut, serialize) and the result parsed again, because a file we accept must not crash the steps
 * that trust the parse. Held: one-line CompactError, or a consistent parse whose pruned output
 * parses again.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseTokenizerJson, serializeTokenizerJson, type TokenizerFile } from '../../src/tokenizer/tokenizer-file.ts';
import { mandatoryIds, selectKeptIds } from '../../src/tokenizer/vocab-select.ts';
import { pruneTokenizer } from '../../src/tokenizer/tokenizer-prune.ts';
import { applyByteOps, applyTreeOps, byteOps, NEST_DEPTHS, treeOps } from './mutators.ts';
import { describe, fuzzOptions, parseOrRefuse, Tally } from './fuzz-helpers.ts';
import { smallGpt2Tokenizer } from './real-files.ts';

const BYTE_LEVEL = smallGpt2Tokenizer();
/** Same vocab as SentencePiece-style BPE would use it: byte_fallback on, no ByteLevel steps. */
const BYTE_FALLBACK = { ...BYTE_LEVEL, pre_tokenizer: null, decoder: { type: 'ByteFallback' }, model: { ...(BYTE_LEVEL.model as object), byte_fallback: true } };
const DOCS = [BYTE_LEVEL, BYTE_FALLBACK];
const TEXTS = DOCS.map((d) => serializeTokenizerJson(d));

/** Parse, then prune to `budget` of the ids by the id policy, serialize, and parse the result. */
function parseAndPrune(text: string, budget: number): TokenizerFile {
  const tok = parseTokenizerJson(text);
  for (const [s, id] of Object.entries(tok.vocab)) assert.equal(tok.idToToken[id], s, `vocab id ${id} not indexed`);
  for (const t of tok.addedTokens) assert.ok(t.id < tok.size);
  const min = mandatoryIds(tok).length;
  const vocabSize = min + (budget % Math.max(1, tok.size - min + 1));
  const kept = selectKeptIds(tok, { policy: 'id', vocabSize });
  const pruned = pruneTokenizer(tok, kept);
  assert.equal(pruned.newToOld.length, kept.length);
  const again = parseTokenizerJson(serializeTokenizerJson(pruned.json), 'pruned tokenizer.json');
  assert.equal(again.size, kept.length, 'pruned tokenizer is not dense');
  return tok;
}

test('the small real tokenizers parse and prune', () => {
  for (const t of TEXTS) assert.ok(parseAndPrune(t, 100).size > 256);
});

test('tokenizer.json with damaged structure: type, ids, merges, added tokens, pipelines, duplicates, nesting', async (t) => {
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 1 }), treeOps(), fc.nat(), async (i, ops, budget) => {
      const text = applyTreeOps(DOCS[i], ops);
      await parseOrRefuse(tally, `tokenizer ${describe(text)} budget ${budget}`, () => parseAndPrune(text, budget));
    }),
    fuzzOptions(1500),
  );
  t.diagnostic(`tokenizer.json, structure-level: ${tally.summary()}`);
});

test('tokenizer.json bytes damaged: flips, truncations, insertions', async (t) => {
  const tally = new Tally();
  const bytes = TEXTS.map((x) => new TextEncoder().encode(x));
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: 1 }).chain((i) => fc.tuple(fc.constant(i), byteOps(bytes[i]!.length))), fc.nat(), async ([i, ops], budget) => {
      const text = new TextDecoder().decode(applyByteOps(bytes[i]!, ops));
      await parseOrRefuse(tally, `tokenizer ${i} with ${JSON.stringify(ops)}`, () => parseAndPrune(text, budget));
    }),
    fuzzOptions(1000),
  );
  t.diagnostic(`tokenizer.json, byte-level: ${tally.summary()}`);
});

test('tokenizer.json nested past the depth bound is refused by name', async () => {
  const tally = new Tally();
  for (const depth of NEST_DEPTHS.filter((d) => d > 64)) {
    await parseOrRefuse(tally, `nest ${depth}`, () => parseTokenizerJson(`{"model":${'['.repeat(depth)}${']'.repeat(depth)}}`));
  }
  assert.equal(tally.ok, 0);
  assert.ok([...tally.messages.keys()].every((m) => /nested deeper than N levels/.test(m)), [...tally.messages.keys()].join('; '));
});
