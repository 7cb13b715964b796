import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { openCheckpoint, type Checkpoint } from '../../src/io/safetensors.ts';
import { writeCheckpoint, type WriteEntry } from '../../src/io/safetensors-writer.ts';
import { toFloat32 } from '../../src/io/dtype.ts';
import { shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

const goldenRoot = shared('fixtures/hf-golden');
const GOLDEN = readdirSync(goldenRoot).filter((c) => statSync(path.join(goldenRoot, c, 'model')).isDirectory()).sort();

function entriesOf(ck: Checkpoint): WriteEntry[] {
  return ck.names().map((name) => {
    const { dtype, shape } = ck.info(name);
    return { name, dtype, shape, bytes: () => ck.readBytes(name) };
  });
}

/** Same names, dtypes, shapes and bytes for every tensor. */
async function assertSameTensors(a: Checkpoint, b: Checkpoint): Promise<void> {
  assert.deepEqual(b.names(), a.names());
  for (const name of a.names()) {
    const ia = a.info(name);
    const ib = b.info(name);
    assert.equal(ib.dtype, ia.dtype, name);
    assert.deepEqual(ib.shape, ia.shape, name);
    const [ba, bb] = await Promise.all([a.readBytes(name), b.readBytes(name)]);
    assert.ok(Buffer.from(ba).equals(Buffer.from(bb)), `bytes differ for ${name}`);
  }
}

test('every hf-golden checkpoint survives read → write → read byte for byte', async () => {
  assert.ok(GOLDEN.length >= 7, `expected the hf-golden cases in ${goldenRoot}`);
  for (const c of GOLDEN) {
    const src = await openCheckpoint(path.join(goldenRoot, c, 'model'));
    const out = makeTmpDir(`rt-${c}`);
    try {
      const { files } = await writeCheckpoint(out, entriesOf(src));
      assert.deepEqual(files, ['model.safetensors'], c);
      const back = await openCheckpoint(out);
      try {
        await assertSameTensors(src, back);
        assert.deepEqual(back.metadata, { format: 'pt' });
        // Single-dtype files come out exactly as transformers' save_pretrained wrote them.
        const theirs = readFileSync(path.join(goldenRoot, c, 'model', 'model.safetensors'));
        assert.ok(theirs.equals(readFileSync(path.join(out, 'model.safetensors'))), `${c}: file differs from the transformers original`);
      } finally {
        await back.close();
      }
    } finally {
      await src.close();
    }
  }
});

test('wiki-28m (3 bf16 shards) rewrites exactly, as one file and re-sharded at 20 MB', async () => {
  const src = await openCheckpoint(shared('models/wiki-28m'));
  try {
    const index = JSON.parse(readFileSync(shared('models/wiki-28m/model.safetensors.index.json'), 'utf8'));
    assert.equal(src.totalBytes(), index.metadata.total_size);
    assert.equal(src.info('model.embed_tokens.weight').dtype, 'BF16');
    assert.deepEqual(src.info('model.embed_tokens.weight').shape, [50304, 320]);

    const single = makeTmpDir('rt-wiki-single');
    assert.deepEqual((await writeCheckpoint(single, entriesOf(src))).files, ['model.safetensors']);
    const one = await openCheckpoint(single);
    await assertSameTensors(src, one);
    await one.close();

    const sharded = makeTmpDir('rt-wiki-sharded');
    const { files } = await writeCheckpoint(sharded, entriesOf(src), { maxShardBytes: 20e6 });
    const shards = files.filter((f) => f.endsWith('.safetensors'));
    assert.ok(shards.length >= 3, `expected several shards, got ${files.join(', ')}`);
    assert.equal(files.at(-1), 'model.safetensors.index.json');
    shards.forEach((f, i) => assert.equal(f, `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`));
    assert.deepEqual(readdirSync(sharded).sort(), [...files].sort());
    const idx = JSON.parse(readFileSync(path.join(sharded, 'model.safetensors.index.json'), 'utf8'));
    assert.equal(idx.metadata.total_size, src.totalBytes());
    assert.deepEqual(Object.keys(idx.weight_map), Object.keys(idx.weight_map).sort());
    const many = await openCheckpoint(sharded);
    await assertSameTensors(src, many);
    // The 32 MB embedding is over the limit on its own, so it sits alone in its shard.
    const embFile = many.info('model.embed_tokens.weight').file;
    assert.deepEqual(many.names().filter((n) => many.info(n).file === embFile), ['model.embed_tokens.weight']);
    await many.close();
  } finally {
    await src.close();
  }
});

test('readFloat32 and readRowsFloat32 agree with converting the raw bytes', async () => {
  const ck = await openCheckpoint(shared('models/wiki-28m'));
  try {
    const name = 'model.embed_tokens.weight';
    const cols = ck.info(name).shape[1]!;
    const all = await ck.readFloat32(name);
    assert.deepEqual(all, toFloat32(await ck.readBytes(name), 'BF16'));
    const rows = [5, 6, 7, 50303, 0, 7, 1000, 1001];
    const got = await ck.readRowsFloat32(name, rows);
    assert.equal(got.length, rows.length * cols);
    rows.forEach((r, i) => assert.deepEqual(got.subarray(i * cols, (i + 1) * cols), all.subarray(r * cols, (r + 1) * cols), `row ${r}`));
    const raw = await ck.readRowsBytes(name, Int32Array.from(rows));
    assert.deepEqual(toFloat32(raw, 'BF16'), got);
    assert.equal((await ck.readRowsFloat32(name, [])).length, 0);
    // Scattered rows with repeats: exercises spans read through scratch and spans read in place.
    let seed = 7;
    const random = Array.from({ length: 3000 }, () => ((seed = (Math.imul(seed, 48271) >>> 0) % 2147483647) % 50304));
    const scattered = [...random, ...Array.from({ length: 500 }, (_, i) => 20000 + i)];
    const g = await ck.readRowsFloat32(name, scattered);
    scattered.forEach((r, i) => {
      for (let c = 0; c < cols; c++) {
        if (!Object.is(g[i * cols + c], all[r * cols + c])) assert.fail(`row ${r} (position ${i}) differs at column ${c}`);
      }
    });
  } finally {
    await ck.close();
  }
  const f32 = await openCheckpoint(shared('fixtures/hf-golden/llama3/model'));
  try {
    const name = 'model.embed_tokens.weight';
    const [, cols] = f32.info(name).shape as [number, number];
    const all = await f32.readFloat32(name);
    const got = await f32.readRowsFloat32(name, [3, 1, 2]);
    assert.deepEqual(got.subarray(0, cols), all.subarray(3 * cols, 4 * cols));
    assert.deepEqual(got.subarray(cols, 2 * cols), all.subarray(cols, 2 * cols));
  } finally {
    await f32.close();
  }
});
