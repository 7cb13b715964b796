/**
 * Fuzzes config.json reading (readModelConfig: json-text.ts's depth-guarded parse, then
 * resolveSpec) with the 8 real configs in ../shared — legacy and transformers-v5 keys, 6
 * families — damaged at the byte and structure level. Held: a one-line CompactError, or a spec
 * whose dimensions are positive integers and whose per-layer list matches the layer count.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { readModelConfig } from '../../src/families/model-config.ts';
import type { ModelSpec } from '../../src/families/types.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { GOLDEN_CASES, shared } from '../helpers/paths.ts';
import { applyByteOps, applyTreeOps, byteOps, NEST_DEPTHS, treeOps } from './mutators.ts';
import { describe, fuzzOptions, parseOrRefuse, Tally } from './fuzz-helpers.ts';

const TEXTS = [shared('models', 'wiki-28m', 'config.json'), ...GOLDEN_CASES.map((c) => shared('fixtures', 'hf-golden', c, 'model', 'config.json'))].map(
  (f) => readFileSync(f, 'utf8'),
);
const DOCS = TEXTS.map((t) => JSON.parse(t) as unknown);
const dir = makeTmpDir('fuzz-config');
mkdirSync(dir, { recursive: true });
const which = fc.integer({ min: 0, max: TEXTS.length - 1 });

function checkSpec(s: ModelSpec): void {
  for (const k of ['hidden', 'layers', 'heads', 'kvHeads', 'headDim', 'intermediate', 'vocabSize', 'maxPositions'] as const) {
    assert.ok(Number.isSafeInteger(s[k]) && s[k] >= 1, `${k} = ${s[k]}`);
  }
  assert.equal(s.heads % s.kvHeads, 0);
  assert.equal(s.layerTypes.length, s.layers);
  assert.ok(s.rope.full.theta > 0 && s.rope.sliding.theta > 0);
}

async function readConfig(tally: Tally, text: string | Uint8Array, what: string): Promise<void> {
  writeFileSync(path.join(dir, 'config.json'), text);
  const cfg = await parseOrRefuse(tally, what, () => readModelConfig(dir));
  if (cfg) checkSpec(cfg.spec);
}

test('the real configs resolve', async () => {
  const tally = new Tally();
  for (const t of TEXTS) await readConfig(tally, t, 'unmodified config');
  assert.equal(tally.ok, TEXTS.length);
});

test('config.json with damaged structure: dims, rope, layer types, extreme numbers, duplicates, nesting', async (t) => {
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(which, treeOps(), async (i, ops) => {
      const text = applyTreeOps(DOCS[i], ops);
      await readConfig(tally, text, `config ${describe(text)}`);
    }),
    fuzzOptions(1500),
  );
  t.diagnostic(`config.json, structure-level: ${tally.summary()}`);
});

test('config.json bytes damaged: flips, truncations, insertions', async (t) => {
  const tally = new Tally();
  const bytes = TEXTS.map((x) => new TextEncoder().encode(x));
  await fc.assert(
    fc.asyncProperty(which.chain((i) => fc.tuple(fc.constant(i), byteOps(bytes[i]!.length))), async ([i, ops]) => {
      await readConfig(tally, applyByteOps(bytes[i]!, ops), `config ${i} with ${JSON.stringify(ops)}`);
    }),
    fuzzOptions(1000),
  );
  t.diagnostic(`config.json, byte-level: ${tally.summary()}`);
});

test('config.json nested past the depth bound is refused by name, not by stack overflow', async () => {
  const tally = new Tally();
  for (const depth of NEST_DEPTHS) {
    await readConfig(tally, `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`, `nest ${depth}`);
  }
  assert.equal(tally.refused, NEST_DEPTHS.length);
  assert.ok([...tally.messages.keys()].some((m) => /nested deeper than N levels/.test(m)));
});
