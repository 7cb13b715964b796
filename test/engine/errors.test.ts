/**
 * Bad input gives one-line CompactErrors naming the file/tensor and the problem: a sequence over
 * max_position_embeddings, a token id outside the vocabulary, an unsupported architecture, a
 * tensor missing for one layer, a tensor of the wrong shape.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CompactError } from '../../src/errors.ts';
import { Engine } from '../../src/engine/runner.ts';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { writeCheckpoint } from '../../src/io/safetensors-writer.ts';
import { shared } from '../helpers/paths.ts';

const MODEL = shared('fixtures/hf-golden', 'llama-untied', 'model');

function oneLine(re: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof CompactError, `expected CompactError, got ${String(e)}`);
    assert.ok(!e.message.includes('\n'), 'one line');
    assert.match(e.message, re);
    return true;
  };
}

/** Copies the fixture model to a temp folder, rewriting its tensors through `edit`. */
async function copyWith(dir: string, edit: (name: string, shape: number[]) => { name: string; shape: number[] } | null): Promise<void> {
  cpSync(MODEL, dir, { recursive: true });
  rmSync(join(dir, 'model.safetensors'));
  const src = await openCheckpoint(MODEL);
  try {
    const entries = [];
    for (const name of src.names()) {
      const info = src.info(name);
      const e = edit(name, [...info.shape]);
      if (!e) continue;
      const bytes = await src.readBytes(name);
      const n = e.shape.reduce((a, b) => a * b, 1) * 4;
      entries.push({ name: e.name, dtype: info.dtype, shape: e.shape, bytes: () => bytes.subarray(0, n) });
    }
    await writeCheckpoint(dir, entries);
  } finally {
    await src.close();
  }
}

describe('engine errors', () => {
  let tmp: string;
  let engine: Engine;
  before(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'compact-engine-'));
    engine = await Engine.open(MODEL, { threads: 1 });
  });
  after(async () => {
    await engine?.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('sequence longer than max_position_embeddings', async () => {
    const seq = new Int32Array(4097).fill(3);
    await assert.rejects(engine.forward([seq]), oneLine(/sequence 0 has 4097 tokens, more than max_position_embeddings 4096/));
  });

  test('token id ≥ vocab size', async () => {
    await assert.rejects(engine.forward([Int32Array.of(1, 2, 1024)]), oneLine(/token id 1024 at position 2 of sequence 0 is outside the vocabulary \(vocab_size 1024\)/));
    await assert.rejects(engine.forward([Int32Array.of(-5)]), oneLine(/token id -5/));
  });

  test('target id ≥ vocab size, mismatched token weights', async () => {
    await assert.rejects(engine.forward([Int32Array.of(1, 2)], { targets: [Int32Array.of(2, 5000)] }), oneLine(/target id 5000/));
    await assert.rejects(engine.forward([Int32Array.of(1, 2)], { act2: true, tokenWeights: [new Float32Array(3)] }), oneLine(/tokenWeights\[0\] has 3 positions/));
  });

  test('unsupported architecture', async () => {
    const dir = join(tmp, 'gpt2');
    cpSync(MODEL, dir, { recursive: true });
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    cfg.architectures = ['GPT2LMHeadModel'];
    writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg));
    await assert.rejects(Engine.open(dir), oneLine(/config\.json: architecture GPT2LMHeadModel is not supported; supported: LlamaForCausalLM/));
  });

  test('tensor missing for one layer', async () => {
    const dir = join(tmp, 'missing');
    await copyWith(dir, (name, shape) => ({ name: name === 'model.layers.1.mlp.up_proj.weight' ? 'model.layers.1.mlp.up_proj.weight_renamed' : name, shape }));
    await assert.rejects(Engine.open(dir), oneLine(/missing: tensor "model\.layers\.1\.mlp\.up_proj\.weight" is missing/));
  });

  test('untied model without lm_head.weight', async () => {
    const dir = join(tmp, 'nohead');
    await copyWith(dir, (name, shape) => (name === 'lm_head.weight' ? null : { name, shape }));
    await assert.rejects(Engine.open(dir), oneLine(/tensor "lm_head\.weight" is missing \(config\.json says tie_word_embeddings is false\)/));
  });

  test('tensor of the wrong shape', async () => {
    const dir = join(tmp, 'shape');
    await copyWith(dir, (name, shape) => (name === 'model.layers.2.self_attn.k_proj.weight' ? { name, shape: [shape[0]! - 1, shape[1]!] } : { name, shape }));
    await assert.rejects(
      Engine.open(dir),
      oneLine(/model\.safetensors: tensor "model\.layers\.2\.self_attn\.k_proj\.weight" has shape \[31, 64\], expected \[32, 64\] from config\.json/),
    );
  });

  test('device webgpu: runs where an adapter exists, else a one-line CompactError saying so', async () => {
    let gpu: Engine | undefined;
    try {
      gpu = await Engine.open(MODEL, { device: 'webgpu', threads: 1 });
    } catch (e) {
      oneLine(/device webgpu is not (available|usable)/)(e);
      return;
    }
    try {
      const ids = Int32Array.of(1000, 5, 77, 300);
      const [a, b] = [await gpu.forward([ids], { logits: true }), await engine.forward([ids], { logits: true })];
      let worst = 0;
      for (let i = 0; i < a.logits![0]!.length; i++) worst = Math.max(worst, Math.abs(a.logits![0]![i]! - b.logits![0]![i]!));
      assert.ok(worst < 1e-3, `webgpu vs cpu max abs diff ${worst}`);
    } finally {
      await gpu.close();
    }
  });
});
