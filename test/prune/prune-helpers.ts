/** Shared by the method/criterion/planner tests: raw tensors of a fixture and calibration as the pipeline cuts it. */
import { readFileSync } from 'node:fs';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { writeCheckpoint } from '../../src/io/safetensors-writer.ts';
import { Engine } from '../../src/engine/runner.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenize.ts';
import { shared } from '../helpers/paths.ts';

export const CALIB = (): string => shared('data/text/calib-wiki.txt');

export interface RawTensor { name: string; shape: number[]; data: Float32Array }

export async function readTensors(dir: string): Promise<Map<string, RawTensor>> {
  const ck = await openCheckpoint(dir);
  try {
    const out = new Map<string, RawTensor>();
    for (const name of ck.names()) out.set(name, { name, shape: [...ck.info(name).shape], data: new Float32Array(await ck.readFloat32(name)) });
    return out;
  } finally {
    await ck.close();
  }
}

/** Rewrites a folder's checkpoint (as F32) from edited tensors. */
export async function writeTensors(dir: string, tensors: Map<string, RawTensor>): Promise<void> {
  await writeCheckpoint(dir, [...tensors.values()].map((t) => ({ name: t.name, dtype: 'F32' as const, shape: t.shape, bytes: () => new Uint8Array(t.data.buffer.slice(0)) })));
}

/**
 * The calibration sequences the pipeline builds ([start] + tokens, cut into seqLen windows,
 * `tokens` in all), written out here so the tests do not reuse the code under test.
 */
export function calibSequences(modelDir: string, tokens: number, seqLen: number): Int32Array[] {
  const tok = loadTokenizer(modelDir);
  const ids = tok.encode(readFileSync(CALIB(), 'utf8'));
  const stream = Int32Array.from([tok.streamStartId, ...ids.subarray(0, tokens - 1)]);
  const out: Int32Array[] = [];
  for (let s = 0; s < stream.length; s += seqLen) out.push(stream.slice(s, Math.min(s + seqLen, stream.length)));
  return out;
}

/** Indices of the `k` largest scores, ascending (ties to the lower index). */
export function topK(scores: ArrayLike<number>, k: number): number[] {
  return Array.from({ length: scores.length }, (_, i) => i)
    .sort((a, b) => scores[b]! - scores[a]! || a - b)
    .slice(0, k)
    .sort((a, b) => a - b);
}

/** Σ_t w_t·act² per layer from the engine, one weighting per call. */
export async function act2Of(dir: string, seqs: Int32Array[], weights?: Float32Array[]): Promise<Float64Array[]> {
  const e = await Engine.open(dir, { threads: 2 });
  try {
    return (await e.forward(seqs, { act2: true, tokenWeights: weights })).act2!;
  } finally {
    await e.close();
  }
}

export async function logitsOf(dir: string, seqs: Int32Array[]): Promise<Float32Array[]> {
  const e = await Engine.open(dir, { threads: 2 });
  try {
    return (await e.forward(seqs, { logits: true })).logits!;
  } finally {
    await e.close();
  }
}

export function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(a[i]!));
  }
  return d / Math.max(m, 1e-30);
}
