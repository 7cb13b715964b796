/**
 * COMPACT per expert on the Mixtral fixture: each expert ranks its own channels (by act² over the
 * tokens routed to it) and keeps the same I′. Invariant: a different channel zeroed in each expert
 * is the one each expert drops, the sliced experts equal the originals without it, the router is
 * untouched, and the outputs do not move.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pruneModel } from '../../src/prune/prune.ts';
import { selectChannels } from '../../src/prune/channel-select.ts';
import { Engine } from '../../src/engine/runner.ts';
import { readModelConfig } from '../../src/families/model-config.ts';
import { templateOf } from '../../src/families/templates.ts';
import type { ModelSpec } from '../../src/families/types.ts';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { writeCheckpoint } from '../../src/io/safetensors-writer.ts';
import { shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';

test('selectChannels: the best I′ of each expert, as e·I + j', () => {
  const spec = { moe: { experts: 2, topK: 1 }, intermediate: 4 } as ModelSpec;
  assert.deepEqual(Array.from(selectChannels(spec, [1, 4, 3, 2, 9, 0, 8, 7], 2)), [1, 2, 4, 6]);
  const dense = { moe: null, intermediate: 8 } as ModelSpec;
  assert.deepEqual(Array.from(selectChannels(dense, [1, 4, 3, 2, 9, 0, 8, 7], 2)), [4, 6]);
});

async function logitsOf(dir: string, seq: Int32Array): Promise<Float32Array> {
  const e = await Engine.open(dir, { threads: 2 });
  try {
    return (await e.forward([seq], { logits: true })).logits![0]!;
  } finally {
    await e.close();
  }
}

test('mixtral: each expert drops its own dead channel; experts sliced per expert, router kept; outputs unchanged', async () => {
  const dir = fixtureWithTokenizer('mixtral');
  const { spec } = readModelConfig(dir);
  const I = spec.intermediate;
  const dead = (e: number): number => 11 + 40 * e;
  const ck = await openCheckpoint(dir);
  const tensors = await Promise.all(ck.names().map(async (n) => ({ name: n, shape: ck.info(n).shape, data: new Float32Array(await ck.readFloat32(n)) })));
  await ck.close();
  const experts = tensors.flatMap((t) => {
    const found = templateOf(spec.family, t.name);
    return found?.expert === undefined ? [] : [{ t, axis: found.template.ffnAxis!, z: dead(found.expert) }];
  });
  assert.equal(experts.length, spec.layers * spec.moe!.experts * 3);
  for (const { t, axis, z } of experts) {
    const [rows, cols] = t.shape as [number, number];
    if (axis === 0) t.data.fill(0, z * cols, (z + 1) * cols);
    else for (let r = 0; r < rows; r++) t.data[r * cols + z] = 0;
  }
  await writeCheckpoint(dir, tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: [...t.shape], bytes: () => new Uint8Array(t.data.buffer) })));

  const out = join(makeTmpDir('moe-dead'), 'out');
  const report = await pruneModel({ model: dir, out, ffn: I - 1, calib: shared('data/text/calib-wiki.txt'), calibTokens: 256, seqLen: 64, quiet: true });
  assert.equal(report.params.after.intermediate_size, I - 1);
  const pk = await openCheckpoint(out);
  try {
    for (const { t, axis, z } of experts) {
      const got = await pk.readFloat32(t.name);
      const [rows, cols] = t.shape as [number, number];
      const kept = Array.from({ length: I }, (_, c) => c).filter((c) => c !== z);
      if (axis === 0) {
        assert.deepEqual(pk.info(t.name).shape, [I - 1, cols], t.name);
        kept.forEach((c, j) => assert.deepEqual(got.subarray(j * cols, (j + 1) * cols), t.data.subarray(c * cols, (c + 1) * cols), `${t.name}: channel ${c}`));
      } else {
        assert.deepEqual(pk.info(t.name).shape, [rows, I - 1], t.name);
        for (let r = 0; r < rows; r++) kept.forEach((c, j) => assert.equal(got[r * (I - 1) + j], t.data[r * cols + c], `${t.name}: row ${r}, channel ${c}`));
      }
    }
    for (const t of tensors.filter((x) => x.name.endsWith('block_sparse_moe.gate.weight'))) {
      assert.deepEqual(await pk.readFloat32(t.name), t.data, `${t.name}: router unchanged`);
    }
  } finally {
    await pk.close();
  }
  const seq = Int32Array.from([1000, 5, 17, 300, 999, 42, 7, 256, 1, 2, 3, 4]);
  const a = await logitsOf(dir, seq);
  const b = await logitsOf(out, seq);
  let maxErr = 0;
  for (let i = 0; i < a.length; i++) maxErr = Math.max(maxErr, Math.abs(a[i]! - b[i]!));
  assert.ok(maxErr < 1e-5, `outputs changed by ${maxErr}`);
});
