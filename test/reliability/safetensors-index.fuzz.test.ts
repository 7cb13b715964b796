/**
 * Fuzzes model.safetensors.index.json: wiki-28m's real index, damaged at the byte and structure
 * level, in a folder whose shards are links to the real ones. A valid safetensors file sits in
 * the parent folder as bait: an index that could name "../bait.safetensors" (or an absolute
 * path) and be followed would read outside the model folder. Held: every index opens with all
 * tensors in the folder's own shards and inside them, or is refused with a one-line CompactError.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { INDEX_FILE, openCheckpoint } from '../../src/io/safetensors.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { shared } from '../helpers/paths.ts';
import { applyByteOps, applyTreeOps, byteOps, treeOps } from './mutators.ts';
import { describe, fuzzOptions, parseOrRefuse, Tally } from './fuzz-helpers.ts';
import { WIKI_SHARDS } from './real-files.ts';

const parent = makeTmpDir('fuzz-index');
const dir = path.join(parent, 'model');
mkdirSync(dir);
for (const f of WIKI_SHARDS) symlinkSync(shared('models', 'wiki-28m', f), path.join(dir, f));
copyFileSync(shared('fixtures', 'hf-golden', 'llama3', 'model', 'model.safetensors'), path.join(parent, 'bait.safetensors'));
const INDEX_TEXT = readFileSync(shared('models', 'wiki-28m', INDEX_FILE), 'utf8');
const INDEX = JSON.parse(INDEX_TEXT) as unknown;
const sizes = new Map(WIKI_SHARDS.map((f) => [path.join(dir, f), statSync(path.join(dir, f)).size]));

async function openIndex(tally: Tally, text: string | Uint8Array, what: string): Promise<void> {
  writeFileSync(path.join(dir, INDEX_FILE), text);
  const ckpt = await parseOrRefuse(tally, what, () => openCheckpoint(dir));
  if (!ckpt) return;
  try {
    for (const name of ckpt.names()) {
      const t = ckpt.info(name);
      const size = sizes.get(t.file);
      assert.ok(size !== undefined, `${what}: ${name} is read from ${t.file}, not one of the folder's shards`);
      assert.ok(t.offset + t.byteLength <= size, `${what}: ${name} ends past its shard`);
      // Small tensors are read whole; of big ones only the last row (the reads would dominate the time).
      if (t.byteLength <= 1 << 16) assert.equal((await ckpt.readBytes(name)).length, t.byteLength);
      else if (t.shape.length === 2) assert.equal((await ckpt.readRowsBytes(name, [t.shape[0]! - 1])).length, t.byteLength / t.shape[0]!);
    }
  } finally {
    await ckpt.close();
  }
}

test('the real index opens', async () => {
  const tally = new Tally();
  await openIndex(tally, INDEX_TEXT, 'unmodified index');
  assert.equal(tally.ok, 1);
});

test('index JSON with damaged structure: shard names, traversal, types, duplicates, nesting', async (t) => {
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(treeOps(), async (ops) => {
      const text = applyTreeOps(INDEX, ops);
      await openIndex(tally, text, `index ${describe(text)}`);
    }),
    fuzzOptions(400),
  );
  t.diagnostic(`index, structure-level: ${tally.summary()}`);
});

test('index bytes damaged: flips, truncations, insertions', async (t) => {
  const tally = new Tally();
  const bytes = new TextEncoder().encode(INDEX_TEXT);
  await fc.assert(
    fc.asyncProperty(byteOps(bytes.length), async (ops) => {
      await openIndex(tally, applyByteOps(bytes, ops), `index with ${JSON.stringify(ops)}`);
    }),
    fuzzOptions(300),
  );
  t.diagnostic(`index, byte-level: ${tally.summary()}`);
});
