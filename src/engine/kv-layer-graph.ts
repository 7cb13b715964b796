/**
 * One decoder layer with a KV cache, for generation (`kv-decoder.ts`): the layer of
 * decoder-layer.ts plus GroupQueryAttention's past/present inputs and outputs. Prefill runs the
 * prompt against an empty past, each decode step runs one token against the cache the previous
 * run returned.
 *
 * The cache is BNSH ([1, kv_heads, positions, head_dim]), the layout GroupQueryAttention takes.
 * Past and present are different buffers (present = past + the new positions): ORT only shares
 * them when both point at the same memory, which the Node binding cannot express, and copying a
 * few hundred KB per layer per token is negligible next to reading the layer's weights.
 */
import type { AttentionKind, ModelSpec } from '../families/types.ts';
import { emitDecoderLayer, layerWeightInputs } from './decoder-layer.ts';
import { DataType, GraphBuilder, OPSET } from './onnx-proto.ts';

export const KV_LAYER_IO = {
  x: 'x', // f32 [1, S, D]: layer input
  pastKey: 'past_key', // f32 [1, kvHeads, P, H]
  pastValue: 'past_value',
  seqlensK: 'seqlens_k', // int32 [1]: P + S − 1
  totalLen: 'total_len', // int32 scalar: P + S
  cos: 'cos', // f32 [positions ≥ P + S, rotary_dim/2]
  sin: 'sin',
  y: 'y', // f32 [1, S, D]
  presentKey: 'present_key', // f32 [1, kvHeads, P + S, H]
  presentValue: 'present_value',
} as const;

export function buildKvLayerGraph(spec: ModelSpec, kind: AttentionKind): Uint8Array {
  const { hidden: D, kvHeads, headDim: H, rotaryDim: R } = spec;
  const F = DataType.FLOAT;
  const g = new GraphBuilder(`kv_decoder_layer_${kind}`);
  const x = g.input(KV_LAYER_IO.x, F, [1, 'S', D]);
  const pastKey = g.input(KV_LAYER_IO.pastKey, F, [1, kvHeads, 'P', H]);
  const pastValue = g.input(KV_LAYER_IO.pastValue, F, [1, kvHeads, 'P', H]);
  const seqlensK = g.input(KV_LAYER_IO.seqlensK, DataType.INT32, [1]);
  const totalLen = g.input(KV_LAYER_IO.totalLen, DataType.INT32, []);
  const cos = g.input(KV_LAYER_IO.cos, F, ['M', R / 2]);
  const sin = g.input(KV_LAYER_IO.sin, F, ['M', R / 2]);
  const w = layerWeightInputs(g, spec, F);
  const cache = { pastKey, pastValue, presentKey: KV_LAYER_IO.presentKey, presentValue: KV_LAYER_IO.presentValue };
  emitDecoderLayer(g, spec, w, { kind, x, seqlensK, totalLen, rotary: { cos, sin }, cache, y: KV_LAYER_IO.y, attnName: 'attn' });
  g.output(KV_LAYER_IO.presentKey, F, [1, kvHeads, 'T', H]);
  g.output(KV_LAYER_IO.presentValue, F, [1, kvHeads, 'T', H]);
  g.output(KV_LAYER_IO.y, F, [1, 'S', D]);
  return g.toModel(OPSET);
}
