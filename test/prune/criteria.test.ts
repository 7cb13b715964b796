import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { pruneModel, type PruneOptions } from '../../src/prune/prune.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenize.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { act2Of, CALIB, calibSequences, readTensors, topK, type RawTensor } from './prune-helpers.ts';

// Every criterion is checked the same way: the channels it should keep are computed here from the
// raw weights and/or the engine's act², and the pruned gate_proj must hold exactly those rows.
const CALIB_TOKENS = 256;
const SEQ_LEN = 64;
const KEEP = 100;

const dir = fixtureWithTokenizer('llama3');
const dense = await readTensors(dir);
const LAYERS = 3;
const gate = (l: number) => dense.get(`model.layers.${l}.mlp.gate_proj.weight`)!;
const up = (l: number) => dense.get(`model.layers.${l}.mlp.up_proj.weight`)!;
const down = (l: number) => dense.get(`model.layers.${l}.mlp.down_proj.weight`)!;

function rowNorms(t: RawTensor): number[] {
  const [R, C] = t.shape as [number, number];
  return Array.from({ length: R }, (_, r) => Math.hypot(...t.data.subarray(r * C, (r + 1) * C)));
}
function colNorms(t: RawTensor): number[] {
  const [R, C] = t.shape as [number, number];
  return Array.from({ length: C }, (_, c) => Math.hypot(...Array.from({ length: R }, (_, r) => t.data[r * C + c]!)));
}

async function prune(opts: Partial<PruneOptions>): Promise<{ out: string; channels: number[][] }> {
  const out = join(makeTmpDir('criteria'), 'out');
  await pruneModel({ model: dir, out, calib: CALIB(), calibTokens: CALIB_TOKENS, seqLen: SEQ_LEN, quiet: true, ...opts } as PruneOptions);
  const pruned = await readTensors(out);
  // Recover the kept channels of each layer by matching pruned gate rows to dense ones.
  const channels: number[][] = [];
  for (let l = 0; l < LAYERS; l++) {
    const g = pruned.get(`model.layers.${l}.mlp.gate_proj.weight`)!;
    const D = g.shape[1]!;
    const dg = gate(l);
    const keptRows: number[] = [];
    for (let r = 0; r < g.shape[0]!; r++) {
      const row = g.data.subarray(r * D, (r + 1) * D);
      const j = Array.from({ length: dg.shape[0]! }, (_, k) => k).find((k) => dg.data.subarray(k * D, (k + 1) * D).every((x, i) => x === row[i]));
      assert.ok(j !== undefined, `layer ${l} row ${r} is not a dense gate row`);
      keptRows.push(j);
    }
    channels.push(keptRows);
  }
  return { out, channels };
}

test('magnitude keeps the channels of largest ‖gate row‖·‖up row‖·‖down column‖ (from the raw weights)', async () => {
  const { channels } = await prune({ method: 'ffn-only', ffn: KEEP, ffnCriterion: 'magnitude' });
  for (let l = 0; l < LAYERS; l++) {
    const g = rowNorms(gate(l));
    const u = rowNorms(up(l));
    const d = colNorms(down(l));
    assert.deepEqual(channels[l], topK(g.map((x, j) => x * u[j]! * d[j]!), KEEP), `layer ${l}`);
  }
});

test('act2-all keeps the channels of largest Σ_t act² over every calibration token', async () => {
  const { channels } = await prune({ method: 'ffn-only', ffn: KEEP, ffnCriterion: 'act2-all' });
  const act2 = await act2Of(dir, calibSequences(dir, CALIB_TOKENS, SEQ_LEN));
  for (let l = 0; l < LAYERS; l++) assert.deepEqual(channels[l], topK(act2[l]!, KEEP), `layer ${l}`);
});

test('wanda-sp keeps the channels of largest ‖W_down[:, j]‖·sqrt(Σ_t act²) (act2-all and the weights)', async () => {
  const { channels } = await prune({ method: 'ffn-only', ffn: KEEP, ffnCriterion: 'wanda-sp' });
  const act2 = await act2Of(dir, calibSequences(dir, CALIB_TOKENS, SEQ_LEN));
  for (let l = 0; l < LAYERS; l++) {
    const d = colNorms(down(l));
    const want = topK(d.map((x, j) => x * Math.sqrt(act2[l]![j]!)), KEEP);
    assert.deepEqual(channels[l], want, `layer ${l}`);
    // Not a relabelled act2-all or magnitude: the scores differ enough to pick other channels.
    assert.notDeepEqual(want, topK(act2[l]!, KEEP), `layer ${l}: wanda-sp should differ from act2-all here`);
  }
});

test('act2-common weights act² by whether the token survives the vocabulary cut', async () => {
  const { out, channels } = await prune({ vocab: 600, ffn: KEEP, ffnCriterion: 'act2-common' });
  // The surviving tokens, read from the pruned tokenizer: a position counts iff its token is there.
  const denseTok = loadTokenizer(dir);
  const prunedTok = loadTokenizer(out);
  const seqs = calibSequences(dir, CALIB_TOKENS, SEQ_LEN);
  const weights = seqs.map((s) => Float32Array.from(s, (id) => (prunedTok.tokenToId(denseTok.idToToken(id)!) !== undefined ? 1 : 0)));
  const share = weights.reduce((a, w) => a + w.reduce((x, y) => x + y, 0), 0) / CALIB_TOKENS;
  assert.ok(share > 0.3 && share < 1, `the cut must drop some calibration tokens (kept share ${share})`);
  const act2 = await act2Of(dir, seqs, weights);
  const all = await act2Of(dir, seqs);
  for (let l = 0; l < LAYERS; l++) {
    assert.deepEqual(channels[l], topK(act2[l]!, KEEP), `layer ${l}`);
    assert.notDeepEqual(channels[l], topK(all[l]!, KEEP), `layer ${l}: common-token weighting changes the choice here`);
  }
});

test('random is deterministic for a seed and differs between seeds; no calibration needed', async () => {
  const a = await prune({ method: 'ffn-only', ffn: KEEP, ffnCriterion: 'random', seed: 7 });
  const b = await prune({ method: 'ffn-only', ffn: KEEP, ffnCriterion: 'random', seed: 7 });
  const c = await prune({ method: 'ffn-only', ffn: KEEP, ffnCriterion: 'random', seed: 8 });
  assert.deepEqual(a.channels, b.channels);
  assert.notDeepEqual(a.channels, c.channels);
  const report = await pruneModel({ model: dir, out: join(makeTmpDir('rnd'), 'out'), method: 'ffn-only', ffn: KEEP, ffnCriterion: 'random', seed: 7, quiet: true });
  assert.equal(report.calibration, null);
  assert.equal(report.flags.seed, 7);
});
