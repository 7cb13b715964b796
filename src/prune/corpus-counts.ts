import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TextTokenizer } from '../tokenizer/tokenize.ts';
import type { CalibrationData } from './calibrate.ts';

/**
 * Token counts of the `freq` policy's corpus text. When the corpus is the calibration text (the
 * same contents, whatever the path) and the planner holds out its tail, the held-out tokens are
 * not counted: the planner's score would otherwise be in-sample for vocabulary cuts (the counts
 * would have seen the text that ranks them).
 */
export function corpusCounts(tt: TextTokenizer, corpus: string, calibText: string | null, data: CalibrationData | null): Uint32Array {
  const ids = tt.encode(corpus);
  const counts = new Uint32Array(tt.vocabSize);
  // Stream position p (after the start token) is ids[p − 1]; the held-out span is [fitTokens, fitTokens + heldoutTokens).
  const sameFile = calibText !== null && calibText === corpus;
  const skipFrom = sameFile && data && data.heldoutTokens > 0 ? data.fitTokens - 1 : ids.length;
  const skipTo = sameFile && data ? data.fitTokens - 1 + data.heldoutTokens : ids.length;
  for (let i = 0; i < ids.length; i++) {
    if (i >= skipFrom && i < skipTo) continue;
    const id = ids[i]!;
    if (id >= 0 && id < counts.length) counts[id]!++;
  }
  return counts;
}

/** The same file (through links), or the same path when either cannot be resolved. */
export function sameFileAs(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return resolve(a) === resolve(b);
  }
}

