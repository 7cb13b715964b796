/**
 * The I′ most important channels of one layer, in ascending channel order. Ties go to the lower
 * index so the choice is the same on every machine and thread count.
 */
export function topChannels(scores: ArrayLike<number>, keep: number): Int32Array {
  const order = Array.from({ length: scores.length }, (_, i) => i);
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return Int32Array.from(order.slice(0, keep)).sort();
}
