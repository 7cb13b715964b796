/**
 * A whole decoder with KV cache as one ONNX graph, weights as initializers, in the I/O layout
 * transformers.js feeds to decoder-only models (as in onnx-community / Xenova exports):
 *
 *   input_ids            int64 [batch_size, sequence_length]
 *   attention_mask       int64 [batch_size, total_sequence_length]
 *   position_ids         int64 [batch_size, sequence_length]
 *   past_key_values.{i}.key|value  f32 [batch_size, num_key_value_heads, past_sequence_length, head_dim]
 *   → logits             f32 [batch_size, sequence_length, vocab_size]
 *   → present.{i}.key|value        f32 [batch_size, num_key_value_heads, total_sequence_length, head_dim]
 *
 * transformers.js creates the empty cache from the declared input shapes (symbolic dims → batch
 * size or 0) and derives position_ids from attention_mask — 0-based, except for gemma3_text,
 * whose position_ids it makes 1-based (as the onnx-community Gemma 3 exports expect), so the
 * Gemma graph subtracts 1.
 *
 * The layer body is the engine's (layer-graph.ts) with the cache added: rotary by
 * com.microsoft:RotaryEmbedding on the given position_ids (rotate-half, HF's convention), then
 * com.microsoft:GroupQueryAttention over past + new keys (seqlens_k = Σ mask − 1,
 * total_sequence_length = mask width), which also applies the sliding window.
 */
import type { ModelSpec, TensorRole } from '../families/types.ts';
import { attr, DataType, GraphBuilder, type ExternalDataSink } from '../engine/onnx-proto.ts';
import { ropeTables } from '../engine/rope-tables.ts';
import { isNormRole, layerRoles } from '../engine/layer-graph.ts';

export const DECODER_IO = {
  inputIds: 'input_ids',
  attentionMask: 'attention_mask',
  positionIds: 'position_ids',
  pastKey: (i: number) => `past_key_values.${i}.key`,
  pastValue: (i: number) => `past_key_values.${i}.value`,
  logits: 'logits',
  presentKey: (i: number) => `present.${i}.key`,
  presentValue: (i: number) => `present.${i}.value`,
} as const;

/** Weights by role, f32, in HF layout ([out, in]); norm weights already include Gemma's +1. */
export interface DecoderWeights {
  embed: Float32Array;
  finalNorm: Float32Array;
  /** null when tied (the embedding serves as lm_head). */
  lmHead: Float32Array | null;
  layer(i: number): Promise<Map<TensorRole, Float32Array>>;
}

export interface DecoderGraphOptions {
  /** Rows of the rotary tables: positions the model can address. */
  ropePositions: number;
  /** transformers.js gives this model type 1-based position_ids. */
  oneBasedPositions: boolean;
  /**
   * Large initializers go here (ONNX external data) as they are added, instead of into the
   * returned message; each layer's weights can then be dropped once written.
   */
  external?: ExternalDataSink;
}

/** Sliding layers need their own rotary tables only when their rope differs. */
function separateSlidingRope(spec: ModelSpec): boolean {
  return JSON.stringify(spec.rope.full) !== JSON.stringify(spec.rope.sliding);
}

/** Bytes of the rotary-table initializers (cos and sin, f32 [positions, head_dim / 2]). */
export function ropeTableBytes(spec: ModelSpec, positions: number): number {
  return (separateSlidingRope(spec) ? 4 : 2) * positions * (spec.headDim / 2) * 4;
}

export async function buildDecoderGraph(spec: ModelSpec, w: DecoderWeights, opts: DecoderGraphOptions): Promise<Uint8Array> {
  const { hidden: D, heads, kvHeads, headDim: H, vocabSize: V } = spec;
  const F = DataType.FLOAT;
  const g = new GraphBuilder('decoder', opts.external ?? null);

  const ids = g.input(DECODER_IO.inputIds, DataType.INT64, ['batch_size', 'sequence_length']);
  const mask = g.input(DECODER_IO.attentionMask, DataType.INT64, ['batch_size', 'total_sequence_length']);
  let pos = g.input(DECODER_IO.positionIds, DataType.INT64, ['batch_size', 'sequence_length']);
  if (opts.oneBasedPositions) pos = g.op('Sub', [pos, g.constI64('one', [1], [])]);
  const pastShape = ['batch_size', kvHeads, 'past_sequence_length', H];
  const presentShape = ['batch_size', kvHeads, 'total_sequence_length', H];

  // GQA's sequence bookkeeping from the mask: last valid index per row, and the total width.
  const maskSum = g.op('ReduceSum', [mask, g.constI64('axis1', [1])], { keepdims: 0 });
  const seqlensK = g.op('Cast', [g.op('Sub', [maskSum, g.constI64('one_b', [1], [])])], { to: DataType.INT32 });
  const width = g.op('Gather', [g.op('Shape', [mask]), g.constI64('idx1', [1], [])], { axis: 0 });
  const totalLen = g.op('Cast', [width], { to: DataType.INT32 });

  const rope = {
    full: ropeTables(spec.rope.full, H, opts.ropePositions),
    sliding: ropeTables(spec.rope.sliding, H, opts.ropePositions),
  };
  const ropeInit = {
    full: { cos: g.initializer('cos_full', F, [opts.ropePositions, H / 2], rope.full.cos), sin: g.initializer('sin_full', F, [opts.ropePositions, H / 2], rope.full.sin) },
    sliding: !separateSlidingRope(spec)
      ? null
      : { cos: g.initializer('cos_sliding', F, [opts.ropePositions, H / 2], rope.sliding.cos), sin: g.initializer('sin_sliding', F, [opts.ropePositions, H / 2], rope.sliding.sin) },
  };

  const embed = g.initializer('embed_tokens', F, [V, D], w.embed);
  let x = g.op('Gather', [embed, ids], { axis: 0 });
  // transformers multiplies by the embedding dtype's sqrt(hidden): f32 here.
  if (spec.family.embedScale === 'sqrt-hidden') x = g.op('Mul', [x, g.constF32('embed_scale', [Math.fround(Math.sqrt(D))], [])]);

  const rms = (v: string, weight: string): string =>
    g.op('SimplifiedLayerNormalization', [v, weight], { axis: -1, epsilon: attr.float(spec.rmsEps), stash_type: 1 });
  const linear = (v: string, weight: string, bias: string | undefined): string => {
    const y = g.op('FusedMatMul', [v, weight], { transB: 1 }, 'com.microsoft');
    return bias ? g.op('Add', [y, bias]) : y;
  };
  const headNorm = (v: string, n: number, weight: string): string => {
    const split = g.op('Reshape', [v, g.constI64('heads_shape', [0, 0, n, H])]);
    return g.op('Reshape', [rms(split, weight), g.constI64('flat_shape', [0, 0, n * H])]);
  };
  const rotary = (v: string, n: number, t: { cos: string; sin: string }): string =>
    g.op('RotaryEmbedding', [v, pos, t.cos, t.sin], { interleaved: 0, num_heads: n }, 'com.microsoft');

  for (let l = 0; l < spec.layers; l++) {
    const weights = await w.layer(l);
    const W: Partial<Record<TensorRole, string>> = {};
    for (const role of layerRoles(spec)) {
      const data = weights.get(role)!;
      const dims = isNormRole(role) || role.endsWith('_bias') ? [data.length] : shapeOf(spec, role);
      W[role] = g.initializer(`l${l}_${role}`, F, dims, data);
    }
    const kind = spec.layerTypes[l]!;
    const ropeT = kind === 'sliding' && ropeInit.sliding ? ropeInit.sliding : ropeInit.full;

    const h = rms(x, W.input_norm!);
    let q = linear(h, W.q!, W.q_bias);
    let k = linear(h, W.k!, W.k_bias);
    const v = linear(h, W.v!, W.v_bias);
    if (spec.family.qkNorm) {
      q = headNorm(q, heads, W.q_norm!);
      k = headNorm(k, kvHeads, W.k_norm!);
    }
    q = rotary(q, heads, ropeT);
    k = rotary(k, kvHeads, ropeT);
    const pastK = g.input(DECODER_IO.pastKey(l), F, pastShape);
    const pastV = g.input(DECODER_IO.pastValue(l), F, pastShape);
    const gqa: Record<string, ReturnType<typeof attr.int>> = {
      num_heads: attr.int(heads),
      kv_num_heads: attr.int(kvHeads),
      scale: attr.float(spec.attnScale),
      do_rotary: attr.int(0),
      local_window_size: attr.int(kind === 'sliding' && spec.slidingWindow != null ? spec.slidingWindow : -1),
    };
    if (spec.attnSoftcap != null) gqa.softcap = attr.float(spec.attnSoftcap);
    const [attn] = g.node('GroupQueryAttention', [q, k, v, pastK, pastV, seqlensK, totalLen], gqa, {
      domain: 'com.microsoft',
      outputs: ['', DECODER_IO.presentKey(l), DECODER_IO.presentValue(l)].map((n, i) => (i === 0 ? `attn_${l}` : n)),
    });
    g.output(DECODER_IO.presentKey(l), F, presentShape);
    g.output(DECODER_IO.presentValue(l), F, presentShape);
    let o = linear(attn!, W.o!, W.o_bias);
    if (spec.family.sandwichNorms) o = rms(o, W.post_attn_norm!);
    const x1 = g.op('Add', [x, o]);

    const h2 = rms(x1, spec.family.sandwichNorms ? W.pre_ffn_norm! : W.post_attn_norm!);
    const gate = linear(h2, W.gate!, W.gate_bias);
    const up = linear(h2, W.up!, W.up_bias);
    const act = spec.activation === 'silu' ? g.op('Mul', [gate, g.op('Sigmoid', [gate])]) : g.op('Gelu', [gate], { approximate: 'tanh' });
    let down = linear(g.op('Mul', [act, up]), W.down!, W.down_bias);
    if (spec.family.sandwichNorms) down = rms(down, W.post_ffn_norm!);
    x = g.op('Add', [x1, down]);
  }

  const normed = rms(x, g.initializer('final_norm', F, [D], w.finalNorm));
  const head = w.lmHead ? g.initializer('lm_head', F, [V, D], w.lmHead) : embed;
  let logits = g.op('FusedMatMul', [normed, head], { transB: 1 }, 'com.microsoft');
  if (spec.finalLogitSoftcap != null) {
    const c = g.constF32('softcap', [spec.finalLogitSoftcap], []);
    logits = g.op('Mul', [g.op('Tanh', [g.op('Div', [logits, c])]), c]);
  }
  g.node('Identity', [logits], {}, { outputs: [DECODER_IO.logits] });
  g.output(DECODER_IO.logits, F, ['batch_size', 'sequence_length', V]);
  // Graph outputs must be declared in a stable order: logits first, then the cache (as exported
  // models list them).
  const logitsOut = g.outputs.pop()!;
  g.outputs.unshift(logitsOut);
  return g.toModel({ '': 20, 'com.microsoft': 1 });
}

function shapeOf(spec: ModelSpec, role: TensorRole): number[] {
  const { hidden: D, heads, kvHeads, headDim: H, intermediate: I } = spec;
  switch (role) {
    case 'q': return [heads * H, D];
    case 'k': case 'v': return [kvHeads * H, D];
    case 'o': return [D, heads * H];
    case 'gate': case 'up': return [I, D];
    case 'down': return [D, I];
    default: throw new Error(`${role} is not a matrix`);
  }
}
