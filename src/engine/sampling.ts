/**
 * Next-token choice for `compact generate`: greedy (argmax, the default) or seeded sampling with
 * temperature and nucleus (top-p) truncation, as transformers' `generate(do_sample=True)` applies
 * them (temperature first, then the smallest set of most likely tokens whose mass reaches p).
 */
import { CompactError } from '../errors.ts';
import { mulberry32 } from '../random.ts';
import { argmax, type KvDecoder } from './kv-decoder.ts';

export interface SamplingOptions {
  /** 0 or undefined: greedy. */
  temperature?: number;
  /** Nucleus mass in (0, 1]; default 1 (no truncation). */
  topP?: number;
  seed?: number;
}

export type Picker = (logits: Float32Array) => number;

export function checkSampling(o: SamplingOptions): void {
  const t = o.temperature;
  if (t !== undefined && !(Number.isFinite(t) && t >= 0)) throw new CompactError(`--temperature must be a number ≥ 0, got ${t}`);
  if (o.topP !== undefined && !(o.topP > 0 && o.topP <= 1)) throw new CompactError(`--top-p must be in (0, 1], got ${o.topP}`);
  if (o.seed !== undefined && !(Number.isInteger(o.seed) && o.seed >= 0 && o.seed < 2 ** 32)) throw new CompactError(`--seed must be an integer in [0, 2^32), got ${o.seed}`);
  if (!(t !== undefined && t > 0) && (o.topP !== undefined || o.seed !== undefined)) {
    throw new CompactError('--top-p and --seed apply to sampling: give --temperature T > 0 too (without it generation is greedy)');
  }
}

export function picker(o: SamplingOptions): Picker {
  checkSampling(o);
  const t = o.temperature ?? 0;
  if (t === 0) return argmax;
  const rand = mulberry32(o.seed ?? 0);
  const topP = o.topP ?? 1;
  return (logits) => {
    let max = -Infinity;
    for (let i = 0; i < logits.length; i++) if (logits[i]! > max) max = logits[i]!;
    const p = new Float64Array(logits.length);
    let z = 0;
    for (let i = 0; i < logits.length; i++) z += p[i] = Math.exp((logits[i]! - max) / t);
    // Most likely first, ties to the lower id, so a seed gives the same draw everywhere.
    const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => p[b]! - p[a]! || a - b);
    let n = 0;
    let mass = 0;
    while (n < order.length && (n === 0 || mass < topP * z)) mass += p[order[n++]!]!;
    let r = rand() * mass;
    for (let k = 0; k < n; k++) {
      r -= p[order[k]!]!;
      if (r < 0) return order[k]!;
    }
    return order[n - 1]!;
  };
}

export interface StreamResult {
  ids: number[];
  /** Why generation ended. */
  stop: 'eos' | 'max-new-tokens';
}

/** Generates after `prompt` from an empty cache, calling `onToken` as each id is chosen. */
export async function streamGenerate(dec: KvDecoder, prompt: Int32Array, opts: { maxNew: number; stopIds: number[]; pick: Picker; onToken?: (id: number) => void }): Promise<StreamResult> {
  dec.reset();
  const stop = new Set(opts.stopIds);
  const ids: number[] = [];
  let logits = await dec.append(prompt);
  for (;;) {
    const next = opts.pick(logits);
    ids.push(next);
    opts.onToken?.(next);
    if (stop.has(next)) return { ids, stop: 'eos' };
    if (ids.length >= opts.maxNew) return { ids, stop: 'max-new-tokens' };
    logits = await dec.append(Int32Array.of(next));
  }
}
