/**
 * The families added after the first seven, pruned end to end by the CLI on their golden fixtures
 * (with a real 1,024-token GPT-2 tokenizer), and the FFN slicing checked against an invariant: a
 * channel zeroed in every layer (in every tensor that holds it, fused blocks included) is the one
 * removed first, the pruned tensors equal the originals without it, and the outputs do not move.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as RustTokenizer } from '@anush008/tokenizers';
import { pruneModel } from '../../src/prune/prune.ts';
import { Engine } from '../../src/engine/runner.ts';
import { readModelConfig } from '../../src/families/model-config.ts';
import { templateOf } from '../../src/families/templates.ts';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { writeCheckpoint } from '../../src/io/safetensors-writer.ts';
import { inspectModel } from '../../src/prune/inspect-model.ts';
import { REPO_ROOT, shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';

const NEW_FAMILY_CASES = ['phi3', 'phi3-partial-rotary', 'gemma2', 'granite', 'olmo2', 'mixtral'] as const;

const CALIB = () => shared('data/text/calib-wiki.txt');

async function logitsOf(dir: string, seq: Int32Array): Promise<Float32Array> {
  const e = await Engine.open(dir, { threads: 2 });
  try {
    return (await e.forward([seq], { logits: true })).logits![0]!;
  } finally {
    await e.close();
  }
}

/** Index into a row-major [rows, cols] tensor of channel `c` (along `axis`) at position `k` of the other axis. */
const at = (axis: number, shape: readonly number[], c: number, k: number): number => (axis === 0 ? c * shape[1]! + k : k * shape[1]! + c);

for (const name of NEW_FAMILY_CASES) {
  test(`${name}: compact prune end to end (V′ 700, I′ 100), reloaded by the engine, counts agree, Rust tokenizer loads it`, async () => {
    const dir = fixtureWithTokenizer(name);
    const out = join(makeTmpDir(`cli-${name}`), 'out');
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/compact.mjs'), 'prune', dir, '--out', out, '--vocab', '700', '--ffn', '100', '--calib', CALIB(), '--calib-tokens', '256', '--seq-len', '64', '--quiet', '--threads', '2'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const spec = readModelConfig(out).spec;
    assert.equal(spec.family.name, readModelConfig(dir).spec.family.name);
    assert.equal(spec.intermediate, 100);
    assert.equal(spec.vocabSize, 700);
    const info = await inspectModel(out);
    assert.ok(info.checkpoint.agrees, `${name}: ${info.checkpoint.disagreements.join('; ')}`);
    assert.equal(info.total_params, (await inspectModel(dir, { vocab: 700, ffn: 100 })).what_if!.after.total_params);
    const rust = RustTokenizer.fromString(readFileSync(join(out, 'tokenizer.json'), 'utf8'));
    assert.ok((await rust.encode('Hello world, pruned models still tokenize 🙂')).getIds().every((id: number) => id < 700));
    const logits = await logitsOf(out, Int32Array.from([1, 2, 3, 650, 699]));
    assert.ok(logits.every(Number.isFinite), `${name}: non-finite logits after reload`);
  });

  test(`${name}: a channel zeroed everywhere is cut first; sliced tensors equal the originals without it; outputs unchanged`, async () => {
    const dir = fixtureWithTokenizer(name);
    const { spec } = readModelConfig(dir);
    const I = spec.intermediate;
    const Z = 37;
    const ck = await openCheckpoint(dir);
    const tensors = await Promise.all(ck.names().map(async (n) => ({ name: n, shape: ck.info(n).shape, data: new Float32Array(await ck.readFloat32(n)) })));
    await ck.close();
    // Channels of each FFN tensor along its declared axis: Z in every stacked block.
    const ffn = tensors.flatMap((t) => {
      const tpl = templateOf(spec.family, t.name)?.template;
      if (tpl?.ffnAxis === undefined) return [];
      const blocks = tpl.ffnBlocks ?? 1;
      return [{ t, axis: tpl.ffnAxis, zeroed: Array.from({ length: blocks }, (_, b) => b * I + Z), blocks }];
    });
    assert.ok(ffn.length > 0);
    for (const { t, axis, zeroed } of ffn) {
      const other = t.shape.length === 1 ? 1 : t.shape[1 - axis]!;
      for (const c of zeroed) for (let k = 0; k < other; k++) t.data[t.shape.length === 1 ? c : at(axis, t.shape, c, k)] = 0;
    }
    await writeCheckpoint(dir, tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: [...t.shape], bytes: () => new Uint8Array(t.data.buffer) })));
    const out = join(makeTmpDir(`zero-${name}`), 'out');
    const report = await pruneModel({ model: dir, out, ffn: I - 1, calib: CALIB(), calibTokens: 256, seqLen: 64, quiet: true });
    assert.equal(report.params.after.intermediate_size, I - 1);
    const pk = await openCheckpoint(out);
    try {
      for (const { t, axis, zeroed, blocks } of ffn) {
        const got = await pk.readFloat32(t.name);
        const shape = pk.info(t.name).shape;
        assert.equal(shape[t.shape.length === 1 ? 0 : axis], blocks * (I - 1), `${t.name}: FFN axis`);
        const kept = Array.from({ length: blocks * I }, (_, c) => c).filter((c) => !zeroed.includes(c));
        const other = t.shape.length === 1 ? 1 : t.shape[1 - axis]!;
        kept.forEach((c, j) => {
          for (let k = 0; k < other; k++) {
            const want = t.data[t.shape.length === 1 ? c : at(axis, t.shape, c, k)];
            const have = got[t.shape.length === 1 ? j : at(axis, shape, j, k)];
            assert.equal(have, want, `${t.name}: channel ${c}, element ${k}`);
          }
        });
      }
    } finally {
      await pk.close();
    }
    const seq = Int32Array.from([1000, 5, 17, 300, 999, 42, 7, 256, 1, 2, 3, 4]);
    const a = await logitsOf(dir, seq);
    const b = await logitsOf(out, seq);
    let maxErr = 0;
    for (let i = 0; i < a.length; i++) maxErr = Math.max(maxErr, Math.abs(a[i]! - b[i]!));
    assert.ok(maxErr < 1e-5, `${name}: outputs changed by ${maxErr}`);
  });
}
