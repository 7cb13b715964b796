import { expertCount } from '../families/templates.ts';
import type { ModelSpec } from '../families/types.ts';

/**
 * The I′ most important channels of one layer, in ascending channel order. Ties go to the lower
 * index so the choice is the same on every machine and thread count.
 */
export function topChannels(scores: ArrayLike<number>, keep: number): Int32Array {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return Int32Array.from(order.slice(0, keep)).sort();
}

/**
 * The kept channels of one layer from scores over its FFN channel space (templates.ffnWidth):
 * the I′ best of a dense FFN, or the I′ best of each expert (every expert keeps the same I′, so
 * the checkpoint keeps one `intermediate_size`), as e·I + j, ascending.
 */
export function selectChannels(spec: ModelSpec, scores: ArrayLike<number>, keep: number): Int32Array {
  const E = expertCount(spec);
  if (E === 1) return topChannels(scores, keep);
  const I = spec.intermediate;
  const out = new Int32Array(E * keep);
  for (let e = 0; e < E; e++) {
    const block = Array.prototype.slice.call(scores, e * I, (e + 1) * I) as number[];
    topChannels(block, keep).forEach((j, k) => (out[e * keep + k] = e * I + j));
  }
  return out;
}

/** Expert e's kept channels (0…I−1), from a layer's list over the experts' channel space (e·I + j). */
export function expertChannels(kept: Int32Array, e: number, I: number): Int32Array {
  return kept.filter((c) => c >= e * I && c < (e + 1) * I).map((c) => c - e * I);
}
