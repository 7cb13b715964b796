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
import { DataType, GraphBuilder, OPSET, type DataTypeCode } from './onnx-proto.ts';

/** 'int8': f32 compute with int8 projections (int8-weights.ts); calibration only, CPU only. */
export type Precision = 'f32' | 'f16' | 'int8';

export interface LayerGraphOptions {
  kind: AttentionKind;
  /**
   * Emit the `act2` output (Σ_t w_t·(act(gate)·up)² per channel, for each of K weight vectors) and
   * take the `tokw` input.
   */
  act2: boolean;
  /**
   * Emit the `ffn_in_t` output: down_proj's input transposed ([I, B·S], f32), whose row blocks
   * are the contiguous GEMM operands of the refit's Gram tiles (runner.ts); a MoE gives each
   * expert's, the routing-weighted input at every position (zero where not routed),
   * [experts, I, B·S].
   */
  gram?: boolean;
  precision: Precision;
  /** The provider the graph is for: WebGPU gets its projections as Transpose + MatMul (decoder-layer.ts). */
  device?: 'cpu' | 'webgpu';
  /** The FFN's row blocks of the batch this graph is built for (decoder-layer.ts `ffnRowBlocks`). */
  ffnRowBlocks?: number[];
}

/**
 * Rows per FFN block: the most that keep one [rows, I] f32 intermediate within 8 MiB, a multiple
 * of 64, at most 512 and at least 64. onnxruntime's arena (session-options.ts) keeps a session's
 * high-water mark; with whole 2,048-row windows that mark held the [2,048 × I] FFN intermediates
 * (117 MB each at the 8B shape), so the arena cost 500 MiB there; in blocks it costs nothing
 * (docs/performance.md §1c).
 */
export function ffnRowBlock(intermediate: number): number {
  const rows = Math.floor((8 * 2 ** 20) / (4 * intermediate) / 64) * 64;
  return Math.min(512, Math.max(64, rows));
}

/** `rows` cut into blocks of `block` rows (the last one shorter). */
export function ffnRowBlocks(rows: number, block: number): number[] {
  const out: number[] = [];
  for (let done = 0; done < rows; done += block) out.push(Math.min(block, rows - done));
  return out;
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
  ffnInT: 'ffn_in_t', // f32 [I, B·S] (a MoE: [experts, I, B·S])
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
  const int8 = opts.precision === 'int8' ? { scales: {} } : undefined;
  const w = layerWeightInputs(g, spec, T, int8);
  const layer = emitDecoderLayer(g, spec, w, {
    int8Scales: int8?.scales,
    kind: opts.kind, x, seqlensK, totalLen, rotary: { cos, sin }, y: LAYER_IO.y, compute: T, weightedExperts: !!opts.gram, transposeMatMul: opts.device === 'webgpu',
    ffnRowBlocks: opts.ffnRowBlocks,
  });
  const toF = (v: string): string => (T === F ? v : g.op('Cast', [v], { to: F }));
  const inputs = layer.ffnInput;
  const blocks = inputs.length > 1 ? opts.ffnRowBlocks! : null;
  g.output(LAYER_IO.y, F, ['B', 'S', D]);

  if (opts.act2) {
    // Σ_t w_kt·a_t² as a [K, B·S] × [B·S, I] product: one GEMM for all K weight vectors, so a
    // planner scoring several vocabulary cuts pays one pass (K ≪ I keeps it cheap next to the FFN).
    const wrows = g.op('Reshape', [tokw, g.constI64('rows_k', [0, -1])]);
    const wblocks = blocks ? g.node('Split', [wrows, g.constI64('row_blocks_k', blocks)], { axis: 1 }, { outputs: blocks.length }) : [wrows];
    const one = inputs.length === 1;
    const sums = inputs.map((a, i) => {
      const af = toF(a);
      const sq = g.op('Reshape', [g.op('Mul', [af, af]), g.constI64('rows_i', [-1, I])]);
      return g.node('MatMul', [wblocks[i]!, sq], {}, { outputs: one ? [LAYER_IO.act2] : 1 })[0]!;
    });
    if (!one) g.node('Sum', sums, {}, { outputs: [LAYER_IO.act2] });
    g.output(LAYER_IO.act2, F, ['K', I]);
  }
  // Not AᵀA itself: an [I, I] f32 output per batch (822 MB at an 8B model's I) would not fit the
  // memory target beside the layer's weights; the runner forms G tile by tile from Aᵀ.
  if (opts.gram && layer.weightedExpertInput) {
    const a = layer.weightedExpertInput; // [E, B·S, I]
    const af = toF(a);
    g.node('Transpose', [af], { perm: [0, 2, 1] }, { outputs: [LAYER_IO.ffnInT] });
    g.output(LAYER_IO.ffnInT, F, [expertCount(spec), spec.intermediate, 'T']);
  } else if (opts.gram) {
    const one = inputs.length === 1;
    const parts = inputs.map((a) => g.node('Transpose', [g.op('Reshape', [toF(a), g.constI64('gram_rows', [-1, I])])], { perm: [1, 0] }, { outputs: one ? [LAYER_IO.ffnInT] : 1 })[0]!);
    if (!one) g.node('Concat', parts, { axis: 1 }, { outputs: [LAYER_IO.ffnInT] });
    g.output(LAYER_IO.ffnInT, F, [I, 'T']);
  }
  return g.toModel(OPSET);
}
