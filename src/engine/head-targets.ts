/**
 * The head (final norm → lm_head → log-softmax at the target) over only the positions that have a
 * target, gathered across batches into chunks: a whole batch's [rows × vocab] logits would not fit
 * at a 128k vocabulary, and most positions of a task or a held-out text are not scored. One copy
 * for the engine's forward pass and for the planner's candidate pass.
 */
import ort from './ort.ts';
import { HEAD_IO } from './head-graph.ts';

export interface HeadBatch {
  /** Index of each window of the batch among the caller's sequences. */
  seqs: number[];
  len: number;
  /** Residual stream [windows · len · D]. */
  hidden: Float32Array;
}

/**
 * Runs the head session on every position whose target (`targets[seq][pos]`) is not −1, at most
 * `chunk` rows per run, and hands each row's log-probability (and argmax, when the session has
 * that output and `argmax` is set) to `each`. Returns the number of rows scored.
 */
export async function runHeadOnTargets(
  session: ort.InferenceSession,
  norm: ort.Tensor,
  weight: ort.Tensor,
  batches: HeadBatch[],
  targets: Int32Array[],
  D: number,
  chunk: number,
  argmax: boolean,
  each: (seq: number, pos: number, logprob: number, argmax: number) => void,
): Promise<number> {
  // (batch, row) of every targeted position, in order.
  const where: Array<[HeadBatch, number]> = [];
  for (const b of batches) {
    for (let r = 0; r < b.seqs.length * b.len; r++) if (targets[b.seqs[Math.floor(r / b.len)]!]![r % b.len]! >= 0) where.push([b, r]);
  }
  const x = new Float32Array(Math.min(chunk, where.length) * D);
  for (let i0 = 0; i0 < where.length; i0 += chunk) {
    const n = Math.min(chunk, where.length - i0);
    const t = new BigInt64Array(n);
    for (let i = 0; i < n; i++) {
      const [b, r] = where[i0 + i]!;
      x.set(b.hidden.subarray(r * D, (r + 1) * D), i * D);
      t[i] = BigInt(targets[b.seqs[Math.floor(r / b.len)]!]![r % b.len]!);
    }
    const out = await session.run({
      [HEAD_IO.x]: new ort.Tensor('float32', x.subarray(0, n * D), [n, D]),
      [HEAD_IO.norm]: norm,
      [HEAD_IO.weight]: weight,
      [HEAD_IO.targets]: new ort.Tensor('int64', t, [n]),
    });
    const lp = out[HEAD_IO.logprobs]!.data as Float32Array;
    const am = argmax ? (out[HEAD_IO.argmax]!.data as BigInt64Array) : null;
    for (let i = 0; i < n; i++) {
      const [b, r] = where[i0 + i]!;
      each(b.seqs[Math.floor(r / b.len)]!, r % b.len, lp[i]!, am ? Number(am[i]!) : -1);
    }
  }
  return where.length;
}
