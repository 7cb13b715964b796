/**
 * The decoder layer, once, for every graph that contains one: the calibration graph
 * (layer-graph.ts), the KV-cache decoder (kv-layer-graph.ts) and the ONNX export
 * (export/onnx-decoder.ts). Those add only their own inputs and outputs.
 *
 * It reads like nanoGPT's Block.forward — x + attn(norm(x)), then x + mlp(norm(x)) — and every
 * family difference is a step that the descriptor's tensors or the spec's numbers switch on:
 * which norms exist (pre-norm, Gemma's sandwich, OLMo 2's post-norms only), fused or separate
 * projections (Phi-3's qkv_proj and gate_up_proj), q/k norm per head or over the projection,
 * partial rotary, attention scale and soft-capping, residual multipliers (Granite).
 *
 * Weights are in Hugging Face's [out, in] layout, used by com.microsoft:FusedMatMul(transB=1),
 * which hands the transposition to the GEMM (on WebGPU, which lacks it: Transpose + MatMul). Attention is com.microsoft:GroupQueryAttention:
 * causal, GQA, sliding window (`local_window_size` = w: key s visible from query t iff t − s < w,
 * transformers' rule) and softcap, checked against transformers by test/engine/golden.test.ts. Rotary
 * is GQA's own (rotary_interleaved=0 = transformers' rotate_half) when it rotates whole heads at
 * positions 0…; otherwise com.microsoft:RotaryEmbedding runs first, which takes explicit
 * position ids (the export) and a partial rotary dimension (GQA needs it to be a multiple of 16).
 *
 * The residual stream and every norm stay in f32; with a 16-bit compute type only projections,
 * attention and the FFN body run in it.
 */
import { isNormRole, normAt, stackedShape } from '../families/templates.ts';
import type { AttentionKind, ModelSpec, NormPlace, TensorRole } from '../families/types.ts';
import { attr, DataType, type DataTypeCode, type GraphBuilder } from './onnx-proto.ts';
import { int8Shapes, isInt8Role, scaleInput } from './int8-weights.ts';

/**
 * Name of the attention node of the calibration graph (one decoder layer, `attnName` not given;
 * the KV-cache and export graphs keep generated names). session-options.ts keeps it on the CPU
 * provider under `--device webgpu`: see there.
 */
export const ATTENTION_NODE = 'attention';

/** Graph value of each layer weight, by role (only the roles the spec has). */
export type LayerWeights = Partial<Record<TensorRole, string>>;

export interface DecoderLayerIO {
  kind: AttentionKind;
  /** f32 [B, S, D]: the residual stream entering the layer. */
  x: string;
  /** int32 [B]: index of the last key per sequence (GQA's "total length − 1"). */
  seqlensK: string;
  /** int32 scalar: keys per sequence, past included. */
  totalLen: string;
  /** Rotary tables [positions, rotary_dim/2], and explicit int64 [B, S] position ids if the graph has them. */
  rotary: { cos: string; sin: string; positions?: string };
  /** Past keys/values in (BNSH) and the names of the present ones out; absent: no cache. */
  cache?: { pastKey: string; pastValue: string; presentKey: string; presentValue: string };
  /** Name to give the layer output (a graph output), else a generated one. */
  y?: string;
  /** Compute type of projections, attention and FFN; default f32. */
  compute?: DataTypeCode;
  /** Name of the attention output value (exports name it per layer), else a generated one. */
  attnName?: string;
  /**
   * Projections as Transpose + MatMul instead of FusedMatMul(transB): the WebGPU provider has no
   * FusedMatMul kernel, so they would fall back to the CPU provider and the GPU would idle.
   */
  transposeMatMul?: boolean;
  /** A MoE: also emit `weightedExpertInput` (the calibration graph's per-expert Gram sums). */
  weightedExperts?: boolean;
  /**
   * Run the dense FFN sublayer on these row blocks of the flattened [B·S, D] stream (sizes sum to
   * B·S; the caller knows the batch): the FFN is per position, so blocking changes no value, and
   * it keeps each [rows, I] intermediate small enough to be reused instead of freshly mapped by
   * every run (docs/performance.md §1c). Attention always sees whole sequences.
   */
  ffnRowBlocks?: number[];
  /**
   * Roles whose weight is int8 [in, out] with these per-row scale values (int8-weights.ts): their
   * projections run as DynamicQuantizeMatMul on f32 activations. The compute type must be f32.
   */
  int8Scales?: LayerWeights;
}

export interface DecoderLayerValues {
  /** f32 [B, S, D]: the layer output. */
  y: string;
  /**
   * [B, S, I] in the compute type: act(gate)·up, the input of down_proj (act², Gram sums). A MoE
   * gives [B·S, experts, I], zero where the token is not routed to the expert; both reshape to
   * rows of the FFN channel space (templates.ffnWidth). With `ffnRowBlocks`, one [rows, I] value
   * per block, in row order.
   */
  ffnInput: string[];
  /**
   * A MoE only, expert-major [experts, B·S, I]: each expert's down_proj input scaled by the token's
   * routing weight for that expert (zero where not routed). W_e of it is the expert's share of
   * the block output, so its Gram sums give the refit the block's own error (docs/refit.md).
   */
  weightedExpertInput?: string;
}

/** Graph input name of a weight: the role prefixed, so names never collide with activations. */
export const weightInput = (role: TensorRole): string => `w_${role}`;

/**
 * Declares the spec's layer weights as graph inputs: norms f32, the rest in `compute`; with
 * `int8`, the projections int8-weights.ts names are int8 [in, out] and their scales go to `scales`.
 */
export function layerWeightInputs(g: GraphBuilder, spec: ModelSpec, compute: DataTypeCode, int8?: { scales: LayerWeights }): LayerWeights {
  const w: LayerWeights = {};
  for (const role of spec.layerRoles) {
    if (int8 && isInt8Role(spec, role)) {
      const shapes = int8Shapes(stackedShape(spec, role));
      w[role] = g.input(weightInput(role), DataType.INT8, shapes.q);
      int8.scales[role] = g.input(scaleInput(role), DataType.FLOAT, shapes.scale);
    } else w[role] = g.input(weightInput(role), isNormRole(role) ? DataType.FLOAT : compute, stackedShape(spec, role));
  }
  return w;
}

export function emitDecoderLayer(g: GraphBuilder, spec: ModelSpec, w: LayerWeights, io: DecoderLayerIO): DecoderLayerValues {
  const F = DataType.FLOAT;
  const T = io.compute ?? F;
  const { heads, kvHeads, headDim: H, intermediate: I } = spec;
  const W = (role: TensorRole): string => {
    const v = w[role];
    if (!v) throw new Error(`layer weight ${role} missing`);
    return v;
  };
  const toT = (v: string): string => (T === F ? v : g.op('Cast', [v], { to: T }));
  const toF = (v: string): string => (T === F ? v : g.op('Cast', [v], { to: F }));
  const rms = (v: string, weight: string): string =>
    g.op('SimplifiedLayerNormalization', [v, weight], { axis: -1, epsilon: attr.float(spec.rmsEps), stash_type: 1 });
  /** The norm at this place of the layer, in f32, when the family has one there. */
  const norm = (v: string, place: NormPlace): string => {
    const role = normAt(spec.family, place);
    return role ? rms(toF(v), W(role)) : v;
  };
  const linear = (v: string, weight: TensorRole, bias?: TensorRole): string => {
    const scale = io.int8Scales?.[weight];
    const y = scale
      ? g.op('DynamicQuantizeMatMul', [v, W(weight), scale], {}, 'com.microsoft')
      : io.transposeMatMul
      ? g.op('MatMul', [v, g.op('Transpose', [W(weight)], { perm: stackedShape(spec, weight).length === 3 ? [0, 2, 1] : [1, 0] })])
      : g.op('FusedMatMul', [v, W(weight)], { transB: 1 }, 'com.microsoft');
    return bias && w[bias] ? g.op('Add', [y, W(bias)]) : y;
  };
  const split = (v: string, sizes: number[]): string[] => g.node('Split', [v, g.constI64('split_sizes', sizes)], { axis: -1 }, { outputs: sizes.length });
  /** Sublayer output into the residual stream (Granite scales it first). */
  const residual = (stream: string, out: string, name?: string): string => {
    const scaled = spec.residualMultiplier === 1 ? out : g.op('Mul', [out, g.constF32('residual_multiplier', [spec.residualMultiplier], [])]);
    return g.node('Add', [stream, scaled], {}, { outputs: name ? [name] : 1 })[0]!;
  };

  // --- q/k norm: per head over head_dim (Qwen3, Gemma 3), or over the whole projection (OLMo 2)
  const qkNorm = (v: string, n: number, role: TensorRole): string => {
    if (!w[role]) return v;
    if (spec.family.qkNormScope === 'projection') return toT(rms(toF(v), W(role)));
    const perHead = g.op('Reshape', [toF(v), g.constI64('heads_shape', [0, 0, n, H])]);
    return toT(g.op('Reshape', [rms(perHead, W(role)), g.constI64('flat_shape', [0, 0, n * H])]));
  };

  // --- rotary outside GQA: explicit positions (export) or a partial rotary dimension
  const partial = spec.rotaryDim < H;
  const explicitRotary = io.rotary.positions !== undefined || partial;
  const rotate = (v: string, n: number, positions: string): string => {
    const attrs: Record<string, ReturnType<typeof attr.int>> = { interleaved: attr.int(0), num_heads: attr.int(n) };
    if (partial) attrs.rotary_embedding_dim = attr.int(spec.rotaryDim);
    return g.op('RotaryEmbedding', [v, positions, io.rotary.cos, io.rotary.sin], attrs, 'com.microsoft');
  };
  const positions = (): string => {
    if (io.rotary.positions) return io.rotary.positions;
    // The new tokens sit after the past ones: RotaryEmbedding takes a [1] start offset.
    const S = g.op('Gather', [g.op('Shape', [io.x]), g.constI64('seq_axis', [1], [])], { axis: 0 });
    const start = g.op('Sub', [g.op('Cast', [io.totalLen], { to: DataType.INT64 }), S]);
    return g.op('Reshape', [start, g.constI64('one_shape', [1])]);
  };

  const attention = (h: string): string => {
    let q: string, k: string, v: string;
    if (w.qkv) [q, k, v] = split(linear(h, 'qkv'), [heads * H, kvHeads * H, kvHeads * H]) as [string, string, string];
    else [q, k, v] = [linear(h, 'q', 'q_bias'), linear(h, 'k', 'k_bias'), linear(h, 'v', 'v_bias')];
    q = qkNorm(q, heads, 'q_norm');
    k = qkNorm(k, kvHeads, 'k_norm');
    if (explicitRotary) {
      const pos = positions();
      q = rotate(q, heads, pos);
      k = rotate(k, kvHeads, pos);
    }
    const gqa: Record<string, ReturnType<typeof attr.int>> = {
      num_heads: attr.int(heads),
      kv_num_heads: attr.int(kvHeads),
      scale: attr.float(spec.attnScale),
      do_rotary: attr.int(explicitRotary ? 0 : 1),
      local_window_size: attr.int(io.kind === 'sliding' && spec.slidingWindow != null ? spec.slidingWindow : -1),
    };
    if (!explicitRotary) gqa.rotary_interleaved = attr.int(0);
    if (spec.attnSoftcap != null) gqa.softcap = attr.float(spec.attnSoftcap);
    const c = io.cache;
    const inputs = [q, k, v, c?.pastKey ?? '', c?.pastValue ?? '', io.seqlensK, io.totalLen];
    if (!explicitRotary) inputs.push(io.rotary.cos, io.rotary.sin);
    const outputs = c ? [io.attnName ?? `attn_${g.nodes.length}`, c.presentKey, c.presentValue] : 3;
    const name = io.attnName === undefined ? ATTENTION_NODE : undefined;
    const [attn] = g.node('GroupQueryAttention', inputs, gqa, { domain: 'com.microsoft', outputs, name });
    return toF(linear(attn!, 'o', 'o_bias'));
  };

  let ffnInput = '';
  let weightedExpertInput: string | undefined;
  const mlp = (h: string): string => {
    const [gate, up] = w.gate_up ? (split(linear(h, 'gate_up'), [I, I]) as [string, string]) : [linear(h, 'gate', 'gate_bias'), linear(h, 'up', 'up_bias')];
    const activated = spec.activation === 'silu' ? g.op('Mul', [gate, g.op('Sigmoid', [gate])]) : g.op('Gelu', [gate], { approximate: 'tanh' });
    ffnInput = g.op('Mul', [activated, up]);
    return toF(linear(ffnInput, 'down', 'down_bias'));
  };

  // --- Mixtral's sparse MoE block, as transformers' MixtralSparseMoeBlock: router logits,
  // softmax in f32, top-k, the k weights renormalised to sum 1, then Σ_k w_k · expert_k(h) with
  // expert(h) = w2(silu(w1 h) · w3 h). Every expert runs on every token (dense [E, N, I]) and is
  // masked by the routing: E/k times the routed FLOPs, exact, and one batched GEMM per weight; the
  // intermediate is E·N·I per layer, bounded by the batch the caller feeds.
  const moe = (h: string): string => {
    const { experts: E, topK } = spec.moe!;
    const rows = g.op('Reshape', [h, g.constI64('moe_rows', [1, -1, spec.hidden])]); // [1, N, D]
    const probs = g.op('Softmax', [toF(g.op('Reshape', [linear(h, 'router'), g.constI64('router_rows', [-1, E])]))], { axis: -1 }); // [N, E]
    const [top, chosen] = g.node('TopK', [probs, g.constI64('top_k', [topK])], { axis: -1, largest: 1, sorted: 1 }, { outputs: 2 }) as [string, string];
    const weights = g.op('Div', [top, g.op('ReduceSum', [top, g.constI64('last_axis', [-1])], { keepdims: 1 })]);
    const zeros = g.op('Mul', [probs, g.constF32('zero', [0], [])]);
    const ones = g.op('Expand', [g.constF32('one', [1], []), g.op('Shape', [top])]);
    const perExpert = (v: string): string => g.op('Unsqueeze', [g.op('Transpose', [v], { perm: [1, 0] }), g.constI64('last_axis', [-1])]); // [E, N, 1]
    const routeWeight = toT(perExpert(g.op('ScatterElements', [zeros, chosen, weights], { axis: 1 })));
    const routed = toT(perExpert(g.op('ScatterElements', [zeros, chosen, ones], { axis: 1 })));
    const gate = linear(rows, 'expert_gate'); // [E, N, I]
    const activated = spec.activation === 'silu' ? g.op('Mul', [gate, g.op('Sigmoid', [gate])]) : g.op('Gelu', [gate], { approximate: 'tanh' });
    const inner = g.op('Mul', [g.op('Mul', [activated, linear(rows, 'expert_up')]), routed]);
    if (io.weightedExperts) weightedExpertInput = g.op('Mul', [inner, routeWeight]);
    ffnInput = g.op('Transpose', [inner], { perm: [1, 0, 2] }); // [N, E, I]
    const summed = g.op('ReduceSum', [g.op('Mul', [linear(inner, 'expert_down'), routeWeight]), g.constI64('expert_axis', [0])], { keepdims: 0 });
    return toF(g.op('Reshape', [summed, g.op('Shape', [h])]));
  };

  const ffnBlock = (x: string, name?: string): string => {
    const h = toT(norm(x, 'ffn_in'));
    return residual(x, norm(spec.moe ? moe(h) : mlp(h), 'ffn_out'), name);
  };

  // --- Block.forward
  const x1 = residual(io.x, norm(attention(toT(norm(io.x, 'attn_in'))), 'attn_out'));
  const blocks = io.ffnRowBlocks;
  if (!blocks || blocks.length < 2 || spec.moe) return { y: ffnBlock(x1, io.y), ffnInput: [ffnInput], weightedExpertInput };
  const rows = g.node('Split', [g.op('Reshape', [x1, g.constI64('rows_d', [-1, spec.hidden])]), g.constI64('row_blocks', blocks)], { axis: 0 }, { outputs: blocks.length });
  const inputs: string[] = [];
  const outs = rows.map((r) => {
    const y = ffnBlock(r);
    inputs.push(ffnInput);
    return y;
  });
  const y = g.node('Reshape', [g.op('Concat', outs, { axis: 0 }), g.op('Shape', [io.x])], {}, { outputs: io.y ? [io.y] : 1 })[0]!;
  return { y, ffnInput: inputs, weightedExpertInput };
}
