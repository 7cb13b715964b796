/**
 * Shared checks of exported models against our engine.
 *
 * Greedy identity is checked by teacher forcing: the runtime's greedy continuation is re-encoded
 * and run through Engine.forward once; if at every position our argmax is the runtime's next
 * token, our own greedy decode would produce exactly that continuation. One forward instead of
 * 32 keeps the suite within its time budget on a 2-core machine. When the re-encoding is not the
 * runtime's token sequence (BPE can generate non-canonical splits), the first disagreement is
 * re-checked by a step-by-step decode from there, so a tokenization artefact is never reported as
 * a model mismatch.
 */
import { readFileSync } from 'node:fs';
import { Engine } from '../../src/engine/runner.ts';
import type { TextTokenizer } from '../../src/tokenizer/tokenize.ts';
import { shared } from '../helpers/paths.ts';

export const PROMPTS = [
  'The history of the city of London',
  'In 1905, the company announced that',
  'She was born in a small village near the river, and',
];

export interface Top {
  text: string;
  prob: number;
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** Softmax top-k of one logits row, in float64. */
export function topK(row: Float32Array, k: number, tok: TextTokenizer): Top[] {
  let m = -Infinity;
  for (const x of row) m = Math.max(m, x);
  let z = 0;
  for (const x of row) z += Math.exp(x - m);
  const idx = Array.from(row.keys()).sort((a, b) => row[b]! - row[a]!).slice(0, k);
  return idx.map((i) => ({ text: tok.decode([i]), prob: Math.exp(row[i]! - m) / z }));
}

/** Our greedy continuation of `prompt` for `n` tokens, given a candidate continuation to confirm in one pass. */
export async function greedyContinuation(engine: Engine, prompt: Int32Array, candidate: Int32Array, n: number): Promise<{ ids: number[]; forwards: number; row(p: number): Float32Array }> {
  const V = engine.spec.vocabSize;
  const ids = [...prompt, ...candidate.subarray(0, n)];
  let forwards = 0;
  let pos = prompt.length; // index of the next generated token
  let L: Float32Array = new Float32Array(0);
  while (pos < prompt.length + n) {
    const r = await engine.forward([Int32Array.from(ids)], { logits: true });
    forwards++;
    L = r.logits![0]!;
    // Walk the teacher-forced positions while they agree; stop at the first disagreement.
    let agreed = true;
    for (; pos < prompt.length + n; pos++) {
      const best = argmax(L.subarray((pos - 1) * V, pos * V));
      if (pos >= ids.length || ids[pos] !== best) {
        ids.length = pos;
        ids.push(best);
        pos++;
        agreed = false;
        break;
      }
    }
    if (agreed) break;
  }
  // Logits rows of the last forward: valid for every position before the last generated token.
  return { ids: ids.slice(prompt.length, prompt.length + n), forwards, row: (p) => L.slice(p * V, (p + 1) * V) };
}

/** Logits rows of the last position of each prefix length in `ends` (one forward). */
export async function logitsAt(engine: Engine, ids: ArrayLike<number>, positions: number[]): Promise<Float32Array[]> {
  const V = engine.spec.vocabSize;
  const r = await engine.forward([Int32Array.from(ids)], { logits: true });
  return positions.map((p) => r.logits![0]!.slice(p * V, (p + 1) * V));
}

/** The first 10 KB of WikiText-2 test (cut at a line end). */
export function wikitext10k(): string {
  const buf = readFileSync(shared('data/text/wikitext2-test.raw')).subarray(0, 10 * 1024);
  return buf.subarray(0, buf.lastIndexOf(0x0a) + 1).toString('utf8');
}

/**
 * Compares a runtime's top-5 (token text, probability) with our distribution: each of its tokens
 * must have our probability within `tol`, and its ranking must be ours wherever our probabilities
 * are not within `tol` of each other (near-ties may legitimately swap). Returns the largest |Δp|.
 */
export function compareTop5(got: Top[], row: Float32Array, tok: TextTokenizer, tol: number, where: string): number {
  if (got.length !== 5) throw new Error(`${where}: runtime returned ${got.length} probabilities, expected 5`);
  const ours = topK(row, row.length, tok);
  const byText = new Map<string, number | null>();
  for (const t of ours) byText.set(t.text, byText.has(t.text) ? null : t.prob); // null: ambiguous text
  let max = 0;
  got.forEach((g, i) => {
    // llama.cpp names a lone byte of a multi-byte character "byte: \\xNN"; we decode it to U+FFFD.
    if (/^byte: \\x[0-9a-f]{2}$/i.test(g.text)) return;
    const p = byText.get(g.text);
    if (p === undefined) throw new Error(`${where}: runtime token ${JSON.stringify(g.text)} is not in our vocabulary`);
    if (p === null) return;
    const d = Math.abs(p - g.prob);
    max = Math.max(max, d);
    if (!(d < tol)) throw new Error(`${where}: p(${JSON.stringify(g.text)}) runtime ${g.prob} vs engine ${p} (|Δ| ${d.toExponential(2)} ≥ ${tol})`);
    const mine = ours[i]!;
    if (mine.text !== g.text && Math.abs(mine.prob - g.prob) >= tol) {
      throw new Error(`${where}: rank ${i} is ${JSON.stringify(g.text)} (${g.prob}) in the runtime, ${JSON.stringify(mine.text)} (${mine.prob}) in our engine`);
    }
  });
  return max;
}
