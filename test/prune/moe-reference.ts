/**
 * A float64 Mixtral decoder layer from its input, written from transformers' MixtralDecoderLayer
 * and MixtralSparseMoeBlock independently of the engine: attention (GQA, rotate_half rope,
 * causal), the post-attention RMSNorm, the router (softmax, top-k, weights renormalised to sum 1)
 * and, per routed token, each chosen expert's down_proj input x = silu(w1 h)·(w3 h). Tests only.
 */
import { inverseFrequencies } from '../../src/families/rope.ts';
import type { ModelSpec } from '../../src/families/types.ts';
import type { Checkpoint } from '../../src/io/safetensors.ts';
import { matvec, rmsNorm } from '../engine/reference.ts';

export interface RoutedInput {
  row: number;
  x: Float64Array;
  /** The token's renormalised routing weight for this expert. */
  weight: number;
}

export interface MoeLayerRef {
  /** Per token (row = sequence·S + position): the experts it is routed to and their weights. */
  routes: Array<Array<{ expert: number; weight: number }>>;
  /** Per expert, the rows routed to it, their inputs x (one Float64Array of I per row) and routing weights. */
  inputs: Array<Array<RoutedInput>>;
  /** The layer output (the residual stream after the MoE block), per token. */
  out: Float64Array[];
}

/** One layer over `seqs` sequences of equal length, input rows `x` (sequence after sequence). */
export async function moeLayerReference(spec: ModelSpec, ck: Checkpoint, layer: number, x: Float64Array[], seqs: number): Promise<MoeLayerRef> {
  const { hidden: D, heads, kvHeads, headDim: H, intermediate: I, rmsEps: eps } = spec;
  const { experts: E, topK } = spec.moe!;
  const S = x.length / seqs;
  const get = (n: string) => ck.readFloat32(`model.layers.${layer}.${n}`);
  const [inNorm, postNorm, wq, wk, wv, wo, router] = await Promise.all(
    ['input_layernorm', 'post_attention_layernorm', 'self_attn.q_proj', 'self_attn.k_proj', 'self_attn.v_proj', 'self_attn.o_proj', 'block_sparse_moe.gate'].map((n) => get(`${n}.weight`)),
  );
  const w = await Promise.all(Array.from({ length: E }, async (_, e) => ({
    w1: await get(`block_sparse_moe.experts.${e}.w1.weight`),
    w2: await get(`block_sparse_moe.experts.${e}.w2.weight`),
    w3: await get(`block_sparse_moe.experts.${e}.w3.weight`),
  })));
  const inv = inverseFrequencies(spec.rope.full, H);
  const half = H / 2;
  const rope = (v: Float64Array, n: number, pos: number): void => {
    for (let h = 0; h < n; h++) {
      for (let j = 0; j < half; j++) {
        const a = pos * inv[j]!;
        const [c, s] = [Math.cos(a), Math.sin(a)];
        const [x1, x2] = [v[h * H + j]!, v[h * H + j + half]!];
        v[h * H + j] = x1 * c - x2 * s;
        v[h * H + j + half] = x2 * c + x1 * s;
      }
    }
  };
  const routes: MoeLayerRef['routes'] = [];
  const inputs: MoeLayerRef['inputs'] = Array.from({ length: E }, () => []);
  const out: Float64Array[] = [];
  const group = heads / kvHeads;
  for (let b = 0; b < seqs; b++) {
    const rows = x.slice(b * S, (b + 1) * S);
    const q: Float64Array[] = [];
    const k: Float64Array[] = [];
    const v: Float64Array[] = [];
    rows.forEach((r, p) => {
      const h = rmsNorm(r, inNorm!, eps);
      q.push(matvec(wq!, h, heads * H));
      k.push(matvec(wk!, h, kvHeads * H));
      v.push(matvec(wv!, h, kvHeads * H));
      rope(q[p]!, heads, p);
      rope(k[p]!, kvHeads, p);
    });
    for (let t = 0; t < S; t++) {
      const attn = new Float64Array(heads * H);
      for (let h = 0; h < heads; h++) {
        const kh = Math.floor(h / group) * H;
        const sc = new Float64Array(t + 1);
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let d = 0; d < H; d++) dot += q[t]![h * H + d]! * k[s]![kh + d]!;
          sc[s] = dot * spec.attnScale;
          max = Math.max(max, sc[s]!);
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) sum += (sc[s] = Math.exp(sc[s]! - max));
        for (let s = 0; s <= t; s++) for (let d = 0; d < H; d++) attn[h * H + d]! += (sc[s]! / sum) * v[s]![kh + d]!;
      }
      const x1 = matvec(wo!, attn, D).map((o, i) => o + rows[t]![i]!);
      const hn = rmsNorm(x1, postNorm!, eps);
      const logits = matvec(router!, hn, E);
      const m = Math.max(...logits);
      const p = logits.map((l) => Math.exp(l - m));
      const z = p.reduce((a, c) => a + c, 0);
      // torch.topk: the largest first; ties to the lower index.
      const order = Array.from({ length: E }, (_, e) => e).sort((a, c) => p[c]! - p[a]! || a - c).slice(0, topK);
      const tot = order.reduce((a, e) => a + p[e]! / z, 0);
      const row = b * S + t;
      const r = order.map((e) => ({ expert: e, weight: p[e]! / z / tot }));
      routes.push(r);
      const y = Float64Array.from(x1);
      for (const { expert: e, weight } of r) {
        const g = matvec(w[e]!.w1, hn, I);
        const u = matvec(w[e]!.w3, hn, I);
        const a = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
        inputs[e]!.push({ row, x: a, weight });
        const d = matvec(w[e]!.w2, a, D);
        for (let i = 0; i < D; i++) y[i]! += weight * d[i]!;
      }
      out.push(y);
    }
  }
  return { routes, inputs, out };
}

/** G_e = Σ over the rows routed to e of (c x)(c x)ᵀ, c = scale(row) (default 1), in float64. */
export function expertGram(inputs: RoutedInput[], I: number, scale?: (r: RoutedInput) => number): Float64Array {
  const G = new Float64Array(I * I);
  for (const r of inputs) {
    const c = scale ? scale(r) ** 2 : 1;
    for (let i = 0; i < I; i++) {
      const xi = c * r.x[i]!;
      if (xi === 0) continue;
      for (let j = 0; j < I; j++) G[i * I + j]! += xi * r.x[j]!;
    }
  }
  return G;
}

/** The rows the pipeline's expert G is summed over: each routed input times its routing weight. */
export function weightedRows(inputs: RoutedInput[]): Float64Array[] {
  return inputs.map((r) => r.x.map((v) => v * r.weight));
}
