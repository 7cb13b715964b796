import type { RopeSpec } from './types.ts';

/**
 * Inverse frequencies of rotary embeddings, computed in float64 the way transformers'
 * `ROPE_INIT_FUNCTIONS` do, so the engine's cos/sin tables match theirs.
 */
export function inverseFrequencies(rope: RopeSpec, headDim: number): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let j = 0; j < half; j++) inv[j] = 1 / rope.theta ** ((2 * j) / headDim);
  if (rope.type === 'linear') {
    for (let j = 0; j < half; j++) inv[j]! /= rope.factor!;
  } else if (rope.type === 'llama3') {
    const factor = rope.factor!;
    const low = rope.lowFreqFactor!;
    const high = rope.highFreqFactor!;
    const oldCtx = rope.originalMaxPositions!;
    const lowWavelen = oldCtx / low;
    const highWavelen = oldCtx / high;
    for (let j = 0; j < half; j++) {
      const f = inv[j]!;
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < highWavelen) continue;
      if (wavelen > lowWavelen) {
        inv[j] = f / factor;
      } else {
        const smooth = (oldCtx / wavelen - low) / (high - low);
        inv[j] = (1 - smooth) * (f / factor) + smooth * f;
      }
    }
  }
  return inv;
}
