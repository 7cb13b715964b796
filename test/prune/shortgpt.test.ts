import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pruneModel } from '../../src/prune/prune.ts';
import { Engine } from '../../src/engine/runner.ts';
import { readModelConfig } from '../../src/families/model-config.ts';
import { countParams } from '../../src/report/params.ts';
import { inspectModel } from '../../src/prune/inspect-model.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { CALIB, calibSequences, logitsOf, maxRelDiff, readTensors, writeTensors } from './prune-helpers.ts';

/**
 * BI from the engine's hidden states, computed here: 1 − mean_t cos(h_l, h_{l+1}). The last
 * hidden state the engine returns is after the final norm, so the fixture's final norm is first
 * made the identity (weight 1, or 0 for Gemma's 1+w): the norm then only rescales, and cosine is
 * scale-free, so that state has the raw last layer's direction.
 */
async function independentBI(dir: string, seqs: Int32Array[]): Promise<number[]> {
  const e = await Engine.open(dir, { threads: 2 });
  try {
    const D = e.spec.hidden;
    const h = (await e.forward(seqs, { hidden: true })).hidden!;
    const bi: number[] = [];
    for (let l = 0; l + 1 < h.length; l++) {
      let sum = 0;
      let n = 0;
      for (let s = 0; s < seqs.length; s++) {
        const a = h[l]![s]!;
        const b = h[l + 1]![s]!;
        for (let t = 0; t < seqs[s]!.length; t++) {
          let ab = 0, aa = 0, bb = 0;
          for (let i = t * D; i < (t + 1) * D; i++) {
            ab += a[i]! * b[i]!;
            aa += a[i]! * a[i]!;
            bb += b[i]! * b[i]!;
          }
          sum += ab / Math.sqrt(aa * bb);
          n++;
        }
      }
      bi.push(1 - sum / n);
    }
    return bi;
  } finally {
    await e.close();
  }
}

for (const name of ['gemma3', 'llama3']) {
  test(`shortgpt on ${name}: drops the lowest-BI layers, renumbers them, and equals the dense model with those layers skipped`, async () => {
    const dir = fixtureWithTokenizer(name);
    const tensors = await readTensors(dir);
    tensors.get('model.norm.weight')!.data.fill(name === 'gemma3' ? 0 : 1);
    await writeTensors(dir, tensors);
    const { spec, raw } = readModelConfig(dir);
    const seqs = calibSequences(dir, 256, 64);
    const bi = await independentBI(dir, seqs);

    // Ask for the reduction of exactly one (llama3, 3 layers) or two (gemma3, 4 layers) layers.
    const k = name === 'gemma3' ? 2 : 1;
    const R = 1 - countParams(spec, { layers: spec.layers - k }).total_params / countParams(spec).total_params;
    const out = join(makeTmpDir(`sgpt-${name}`), 'out');
    const report = await pruneModel({ model: dir, out, method: 'shortgpt', ratio: R, calib: CALIB(), calibTokens: 256, seqLen: 64, quiet: true });
    const expected = bi.map((_, i) => i).sort((a, b) => bi[a]! - bi[b]!).slice(0, k).sort((a, b) => a - b);
    assert.deepEqual(report.layers!.dropped, expected, `BI ${bi.map((x) => x.toFixed(5)).join(', ')}`);
    for (let l = 0; l < bi.length; l++) assert.ok(Math.abs(report.layers!.block_influence[l]! - bi[l]!) < 1e-5, `BI of layer ${l}`);
    assert.ok(Math.abs(report.params.reduction - R) < 1e-12);

    // A standard checkpoint: config, tensor names 0..L−k−1, layer_types trimmed.
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    assert.equal(cfg.num_hidden_layers, spec.layers - k);
    const kept = bi.map((_, i) => i).filter((i) => !expected.includes(i));
    if (Array.isArray(raw.layer_types)) assert.deepEqual(cfg.layer_types, kept.map((i) => (raw.layer_types as string[])[i]));
    const r = await inspectModel(out);
    assert.ok(r.checkpoint.agrees, r.checkpoint.disagreements.join('; '));
    const pruned = await readTensors(out);
    for (const [i, old] of kept.entries()) {
      for (const suffix of ['self_attn.q_proj.weight', 'mlp.down_proj.weight', 'input_layernorm.weight']) {
        assert.deepEqual(pruned.get(`model.layers.${i}.${suffix}`)!.data, tensors.get(`model.layers.${old}.${suffix}`)!.data, `layer ${old} → ${i}: ${suffix}`);
      }
    }
    assert.ok(!pruned.has(`model.layers.${spec.layers - k}.mlp.down_proj.weight`));

    // The dense model with the dropped layers made identities (o_proj and down_proj zeroed, so both
    // residual branches add nothing) must give the pruned model's logits.
    const skipDir = fixtureWithTokenizer(name);
    for (const l of expected) {
      tensors.get(`model.layers.${l}.self_attn.o_proj.weight`)!.data.fill(0);
      tensors.get(`model.layers.${l}.mlp.down_proj.weight`)!.data.fill(0);
    }
    await writeTensors(skipDir, tensors);
    const probe = [Int32Array.from([1000, 5, 17, 300, 999, 42, 7, 256, 1, 2, 3, 4, 77, 88, 99, 500, 12, 13, 14, 15])];
    const a = await logitsOf(skipDir, probe);
    const b = await logitsOf(out, probe);
    const d = maxRelDiff(a[0]!, b[0]!);
    assert.ok(d < 1e-5, `logits differ by ${d} (relative)`);
  });
}
