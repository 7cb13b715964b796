/**
 * cos/sin tables for rotary embeddings, in the layout com.microsoft:GroupQueryAttention takes
 * (`[positions, head_dim/2]`; with rotary_interleaved=0 it pairs dim j with j + head_dim/2, which is
 * transformers' rotate_half). Angles are computed in float64 from `inverseFrequencies` and rounded
 * once, so the tables are as close to transformers' float64 reference as f32 allows.
 */
import { inverseFrequencies } from '../families/rope.ts';
import type { RopeSpec } from '../families/types.ts';

export interface RopeTables {
  positions: number;
  half: number;
  cos: Float32Array;
  sin: Float32Array;
}

export function ropeTables(rope: RopeSpec, headDim: number, positions: number): RopeTables {
  const inv = inverseFrequencies(rope, headDim);
  const half = inv.length;
  const cos = new Float32Array(positions * half);
  const sin = new Float32Array(positions * half);
  for (let p = 0; p < positions; p++) {
    for (let j = 0; j < half; j++) {
      const a = p * inv[j]!;
      cos[p * half + j] = Math.cos(a);
      sin[p * half + j] = Math.sin(a);
    }
  }
  return { positions, half, cos, sin };
}
