/**
 * The graph after the last decoder layer, run over chunks of positions: final norm → logits
 * (the [V, D] lm_head, or the embedding when tied, as a transB input) → optional final softcap →
 * log-softmax → the log-probability of each target. Chunking bounds the [positions × vocab]
 * intermediate; the weight is a graph input so the caller loads it once for all chunks.
 */
import type { ModelSpec } from '../families/types.ts';
import { attr, DataType, GraphBuilder, OPSET } from './onnx-proto.ts';
import type { Precision } from './layer-graph.ts';

export interface HeadGraphOptions {
  /** Output `normed` [N, D] (hidden state after the final norm). */
  normed: boolean;
  /** Output `logits` [N, V]. */
  logits: boolean;
  /** Take `targets` int64 [N] and output `logprobs` [N]. */
  logprobs: boolean;
  /**
   * Output `argmax` int64 [N]: the first maximal id of each row (torch.argmax's tie rule). Greedy
   * checks (LAMBADA) need only this, not the [N, V] logits.
   */
  argmax?: boolean;
  /**
   * The weight is one block of vocabulary rows ([Vb, D], Vb symbolic), and with `logprobs` the
   * outputs are the block's `lse` [N] (logsumexp of its logits) and `picked` [N] (the logit at
   * `targets`, an index into the block) instead of `logprobs`: the caller combines the blocks, so
   * a 128k-row lm_head never has to be one f32 tensor (2 GiB at the 8B shape).
   */
  vocabBlock?: boolean;
  precision: Precision;
}

export const HEAD_IO = {
  x: 'x', // f32 [N, D]
  norm: 'w_final_norm', // f32 [D]
  weight: 'w_lm_head', // T [V, D]
  targets: 'targets', // int64 [N], each in [0, V)
  normed: 'normed',
  logits: 'logits',
  logprobs: 'logprobs',
  argmax: 'argmax',
  lse: 'lse',
  picked: 'picked',
} as const;

/** f32 logits as the family finishes them: Granite's 1/logits_scaling, then Gemma's c·tanh(x/c). */
export function emitLogitTransform(g: GraphBuilder, spec: ModelSpec, logits: string): string {
  let out = logits;
  if (spec.logitMultiplier !== 1) out = g.op('Mul', [out, g.constF32('logit_multiplier', [spec.logitMultiplier], [])]);
  if (spec.finalLogitSoftcap != null) {
    const c = g.constF32('softcap', [spec.finalLogitSoftcap], []);
    out = g.op('Mul', [g.op('Tanh', [g.op('Div', [out, c])]), c]);
  }
  return out;
}

export function buildHeadGraph(spec: ModelSpec, opts: HeadGraphOptions): Uint8Array {
  const { hidden: D, vocabSize: V } = spec;
  const F = DataType.FLOAT;
  const T = opts.precision === 'f16' ? DataType.FLOAT16 : F;
  const g = new GraphBuilder('lm_head');
  const x = g.input(HEAD_IO.x, F, ['N', D]);
  const norm = g.input(HEAD_IO.norm, F, [D]);
  const normedName = opts.normed ? HEAD_IO.normed : 'normed_internal';
  const [normed] = g.node('SimplifiedLayerNormalization', [x, norm], { axis: -1, epsilon: attr.float(spec.rmsEps), stash_type: 1 }, { outputs: [normedName] });
  if (opts.normed) g.output(HEAD_IO.normed, F, ['N', D]);
  if (!opts.logits && !opts.logprobs && !opts.argmax) return g.toModel(OPSET);

  const weight = g.input(HEAD_IO.weight, T, [opts.vocabBlock ? 'V' : V, D]);
  const lhs = T === F ? normed! : g.op('Cast', [normed!], { to: T });
  let logits = g.op('Gemm', [lhs, weight], { transB: 1 });
  if (T !== F) logits = g.op('Cast', [logits], { to: F });
  logits = emitLogitTransform(g, spec, logits);
  if (opts.logits) {
    g.node('Identity', [logits], {}, { outputs: [HEAD_IO.logits] });
    g.output(HEAD_IO.logits, F, ['N', V]);
  }
  if (opts.logprobs) {
    const targets = g.input(HEAD_IO.targets, DataType.INT64, ['N']);
    // log p(target) = logit[target] − logsumexp(logits): no second [N, V] buffer as LogSoftmax
    // would need (ORT's ReduceLogSumExp subtracts the row max, so it is stable).
    const axis1 = g.constI64('axis1', [1]);
    const lse = g.op('ReduceLogSumExp', [logits, axis1], { keepdims: 1 });
    const picked = g.op('GatherElements', [logits, g.op('Unsqueeze', [targets, axis1])], { axis: 1 });
    if (opts.vocabBlock) {
      g.node('Reshape', [lse, g.constI64('flat', [-1])], {}, { outputs: [HEAD_IO.lse] });
      g.node('Reshape', [picked, g.constI64('flat', [-1])], {}, { outputs: [HEAD_IO.picked] });
      g.output(HEAD_IO.lse, F, ['N']);
      g.output(HEAD_IO.picked, F, ['N']);
      return g.toModel(OPSET);
    }
    const lp = g.op('Sub', [picked, lse]);
    g.node('Reshape', [lp, g.constI64('flat', [-1])], {}, { outputs: [HEAD_IO.logprobs] });
    g.output(HEAD_IO.logprobs, F, ['N']);
  }
  if (opts.argmax) {
    g.node('ArgMax', [logits], { axis: 1, keepdims: 0, select_last_index: 0 }, { outputs: [HEAD_IO.argmax] });
    g.output(HEAD_IO.argmax, DataType.INT64, ['N']);
  }
  return g.toModel(OPSET);
}
