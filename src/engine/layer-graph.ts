/**
 * The ONNX graph of one decoder layer, built from ModelSpec flags (never from family names).
 *
 * Weights are graph INPUTS in Hugging Face's [out, in] layout: onnxruntime-node feeds them
 * zero-copy, so one graph per layer shape serves every layer of a model, and projections use
 * com.microsoft:FusedMatMul(transB=1), which hands the transposition to the GEMM instead of
 * copying the weight.
 *
 * Attention is com.microsoft:GroupQueryAttention: causal, GQA, rotary from our cos/sin tables
 * (rotary_interleaved=0 = transformers' rotate_half), sliding window (`local_window_size` = w:
 * key s visible from query t iff t − s < w, transformers' rule) and softcap — all measured to match
 * transformers (see ENGINE-FACTS.md) and far faster than a MatMul/Softmax composition.
 *
 * The residual stream, every norm and the act² statistic stay in f32; with precision 'f16' only
 * the projections, attention and the FFN body run in f16 (casts are cheap next to the GEMMs).
 */
import type { AttentionKind, ModelSpec, TensorRole } from '../families/types.ts';
import { attr, DataType, GraphBuilder, type DataTypeCode } from './onnx-proto.ts';

export type Precision = 'f32' | 'f16';

export interface LayerGraphOptions {
  kind: AttentionKind;
  /**
   * Emit the `act2` output (Σ_t w_t·(act(gate)·up)² per channel, for each of K weight vectors) and
   * take the `tokw` input.
   */
  act2: boolean;
  /** Emit the `gram` output: Σ_t a_t a_tᵀ over every position ([I, I], f32), for the down_proj refit. */
  gram?: boolean;
  precision: Precision;
}

/** Names of the graph's non-weight inputs and outputs. */
export const LAYER_IO = {
  x: 'x', // f32 [B, S, D]: layer input (residual stream)
  tokw: 'tokw', // f32 [K, B, S]: K per-token weight vectors of act2 (K = 1 for plain act2)
  seqlensK: 'seqlens_k', // int32 [B]: S − 1 per sequence (GQA's "total length − 1")
  totalLen: 'total_len', // int32 scalar: S
  cos: 'cos', // T [P ≥ S, head_dim/2]
  sin: 'sin',
  y: 'y', // f32 [B, S, D]: layer output
  act2: 'act2', // f32 [K, I]
  gram: 'gram', // f32 [I, I]
} as const;

/** Graph input name of a weight: the role prefixed, so names never collide with activations. */
export const weightInput = (role: TensorRole): string => `w_${role}`;

/** Roles the layer graph takes as inputs for this spec, in a fixed order. */
export function layerRoles(spec: ModelSpec): TensorRole[] {
  const roles: TensorRole[] = ['input_norm', 'post_attn_norm'];
  if (spec.family.sandwichNorms) roles.push('pre_ffn_norm', 'post_ffn_norm');
  roles.push('q', 'k', 'v', 'o');
  if (spec.biases.qkv) roles.push('q_bias', 'k_bias', 'v_bias');
  if (spec.biases.o) roles.push('o_bias');
  if (spec.family.qkNorm) roles.push('q_norm', 'k_norm');
  roles.push('gate', 'up', 'down');
  if (spec.biases.mlp) roles.push('gate_bias', 'up_bias', 'down_bias');
  return roles;
}

/** Norm weights stay f32 in every precision (they feed f32 norms); the rest follow the precision. */
export function isNormRole(role: TensorRole): boolean {
  return role.endsWith('_norm');
}

/** Expected shape of each layer tensor, for validation and for the graph's input declarations. */
export function layerShape(spec: ModelSpec, role: TensorRole): number[] {
  const { hidden: D, heads, kvHeads, headDim: H, intermediate: I } = spec;
  switch (role) {
    case 'input_norm':
    case 'post_attn_norm':
    case 'pre_ffn_norm':
    case 'post_ffn_norm':
    case 'o_bias':
    case 'down_bias':
      return [D];
    case 'q':
      return [heads * H, D];
    case 'k':
    case 'v':
      return [kvHeads * H, D];
    case 'o':
      return [D, heads * H];
    case 'q_bias':
      return [heads * H];
    case 'k_bias':
    case 'v_bias':
      return [kvHeads * H];
    case 'q_norm':
    case 'k_norm':
      return [H];
    case 'gate':
    case 'up':
      return [I, D];
    case 'down':
      return [D, I];
    case 'gate_bias':
    case 'up_bias':
      return [I];
    default:
      throw new Error(`${role} is not a layer tensor`);
  }
}

export function buildLayerGraph(spec: ModelSpec, opts: LayerGraphOptions): Uint8Array {
  const { hidden: D, heads, kvHeads, headDim: H, intermediate: I } = spec;
  const F = DataType.FLOAT;
  const T: DataTypeCode = opts.precision === 'f16' ? DataType.FLOAT16 : DataType.FLOAT;
  const g = new GraphBuilder(`decoder_layer_${opts.kind}`);

  const x = g.input(LAYER_IO.x, F, ['B', 'S', D]);
  const tokw = opts.act2 ? g.input(LAYER_IO.tokw, F, ['K', 'B', 'S']) : '';
  const seqlensK = g.input(LAYER_IO.seqlensK, DataType.INT32, ['B']);
  const totalLen = g.input(LAYER_IO.totalLen, DataType.INT32, []);
  const cos = g.input(LAYER_IO.cos, T, ['P', H / 2]);
  const sin = g.input(LAYER_IO.sin, T, ['P', H / 2]);
  const w: Partial<Record<TensorRole, string>> = {};
  for (const role of layerRoles(spec)) {
    w[role] = g.input(weightInput(role), isNormRole(role) ? F : T, layerShape(spec, role));
  }
  const W = (role: TensorRole): string => w[role]!;

  const toT = (v: string): string => (T === F ? v : g.op('Cast', [v], { to: T }));
  const toF = (v: string): string => (T === F ? v : g.op('Cast', [v], { to: F }));
  const rms = (v: string, weight: string): string =>
    g.op('SimplifiedLayerNormalization', [v, weight], { axis: -1, epsilon: attr.float(spec.rmsEps), stash_type: 1 });
  const linear = (v: string, weight: TensorRole, bias: TensorRole | null): string => {
    const y = g.op('FusedMatMul', [v, W(weight)], { transB: 1 }, 'com.microsoft');
    return bias && w[bias] ? g.op('Add', [y, W(bias)]) : y;
  };
  /** Per-head RMSNorm (Qwen3, Gemma 3): over head_dim of [B, S, n·H], in f32. */
  const headNorm = (v: string, n: number, weight: TensorRole): string => {
    const split = g.op('Reshape', [toF(v), g.constI64('heads_shape', [0, 0, n, H])]);
    const normed = rms(split, W(weight));
    return toT(g.op('Reshape', [normed, g.constI64('flat_shape', [0, 0, n * H])]));
  };

  // --- attention sublayer
  const h = toT(rms(x, W('input_norm')));
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
    local_window_size: attr.int(opts.kind === 'sliding' && spec.slidingWindow != null ? spec.slidingWindow : -1),
  };
  if (spec.attnSoftcap != null) gqaAttrs.softcap = attr.float(spec.attnSoftcap);
  const [attn] = g.node('GroupQueryAttention', [q, k, v, '', '', seqlensK, totalLen, cos, sin], gqaAttrs, {
    domain: 'com.microsoft',
    outputs: 3,
  });
  let o = toF(linear(attn!, 'o', 'o_bias'));
  if (spec.family.sandwichNorms) o = rms(o, W('post_attn_norm'));
  const x1 = g.op('Add', [x, o]);

  // --- FFN sublayer
  const h2 = toT(rms(x1, W(spec.family.sandwichNorms ? 'pre_ffn_norm' : 'post_attn_norm')));
  const gate = linear(h2, 'gate', 'gate_bias');
  const up = linear(h2, 'up', 'up_bias');
  const activated =
    spec.activation === 'silu' ? g.op('Mul', [gate, g.op('Sigmoid', [gate])]) : g.op('Gelu', [gate], { approximate: 'tanh' });
  const a = g.op('Mul', [activated, up]);
  let down = toF(linear(a, 'down', 'down_bias'));
  if (spec.family.sandwichNorms) down = rms(down, W('post_ffn_norm'));
  g.node('Add', [x1, down], {}, { outputs: [LAYER_IO.y] });
  g.output(LAYER_IO.y, F, ['B', 'S', D]);

  if (opts.act2) {
    // Σ_t w_kt·a_t² as a [K, B·S] × [B·S, I] product: one GEMM for all K weight vectors, so a
    // planner scoring several vocabulary cuts pays one pass (K ≪ I keeps it cheap next to the FFN).
    const af = toF(a);
    const sq = g.op('Reshape', [g.op('Mul', [af, af]), g.constI64('rows_i', [-1, I])]);
    const wrows = g.op('Reshape', [tokw, g.constI64('rows_k', [0, -1])]);
    g.node('MatMul', [wrows, sq], {}, { outputs: [LAYER_IO.act2] });
    g.output(LAYER_IO.act2, F, ['K', I]);
  }
  if (opts.gram) {
    // AᵀA with A = [B·S, I]: Gemm's transA hands the transposition to the GEMM (no copy of A).
    const rows = g.op('Reshape', [toF(a), g.constI64('gram_rows', [-1, I])]);
    g.node('Gemm', [rows, rows], { transA: attr.int(1) }, { outputs: [LAYER_IO.gram] });
    g.output(LAYER_IO.gram, F, [I, I]);
  }
  return g.toModel({ '': 20, 'com.microsoft': 1 });
}
