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
 * Each layer is the engine's (engine/decoder-layer.ts) with the cache and explicit position_ids:
 * rotary by com.microsoft:RotaryEmbedding on the given positions, then GroupQueryAttention over
 * past + new keys (seqlens_k = Σ mask − 1, total_sequence_length = mask width).
 */
import { layerShape } from '../families/templates.ts';
import type { ModelSpec, TensorRole } from '../families/types.ts';
import { emitDecoderLayer, type LayerWeights } from '../engine/decoder-layer.ts';
import { emitLogitTransform } from '../engine/head-graph.ts';
import { attr, DataType, GraphBuilder, OPSET, type ExternalDataSink } from '../engine/onnx-proto.ts';
import { ropeTables } from '../engine/rope-tables.ts';

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
  return (separateSlidingRope(spec) ? 4 : 2) * positions * (spec.rotaryDim / 2) * 4;
}

export async function buildDecoderGraph(spec: ModelSpec, w: DecoderWeights, opts: DecoderGraphOptions): Promise<Uint8Array> {
  const { hidden: D, kvHeads, headDim: H, rotaryDim: R, vocabSize: V } = spec;
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

  const table = (kind: 'full' | 'sliding') => {
    const t = ropeTables(spec.rope[kind], R, opts.ropePositions);
    return { cos: g.initializer(`cos_${kind}`, F, [opts.ropePositions, R / 2], t.cos), sin: g.initializer(`sin_${kind}`, F, [opts.ropePositions, R / 2], t.sin) };
  };
  const full = table('full');
  const rope = { full, sliding: separateSlidingRope(spec) ? table('sliding') : full };

  const embed = g.initializer('embed_tokens', F, [V, D], w.embed);
  let x = g.op('Gather', [embed, ids], { axis: 0 });
  if (spec.embedMultiplier !== 1) x = g.op('Mul', [x, g.constF32('embed_scale', [spec.embedMultiplier], [])]);

  for (let l = 0; l < spec.layers; l++) {
    const weights = await w.layer(l);
    const W: LayerWeights = {};
    for (const role of spec.layerRoles) W[role] = g.initializer(`l${l}_${role}`, F, layerShape(spec, role), weights.get(role)!);
    const kind = spec.layerTypes[l]!;
    const cache = {
      pastKey: g.input(DECODER_IO.pastKey(l), F, pastShape),
      pastValue: g.input(DECODER_IO.pastValue(l), F, pastShape),
      presentKey: DECODER_IO.presentKey(l),
      presentValue: DECODER_IO.presentValue(l),
    };
    x = emitDecoderLayer(g, spec, W, { kind, x, seqlensK, totalLen, rotary: { ...rope[kind], positions: pos }, cache, attnName: `attn_${l}` }).y;
    g.output(cache.presentKey, F, presentShape);
    g.output(cache.presentValue, F, presentShape);
  }

  const normed = g.op('SimplifiedLayerNormalization', [x, g.initializer('final_norm', F, [D], w.finalNorm)], { axis: -1, epsilon: attr.float(spec.rmsEps), stash_type: 1 });
  const head = w.lmHead ? g.initializer('lm_head', F, [V, D], w.lmHead) : embed;
  const logits = emitLogitTransform(g, spec, g.op('FusedMatMul', [normed, head], { transB: 1 }, 'com.microsoft'));
  g.node('Identity', [logits], {}, { outputs: [DECODER_IO.logits] });
  g.output(DECODER_IO.logits, F, ['batch_size', 'sequence_length', V]);
  // Graph outputs must be declared in a stable order: logits first, then the cache (as exported
  // models list them).
  const logitsOut = g.outputs.pop()!;
  g.outputs.unshift(logitsOut);
  return g.toModel(OPSET);
}
