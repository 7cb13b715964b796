/** Reading the hf-golden fixtures and comparing arrays (shared by the engine tests). */
import assert from 'node:assert/strict';
import { openCheckpoint } from '../../src/io/safetensors.ts';

export interface Golden {
  ids: Int32Array[];
  logits: Float32Array;
  hidden: Float32Array;
  hiddenShape: number[];
  act2: Float32Array;
  act2Shape: number[];
}

export async function readGolden(dir: string): Promise<Golden> {
  const ck = await openCheckpoint(dir);
  try {
    const idsBytes = await ck.readBytes('input_ids');
    const idsAll = new Int32Array(idsBytes.buffer, idsBytes.byteOffset, idsBytes.byteLength / 4);
    const [B, S] = ck.info('input_ids').shape as [number, number];
    const ids = Array.from({ length: B }, (_, b) => idsAll.slice(b * S, (b + 1) * S));
    return {
      ids,
      logits: await ck.readFloat32('logits'),
      hidden: await ck.readFloat32('hidden_states'),
      hiddenShape: ck.info('hidden_states').shape,
      act2: await ck.readFloat32('act2'),
      act2Shape: ck.info('act2').shape,
    };
  } finally {
    await ck.close();
  }
}

/** max|a − b| / max|b|. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length');
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!));
    den = Math.max(den, Math.abs(b[i]!));
  }
  return num / den;
}

export const concat = (parts: ArrayLike<number>[]): Float64Array => {
  const out = new Float64Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p as ArrayLike<number>, at);
    at += p.length;
  }
  return out;
};

/**
 * Golden act2 [layers, tokens, I] summed over tokens, optionally weighted per token. A MoE's
 * [layers, experts, tokens, I] gives experts·I values, expert after expert (the engine's FFN
 * channel space).
 */
export function goldenAct2(g: Golden, layer: number, weight?: (token: number) => number): Float64Array {
  const moe = g.act2Shape.length === 4;
  const [E, N, I] = (moe ? g.act2Shape.slice(1) : [1, ...g.act2Shape.slice(1)]) as [number, number, number];
  const out = new Float64Array(E * I);
  for (let e = 0; e < E; e++) {
    for (let t = 0; t < N; t++) {
      const w = weight ? weight(t) : 1;
      if (w === 0) continue;
      const base = ((layer * E + e) * N + t) * I;
      for (let c = 0; c < I; c++) out[e * I + c]! += w * g.act2[base + c]!;
    }
  }
  return out;
}

