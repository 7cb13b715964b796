/**
 * One decoder layer with a KV cache, for generation (`kv-decoder.ts`). The same math as
 * `layer-graph.ts` (built from the same ModelSpec flags), plus GroupQueryAttention's past/present
 * inputs and outputs: prefill runs the prompt against an empty past, each decode step runs one
 * token against the cache the previous run returned.
 *
 * A separate builder rather than an option of `buildLayerGraph`: the calibration graph is
 * batched, cache-free and emits act², and keeping it untouched keeps its goldens meaningful.
 *
 * The cache is BNSH ([1, kv_heads, positions, head_dim]), the layout GroupQueryAttention takes.
 * Past and present are different buffers (present = past + the new positions): ORT only shares
 * them when both point at the same memory, which the Node binding cannot express, and copying a
 * few hundred KB per layer per token is negligible next to reading the layer's weights.
 */
import type { AttentionKind, ModelSpec, TensorRole } from '../families/types.ts';
import { layerRoles, layerShape, weightInput } from './layer-graph.ts';
import { attr, DataType, GraphBuilder } from './onnx-proto.ts';

export const KV_LAYER_IO = {
  x: 'x', // f32 [1, S, D]: layer input
  pastKey: 'past_key', // f32 [1, kvHeads, P, H]
  pastValue: 'past_value',
  seqlensK: 'seqlens_k', // int32 [1]: P + S − 1
  totalLen: 'total_len', // int32 scalar: P + S
  cos: 'cos', // f32 [positions ≥ P + S, H/2]
  sin: 'sin',
  y: 'y', // f32 [1, S, D]
  presentKey: 'present_key', // f32 [1, kvHeads, P + S, H]
  presentValue: 'present_value',
} as const;

export function buildKvLayerGraph(spec: ModelSpec, kind: AttentionKind): Uint8Array {
  const { hidden: D, heads, kvHeads, headDim: H } = spec;
  const F = DataType.FLOAT;
  const g = new GraphBuilder(`kv_decoder_layer_${kind}`);
  const x = g.input(KV_LAYER_IO.x, F, [1, 'S', D]);
  const pastK = g.input(KV_LAYER_IO.pastKey, F, [1, kvHeads, 'P', H]);
  const pastV = g.input(KV_LAYER_IO.pastValue, F, [1, kvHeads, 'P', H]);
  const seqlensK = g.input(KV_LAYER_IO.seqlensK, DataType.INT32, [1]);
  const totalLen = g.input(KV_LAYER_IO.totalLen, DataType.INT32, []);
  const cos = g.input(KV_LAYER_IO.cos, F, ['M', H / 2]);
  const sin = g.input(KV_LAYER_IO.sin, F, ['M', H / 2]);
  const w: Partial<Record<TensorRole, string>> = {};
  for (const role of layerRoles(spec)) w[role] = g.input(weightInput(role), F, layerShape(spec, role));
  const W = (role: TensorRole): string => w[role]!;

  const rms = (v: string, weight: string): string =>
    g.op('SimplifiedLayerNormalization', [v, weight], { axis: -1, epsilon: attr.float(spec.rmsEps), stash_type: 1 });
  const linear = (v: string, weight: TensorRole, bias: TensorRole | null): string => {
    const y = g.op('FusedMatMul', [v, W(weight)], { transB: 1 }, 'com.microsoft');
    return bias && w[bias] ? g.op('Add', [y, W(bias)]) : y;
  };
  const headNorm = (v: string, n: number, weight: TensorRole): string => {
    const split = g.op('Reshape', [v, g.constI64('heads_shape', [0, 0, n, H])]);
    return g.op('Reshape', [rms(split, W(weight)), g.constI64('flat_shape', [0, 0, n * H])]);
  };

  const h = rms(x, W('input_norm'));
  let q = linear(h, 'q', 'q_bias');
  let k = linear(h, 'k', 'k_bias');
  const v = linear(h, 'v', 'v_bias');
  if (spec.family.qkNorm) {
    q = headNorm(q, heads, 'q_norm');
    k = headNorm(k, kvHeads, 'k_norm');
  }
  const gqaAttrs: Record<string, ReturnType<typeof attr.int>> = {
    num_heads: attr.int(heads),
    kv_num_heads: attr.int(kvHeads),
    scale: attr.float(spec.attnScale),
    do_rotary: attr.int(1),
    rotary_interleaved: attr.int(0),
    local_window_size: attr.int(kind === 'sliding' && spec.slidingWindow != null ? spec.slidingWindow : -1),
  };
  if (spec.attnSoftcap != null) gqaAttrs.softcap = attr.float(spec.attnSoftcap);
  const [attn] = g.node('GroupQueryAttention', [q, k, v, pastK, pastV, seqlensK, totalLen, cos, sin], gqaAttrs, {
    domain: 'com.microsoft',
    outputs: ['attn', KV_LAYER_IO.presentKey, KV_LAYER_IO.presentValue],
  });
  g.output(KV_LAYER_IO.presentKey, F, [1, kvHeads, 'T', H]);
  g.output(KV_LAYER_IO.presentValue, F, [1, kvHeads, 'T', H]);
  let o = linear(attn!, 'o', 'o_bias');
  if (spec.family.sandwichNorms) o = rms(o, W('post_attn_norm'));
  const x1 = g.op('Add', [x, o]);

  const h2 = rms(x1, W(spec.family.sandwichNorms ? 'pre_ffn_norm' : 'post_attn_norm'));
  const gate = linear(h2, 'gate', 'gate_bias');
  const up = linear(h2, 'up', 'up_bias');
  const activated = spec.activation === 'silu' ? g.op('Mul', [gate, g.op('Sigmoid', [gate])]) : g.op('Gelu', [gate], { approximate: 'tanh' });
  let down = linear(g.op('Mul', [activated, up]), 'down', 'down_bias');
  if (spec.family.sandwichNorms) down = rms(down, W('post_ffn_norm'));
  g.node('Add', [x1, down], {}, { outputs: [KV_LAYER_IO.y] });
  g.output(KV_LAYER_IO.y, F, [1, 'S', D]);
  return g.toModel({ '': 20, 'com.microsoft': 1 });
}
