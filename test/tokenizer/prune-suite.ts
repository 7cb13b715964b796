// The end-to-end check for one real tokenizer: prune with the id policy at 50%, 25% and 5% of the
// vocabulary, then require that the Rust library accepts the file, that Rust and JS both round-trip
// text exactly and agree on ids, that kept tokens and specials keep their strings, and that token
// counts grow as the vocabulary shrinks. Each real tokenizer gets its own test file (they run in
// parallel processes) and is parsed once; each ratio is pruned once.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { parseTokenizerJson, serializeTokenizerJson, type TokenizerFile } from '../../src/tokenizer/tokenizer-file.ts';
import { selectKeptIds } from '../../src/tokenizer/vocab-select.ts';
import { pruneTokenizer, type PrunedTokenizer } from '../../src/tokenizer/tokenizer-prune.ts';
import { remapSpecialIds } from '../../src/tokenizer/special-ids.ts';
import { createTokenizer } from '../../src/tokenizer/tokenize.ts';
import {
  MULTI_SCRIPT, RustTokenizer, firstDiff, realConfig, realJsonText, rustEncode, sameIds, wikitext, type RealName,
} from './helpers.ts';

const RATIOS = [0.5, 0.25, 0.05] as const;
/** The JS library runs at 0.1–1.5 MB/s; a prefix of WikiText bounds the suite's time. */
const JS_CHARS = 100_000;

export function realPruneSuite(name: RealName): void {
  describe(`pruning the real ${name} tokenizer (id policy)`, () => {
    let tf: TokenizerFile;
    let wiki: string;
    let jsText: string;
    const counts = new Map<number, number>();

    before(() => {
      tf = parseTokenizerJson(realJsonText(name), `${name}/tokenizer.json`);
      wiki = wikitext();
      jsText = wiki.slice(0, wiki.indexOf('\n', JS_CHARS) + 1);
    });

    for (const ratio of RATIOS) {
      test(`${ratio * 100}% of the vocabulary`, async (t) => {
        const vocabSize = Math.round(tf.size * ratio);
        const t0 = performance.now();
        const kept = selectKeptIds(tf, { policy: 'id', vocabSize });
        const pruned: PrunedTokenizer = pruneTokenizer(tf, kept);
        const text = serializeTokenizerJson(pruned.json);
        t.diagnostic(`select+prune+serialize ${(performance.now() - t0).toFixed(0)} ms; ${kept.length} tokens, ${(pruned.json.model as { merges: unknown[] }).merges.length} merges`);
        assert.equal(kept.length, vocabSize);
        assert.equal(pruned.newToOld.length, vocabSize);

        // The strict validator loads it and sees the dense vocabulary.
        const rust = RustTokenizer.fromString(text);
        assert.equal(rust.getVocabSize(true), vocabSize);

        // Kept tokens keep their strings under their new ids, in Rust's view too.
        for (let n = 0; n < pruned.newToOld.length; n++) {
          const s = tf.idToToken[pruned.newToOld[n]!]!;
          if (rust.idToToken(n) !== s) assert.fail(`new id ${n}: Rust says ${JSON.stringify(rust.idToToken(n))}, expected ${JSON.stringify(s)}`);
        }
        // Specials (all added tokens) keep their strings and get the new ids.
        for (const a of tf.addedTokens) {
          assert.equal(rust.tokenToId(a.content), pruned.oldToNew[a.id], `added token ${a.content}`);
        }

        // Rust: exact round trip of the whole WikiText test split and of other scripts.
        const ids = await rustEncode(rust, wiki);
        assert.ok(ids.every((id) => id < vocabSize));
        assert.equal(await rust.decode(ids, false), wiki);
        counts.set(ratio, ids.length);
        const multi = await rustEncode(rust, MULTI_SCRIPT);
        assert.equal(await rust.decode(multi, false), MULTI_SCRIPT);

        // JS: same ids as Rust, exact round trip.
        const config = remapSpecialIds(realConfig(name), pruned.oldToNew, 'tokenizer_config.json');
        const js = createTokenizer(pruned.json, config);
        assert.equal(js.vocabSize, vocabSize);
        const jsIds = js.encode(jsText);
        const rustPrefix = await rustEncode(rust, jsText);
        assert.ok(sameIds(jsIds, rustPrefix), `JS and Rust differ at token ${firstDiff(jsIds, rustPrefix)}`);
        assert.equal(js.decode(jsIds), jsText);
        const jsMulti = js.encode(MULTI_SCRIPT);
        assert.ok(sameIds(jsMulti, multi), `JS and Rust differ on the multi-script sample at ${firstDiff(jsMulti, multi)}`);
        assert.equal(js.decode(jsMulti), MULTI_SCRIPT);
        if (js.bosId !== null) assert.equal(js.idToToken(js.bosId), tf.idToToken[pruned.newToOld[js.bosId]!]);
      });
    }

    test('token counts grow as the vocabulary shrinks', (t) => {
      const c = RATIOS.map((r) => counts.get(r));
      t.diagnostic(`WikiText tokens at 50/25/5%: ${c.join(' / ')}`);
      assert.ok(c.every((x) => x !== undefined), 'earlier tests failed');
      const [half, quarter, twentieth] = c as [number, number, number];
      assert.ok(half <= quarter && quarter <= twentieth);
      assert.ok(half < twentieth);
    });
  });
}
