import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readModelConfig } from '../../src/families/model-config.ts';
import { LayerLoader, layerPlan, loadTensor } from '../../src/engine/weights.ts';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { shared } from '../helpers/paths.ts';

// bf16 (widened), f32 (copied) and stacked per-expert tensors (mixtral).
const CASES = ['llama3-bf16', 'qwen2', 'mixtral'];

function bitsOf(t: { data: unknown }): Uint32Array | Uint16Array {
  const d = t.data as Float32Array | Uint16Array;
  return d instanceof Float32Array ? new Uint32Array(d.buffer, d.byteOffset, d.length) : d;
}

for (const c of CASES) {
  test(`${c}: LayerLoader gives every layer the bits of a fresh read, read ahead or not, in one reused f32 set`, async () => {
    const dir = shared('fixtures/hf-golden', c, 'model');
    const { spec } = readModelConfig(dir);
    const ckpt = await openCheckpoint(dir);
    try {
      for (const precision of ['f32', 'f16'] as const) {
        const loader = new LayerLoader(spec, ckpt, precision);
        const buffers = new Map<string, ArrayBufferLike>();
        for (let l = 0; l < spec.layers; l++) {
          // Even layers are read ahead (the engine's pattern), odd ones read on demand.
          if (l % 2 === 0) loader.prefetch(l);
          const got = await loader.load(l);
          for (const t of layerPlan(spec, l)) {
            const want = await loadTensor(spec, ckpt, t, precision);
            const g = got.get(t.role)!;
            assert.equal(g.type, want.type, `${c} ${precision} layer ${l} ${t.role}`);
            assert.deepEqual(g.dims, want.dims, `${c} ${precision} layer ${l} ${t.role}`);
            assert.ok(Buffer.from(bitsOf(g).buffer, bitsOf(g).byteOffset, bitsOf(g).byteLength).equals(Buffer.from(bitsOf(want).buffer, bitsOf(want).byteOffset, bitsOf(want).byteLength)), `${c} ${precision} layer ${l} ${t.role}: values differ`);
            if (g.type === 'float32') {
              const buf = (g.data as Float32Array).buffer;
              if (l > 0) assert.equal(buffers.get(t.role), buf, `${c} layer ${l} ${t.role}: a new f32 buffer instead of the reused one`);
              buffers.set(t.role, buf);
            }
          }
        }
      }
    } finally {
      await ckpt.close();
    }
  });
}

test('LayerLoader: loading another layer than the one read ahead is an error, not stale weights', async () => {
  const dir = shared('fixtures/hf-golden', 'llama3-bf16', 'model');
  const { spec } = readModelConfig(dir);
  const ckpt = await openCheckpoint(dir);
  try {
    const loader = new LayerLoader(spec, ckpt, 'f32');
    loader.prefetch(1);
    await assert.rejects(loader.load(0), /load\(0\) after prefetch\(1\)/);
    loader.prefetch(0);
    assert.throws(() => loader.prefetch(1), /still ahead/);
    assert.ok((await loader.load(0)).size > 0);
  } finally {
    await ckpt.close();
  }
});

test('readBytesInto fills a reused buffer with the bytes readBytes returns, and refuses a short one', async () => {
  const dir = shared('fixtures/hf-golden', 'llama3-bf16', 'model');
  const ckpt = await openCheckpoint(dir);
  try {
    const names = ckpt.names();
    const largest = Math.max(...names.map((n) => ckpt.info(n).byteLength));
    const buf = new Uint8Array(largest).fill(0xa5);
    for (const n of names) {
      await ckpt.readBytesInto(n, buf);
      const len = ckpt.info(n).byteLength;
      assert.ok(Buffer.from(buf.buffer, 0, len).equals(Buffer.from(await ckpt.readBytes(n))), n);
    }
    const big = names.find((n) => ckpt.info(n).byteLength > 2)!;
    await assert.rejects(ckpt.readBytesInto(big, new Uint8Array(2)), /readBytesInto/);
  } finally {
    await ckpt.close();
  }
});
