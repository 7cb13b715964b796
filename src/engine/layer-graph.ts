/**
 * The calibration graph of one decoder layer: the layer (decoder-layer.ts) over a batch of
 * whole sequences, no cache, plus the act² statistic of the FFN.
 *
 * Weights are graph INPUTS: onnxruntime-node feeds them zero-copy, so one graph per layer shape
 * serves every layer of a model. The act² sums stay in f32 whatever the compute precision.
 */
import type { AttentionKind, ModelSpec } from '../families/types.ts';
import { expertCount, ffnWidth } from '../families/templates.ts';
import { emitDecoderLayer, layerWeightInputs } from './decoder-layer.ts';
import { attr, DataType, GraphBuilder, OPSET, type DataTypeCode } from './onnx-proto.ts';

export type Precision = 'f32' | 'f16';

export interface LayerGraphOptions {
  kind: AttentionKind;
  /**
   * Emit the `act2` output (Σ_t w_t·(act(gate)·up)² per channel, for each of K weight vectors) and
   * take the `tokw` input.
   */
  act2: boolean;
  /**
   * Emit the `gram` output: Σ_t a_t a_tᵀ over every position ([I, I], f32), for the down_proj refit;
   * a MoE gives one per expert over the positions routed to it, each a_t scaled by the token's
   * routing weight for the expert ([experts, I, I]).
   */
  gram?: boolean;
  precision: Precision;
  /** The provider the graph is for: WebGPU gets its projections as Transpose + MatMul (decoder-layer.ts). */
  device?: 'cpu' | 'webgpu';
}

/** Names of the graph's non-weight inputs and outputs. */
export const LAYER_IO = {
  x: 'x', // f32 [B, S, D]: layer input (residual stream)
  tokw: 'tokw', // f32 [K, B, S]: K per-token weight vectors of act2 (K = 1 for plain act2)
  seqlensK: 'seqlens_k', // int32 [B]: S − 1 per sequence (GQA's "total length − 1")
  totalLen: 'total_len', // int32 scalar: S
  cos: 'cos', // T [P ≥ S, rotary_dim/2]
  sin: 'sin',
  y: 'y', // f32 [B, S, D]: layer output
  act2: 'act2', // f32 [K, I] (a MoE: [K, experts·I], see templates.ffnWidth)
  gram: 'gram', // f32 [I, I] (a MoE: [experts, I, I])
} as const;

export function buildLayerGraph(spec: ModelSpec, opts: LayerGraphOptions): Uint8Array {
  const { hidden: D, rotaryDim: R } = spec;
  const I = ffnWidth(spec);
  const F = DataType.FLOAT;
  const T: DataTypeCode = opts.precision === 'f16' ? DataType.FLOAT16 : DataType.FLOAT;
  const g = new GraphBuilder(`decoder_layer_${opts.kind}`);

  const x = g.input(LAYER_IO.x, F, ['B', 'S', D]);
  const tokw = opts.act2 ? g.input(LAYER_IO.tokw, F, ['K', 'B', 'S']) : '';
  const seqlensK = g.input(LAYER_IO.seqlensK, DataType.INT32, ['B']);
  const totalLen = g.input(LAYER_IO.totalLen, DataType.INT32, []);
  const cos = g.input(LAYER_IO.cos, T, ['P', R / 2]);
  const sin = g.input(LAYER_IO.sin, T, ['P', R / 2]);
  const w = layerWeightInputs(g, spec, T);
  const layer = emitDecoderLayer(g, spec, w, {
    kind: opts.kind, x, seqlensK, totalLen, rotary: { cos, sin }, y: LAYER_IO.y, compute: T, weightedExperts: !!opts.gram, transposeMatMul: opts.device === 'webgpu',
  });
  g.output(LAYER_IO.y, F, ['B', 'S', D]);

  if (opts.act2) {
    // Σ_t w_kt·a_t² as a [K, B·S] × [B·S, I] product: one GEMM for all K weight vectors, so a
    // planner scoring several vocabulary cuts pays one pass (K ≪ I keeps it cheap next to the FFN).
    const af = T === F ? layer.ffnInput : g.op('Cast', [layer.ffnInput], { to: F });
    const sq = g.op('Reshape', [g.op('Mul', [af, af]), g.constI64('rows_i', [-1, I])]);
    const wrows = g.op('Reshape', [tokw, g.constI64('rows_k', [0, -1])]);
    g.node('MatMul', [wrows, sq], {}, { outputs: [LAYER_IO.act2] });
    g.output(LAYER_IO.act2, F, ['K', I]);
  }
  if (opts.gram && layer.weightedExpertInput) {
    // Per expert A_eᵀA_e with A_e = [B·S, I] the routing-weighted inputs, zero at positions not
    // routed to e (those add nothing): one batched product over the experts, E/k times the
    // routed FLOPs like the FFN.
    const a = layer.weightedExpertInput;
    const af = T === F ? a : g.op('Cast', [a], { to: F });
    const Ie = spec.intermediate;
    g.node('FusedMatMul', [af, af], { transA: attr.int(1) }, { outputs: [LAYER_IO.gram], domain: 'com.microsoft' });
    g.output(LAYER_IO.gram, F, [expertCount(spec), Ie, Ie]);
  } else if (opts.gram) {
    // AᵀA with A = [B·S, I]: Gemm's transA hands the transposition to the GEMM (no copy of A).
    const af = T === F ? layer.ffnInput : g.op('Cast', [layer.ffnInput], { to: F });
    const rows = g.op('Reshape', [af, g.constI64('gram_rows', [-1, I])]);
    g.node('Gemm', [rows, rows], { transA: attr.int(1) }, { outputs: [LAYER_IO.gram] });
    g.output(LAYER_IO.gram, F, [I, I]);
  }
  return g.toModel(OPSET);
}
