/**
 * A naive float64 forward pass in plain JS (rms-norm Llama-style layers: GQA, rope with
 * rotate_half, SiLU FFN), written from the transformers modeling code independently of the engine,
 * used to check the engine on real checkpoints that have no stored goldens. Slow: tests only.
 */
import { inverseFrequencies } from '../../src/families/rope.ts';
import type { ModelSpec } from '../../src/families/types.ts';
import type { Checkpoint } from '../../src/io/safetensors.ts';

export function rmsNorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const r = 1 / Math.sqrt(ss / x.length + eps);
  return Float64Array.from(x, (v, i) => v * r * w[i]!);
}

/** y = W x for W [out, in] row-major. */
export function matvec(W: Float32Array, x: Float64Array, out: number, bias?: Float32Array): Float64Array {
  const n = x.length;
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = bias ? bias[o]! : 0;
    const base = o * n;
    for (let i = 0; i < n; i++) s += W[base + i]! * x[i]!;
    y[o] = s;
  }
  return y;
}

/** Logits [S × V] of one sequence (only families with plain RMSNorm, no q/k norm, SiLU). */
export async function referenceLogits(spec: ModelSpec, ck: Checkpoint, ids: Int32Array): Promise<Float64Array> {
  const { hidden: D, heads, kvHeads, headDim: H, intermediate: I, vocabSize: V, rmsEps: eps } = spec;
  const S = ids.length;
  const emb = await ck.readFloat32('model.embed_tokens.weight');
  let xs = Array.from(ids, (id) => Float64Array.from(emb.subarray(id * D, (id + 1) * D)));
  const inv = inverseFrequencies(spec.rope.full, H);
  const half = H / 2;
  const rope = (v: Float64Array, nHeads: number, pos: number): void => {
    for (let h = 0; h < nHeads; h++) {
      const b = h * H;
      for (let j = 0; j < half; j++) {
        const a = pos * inv[j]!;
        const c = Math.cos(a);
        const s = Math.sin(a);
        const x1 = v[b + j]!;
        const x2 = v[b + j + half]!;
        v[b + j] = x1 * c - x2 * s;
        v[b + j + half] = x2 * c + x1 * s;
      }
    }
  };
  const get = (l: number, n: string) => ck.readFloat32(`model.layers.${l}.${n}`);
  const opt = async (l: number, n: string) => (ck.has(`model.layers.${l}.${n}`) ? get(l, n) : undefined);
  for (let l = 0; l < spec.layers; l++) {
    const [inNorm, postNorm, wq, wk, wv, wo, wg, wu, wd] = await Promise.all(
      ['input_layernorm.weight', 'post_attention_layernorm.weight', 'self_attn.q_proj.weight', 'self_attn.k_proj.weight', 'self_attn.v_proj.weight', 'self_attn.o_proj.weight', 'mlp.gate_proj.weight', 'mlp.up_proj.weight', 'mlp.down_proj.weight'].map((n) => get(l, n)),
    );
    const [bq, bk, bv] = await Promise.all(['self_attn.q_proj.bias', 'self_attn.k_proj.bias', 'self_attn.v_proj.bias'].map((n) => opt(l, n)));
    const q: Float64Array[] = [];
    const k: Float64Array[] = [];
    const v: Float64Array[] = [];
    xs.forEach((x, p) => {
      const h = rmsNorm(x, inNorm!, eps);
      q.push(matvec(wq!, h, heads * H, bq));
      k.push(matvec(wk!, h, kvHeads * H, bk));
      v.push(matvec(wv!, h, kvHeads * H, bv));
      rope(q[p]!, heads, p);
      rope(k[p]!, kvHeads, p);
    });
    const group = heads / kvHeads;
    xs = xs.map((x, t) => {
      const attn = new Float64Array(heads * H);
      for (let h = 0; h < heads; h++) {
        const kh = Math.floor(h / group) * H;
        const scores = new Float64Array(t + 1);
        let max = -Infinity;
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let d = 0; d < H; d++) dot += q[t]![h * H + d]! * k[s]![kh + d]!;
          scores[s] = dot * spec.attnScale;
          max = Math.max(max, scores[s]!);
        }
        let sum = 0;
        for (let s = 0; s <= t; s++) sum += (scores[s] = Math.exp(scores[s]! - max));
        for (let s = 0; s <= t; s++) for (let d = 0; d < H; d++) attn[h * H + d]! += (scores[s]! / sum) * v[s]![kh + d]!;
      }
      const x1 = matvec(wo!, attn, D).map((o, i) => o + x[i]!);
      const h2 = rmsNorm(x1, postNorm!, eps);
      const g = matvec(wg!, h2, I);
      const u = matvec(wu!, h2, I);
      const a = g.map((gv, i) => (gv / (1 + Math.exp(-gv))) * u[i]!);
      return matvec(wd!, a, D).map((o, i) => o + x1[i]!);
    });
  }
  const norm = await ck.readFloat32('model.norm.weight');
  const head = spec.tied ? emb : await ck.readFloat32('lm_head.weight');
  const out = new Float64Array(S * V);
  xs.forEach((x, p) => out.set(matvec(head, rmsNorm(x, norm, eps), V), p * V));
  return out;
}
