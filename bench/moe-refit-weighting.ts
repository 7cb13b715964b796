/**
 * Should a MoE expert's refit Gram matrix weight each routed token by its routing weight? On the
 * Mixtral golden fixture (the only MoE the project has: 3 layers, 4 experts, top-2, I 176, random
 * weights, routing weights spread 0.05–0.95), each expert's down_proj is refit on the first
 * FIT tokens of calib-wiki with G summed over its routed tokens three ways — unweighted, ×w and
 * ×w² (w the token's renormalised routing weight for that expert; w² makes the per-expert
 * objective the expert's share of the MoE block's output error, and is what --reconstruct does) — and
 * scored on the next HELD tokens, in float64 (test/prune/moe-reference.ts: every layer's input
 * from our engine, the layer itself recomputed), by
 *   block: Σ_t ‖Σ_k w_k (W_k x − W′_k x_S)‖² / Σ_t ‖Σ_k w_k W_k x‖²  (the MoE block's output error)
 *   expert: Σ_e Σ_t ‖W_e x − W′_e x_S‖² / Σ_e Σ_t ‖W_e x‖²          (each expert's own output error)
 * and, for the whole model with every layer cut so, the mean KL(dense ‖ pruned) of the next-token
 * distribution and the top-1 agreement on the held-out tokens (our engine). Kept channels are each
 * expert's top I′ by act² over its routed fit tokens, as the pipeline ranks them (act2-all); λ 0.01.
 * Every layer's refit uses the dense model's layer inputs, as the pipeline's calibration does.
 *
 *   node --import tsx bench/moe-refit-weighting.ts [FIT] [HELD]   (default 3072 1024; writes bench/results/moe-refit-weighting.json)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Engine } from '../src/engine/runner.ts';
import { readModelConfig } from '../src/families/model-config.ts';
import { openCheckpoint } from '../src/io/safetensors.ts';
import { writeCheckpoint } from '../src/io/safetensors-writer.ts';
import { makeTmpDir } from '../test/helpers/tmp-dir.ts';
import { expertChannels, selectChannels } from '../src/prune/channel-select.ts';
import { refitDown } from '../src/prune/refit.ts';
import { fixtureWithTokenizer } from '../test/helpers/fixture-model.ts';
import { expertGram, moeLayerReference, type MoeLayerRef } from '../test/prune/moe-reference.ts';
import { calibSequences } from '../test/prune/prune-helpers.ts';

const FIT = Number(process.argv[2] ?? 3072);
const HELD = Number(process.argv[3] ?? 1024);
const SEQ = 128;
const dir = fixtureWithTokenizer('mixtral');
const { spec } = readModelConfig(dir);
const { hidden: D, intermediate: I } = spec;
const E = spec.moe!.experts;
const seqs = calibSequences(dir, FIT + HELD, SEQ);
if (seqs.some((s) => s.length !== SEQ)) throw new Error(`calib-wiki gave a short window: use multiples of ${SEQ}`);
const fitSeqs = FIT / SEQ;

const engine = await Engine.open(dir, { threads: 2 });
const hidden = (await engine.forward(seqs, { hidden: true })).hidden!;
await engine.close();
const ck = await openCheckpoint(dir);

type Variant = 'unweighted' | 'w' | 'w2';
const VARIANTS: Variant[] = ['unweighted', 'w', 'w2'];
const rows: Record<string, unknown>[] = [];
/** [keep][variant][layer][expert]: the down_proj each whole-model variant writes. */
const built = new Map<number, Map<string, Float32Array[][]>>();
const keptOf = new Map<number, Int32Array[][]>();
for (let l = 0; l < spec.layers; l++) {
  const x = hidden[l]!.flatMap((s) => Array.from({ length: SEQ }, (_, p) => Float64Array.from(s.subarray(p * D, (p + 1) * D))));
  const ref: MoeLayerRef = await moeLayerReference(spec, ck, l, x, seqs.length);
  const fitRow = (row: number) => row < fitSeqs * SEQ;
  const w2 = await Promise.all(Array.from({ length: E }, (_, e) => ck.readFloat32(`model.layers.${l}.block_sparse_moe.experts.${e}.w2.weight`)));
  const scores = new Float64Array(E * I);
  ref.inputs.forEach((list, e) => {
    for (const { row, x: a } of list) if (fitRow(row)) for (let i = 0; i < I; i++) scores[e * I + i]! += a[i]! * a[i]!;
  });
  for (const keep of [100, 50]) {
    const kept = selectChannels(spec, scores, keep);
    const S = Array.from({ length: E }, (_, e) => expertChannels(kept, e, I));
    if (!keptOf.has(keep)) keptOf.set(keep, []);
    keptOf.get(keep)![l] = S;
    const plain = w2.map((w, e) => {
      const out = new Float32Array(D * keep);
      for (let h = 0; h < D; h++) for (let p = 0; p < keep; p++) out[h * keep + p] = w[h * I + S[e]![p]!]!;
      return out;
    });
    const weights: Record<string, Float32Array[]> = { plain };
    for (const v of VARIANTS) {
      weights[v] = w2.map((w, e) => {
        const fit = ref.inputs[e]!.filter((r) => fitRow(r.row));
        const G = expertGram(fit, I, v === 'unweighted' ? undefined : (r) => (v === 'w' ? Math.sqrt(r.weight) : r.weight));
        const r = refitDown(w, D, I, G, S[e]!, 1e-2);
        if (!r.weight) throw new Error(`layer ${l} expert ${e} ${v}: ${r.fallback}`);
        return r.weight;
      });
    }
    for (const [variant, Wv] of Object.entries(weights)) {
      if (!built.has(keep)) built.set(keep, new Map());
      const perVariant = built.get(keep)!;
      if (!perVariant.has(variant)) perVariant.set(variant, []);
      perVariant.get(variant)![l] = Wv;
      const score = (inSample: boolean) => {
        let blockErr = 0, blockDen = 0, expErr = 0, expDen = 0;
        for (let row = 0; row < ref.routes.length; row++) {
          if (fitRow(row) !== inSample) continue;
          const dy = new Float64Array(D);
          const y = new Float64Array(D);
          for (const { expert: e, weight } of ref.routes[row]!) {
            const a = ref.inputs[e]!.find((r) => r.row === row)!.x;
            const w = w2[e]!;
            const v = Wv[e]!;
            for (let h = 0; h < D; h++) {
              let full = 0;
              for (let i = 0; i < I; i++) full += w[h * I + i]! * a[i]!;
              let cut = 0;
              for (let p = 0; p < keep; p++) cut += v[h * keep + p]! * a[S[e]![p]!]!;
              dy[h]! += weight * (full - cut);
              y[h]! += weight * full;
              expErr += (full - cut) ** 2;
              expDen += full ** 2;
            }
          }
          for (let h = 0; h < D; h++) {
            blockErr += dy[h]! ** 2;
            blockDen += y[h]! ** 2;
          }
        }
        return { block: blockErr / blockDen, expert: expErr / expDen };
      };
      const held = score(false);
      const fit = score(true);
      rows.push({ layer: l, kept: keep, variant, held_block: held.block, held_expert: held.expert, fit_block: fit.block, fit_expert: fit.expert });
      console.log(`layer ${l} I′ ${keep} ${variant.padEnd(10)} held-out block ${(100 * held.block).toFixed(2)}%  expert ${(100 * held.expert).toFixed(2)}%   fit block ${(100 * fit.block).toFixed(2)}%  expert ${(100 * fit.expert).toFixed(2)}%`);
    }
  }
}

/** Mean KL(dense ‖ model) over the held-out positions, and the share whose argmax agrees. */
const heldSeqs = seqs.slice(fitSeqs);
const logitsOf = async (d: string): Promise<Float32Array[]> => {
  const e = await Engine.open(d, { threads: 2 });
  try {
    return (await e.forward(heldSeqs, { logits: true })).logits!;
  } finally {
    await e.close();
  }
};
const V = spec.vocabSize;
const denseLogits = await logitsOf(dir);
const logSoftmax = (z: Float32Array, o: number): Float64Array => {
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, z[o + i]!);
  let s = 0;
  for (let i = 0; i < V; i++) s += Math.exp(z[o + i]! - m);
  const ls = Math.log(s) + m;
  return Float64Array.from({ length: V }, (_, i) => z[o + i]! - ls);
};
const argmax = (a: Float64Array) => a.reduce((b, v, i) => (v > a[b]! ? i : b), 0);
const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
const names = ck.names();
const tensors = new Map(await Promise.all(names.map(async (n) => [n, { shape: ck.info(n).shape, data: await ck.readFloat32(n) }] as const)));
const models: Record<string, unknown>[] = [];
for (const [keep, perVariant] of built) {
  for (const [variant, W] of perVariant) {
    const out = makeTmpDir(`moe-weighting-${keep}-${variant}`);
    writeFileSync(join(out, 'config.json'), JSON.stringify({ ...config, intermediate_size: keep }));
    await writeCheckpoint(out, names.map((n) => {
      const t = tensors.get(n)!;
      const m = /^model\.layers\.(\d+)\.block_sparse_moe\.experts\.(\d+)\.(w[123])\.weight$/.exec(n);
      if (!m) return { name: n, dtype: 'F32' as const, shape: [...t.shape], bytes: () => new Uint8Array(t.data.slice().buffer) };
      const [l, e, which] = [Number(m[1]), Number(m[2]), m[3]!];
      const S = keptOf.get(keep)![l]![e]!;
      if (which === 'w2') return { name: n, dtype: 'F32' as const, shape: [D, keep], bytes: () => new Uint8Array(W[l]![e]!.slice().buffer) };
      const rowsOut = new Float32Array(keep * D);
      S.forEach((c, p) => rowsOut.set(t.data.subarray(c * D, (c + 1) * D), p * D));
      return { name: n, dtype: 'F32' as const, shape: [keep, D], bytes: () => new Uint8Array(rowsOut.buffer) };
    }));
    const got = await logitsOf(out);
    let kl = 0;
    let agree = 0;
    let n = 0;
    got.forEach((z, s) => {
      for (let p = 0; p < SEQ; p++) {
        const a = logSoftmax(denseLogits[s]!, p * V);
        const b = logSoftmax(z, p * V);
        for (let i = 0; i < V; i++) kl += Math.exp(a[i]!) * (a[i]! - b[i]!);
        if (argmax(a) === argmax(b)) agree++;
        n++;
      }
    });
    models.push({ kept: keep, variant, heldout_kl: kl / n, heldout_top1_agreement: agree / n });
    console.log(`model I′ ${keep} ${variant.padEnd(10)} held-out KL(dense‖pruned) ${(kl / n).toExponential(3)} nats/token, top-1 agreement ${(100 * agree / n).toFixed(2)}%`);
  }
}
await ck.close();
const out = resolve(import.meta.dirname, 'results/moe-refit-weighting.json');
writeFileSync(out, JSON.stringify({ fit_tokens: FIT, heldout_tokens: HELD, seq_len: SEQ, ridge: 1e-2, rows, models }, null, 2) + '\n');
console.log(`wrote ${out}`);
