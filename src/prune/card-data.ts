/**
 * Figures a pruning run records for its model card and plots: how much activation energy the kept
 * FFN channels hold, how many calibration tokens a vocabulary of each size keeps, and (with
 * --eval-text) dense and pruned bits per byte on the user's text.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { CompactError } from '../errors.ts';
import { evaluateText } from '../eval/text-eval.ts';
import type { EngineOptions } from '../engine/runner.ts';
import type { Checkpoint } from '../io/safetensors.ts';
import { ProgressReporter, type OnProgress } from '../report/progress-events.ts';
import type { CardQuality } from '../report/model-card.ts';

/** Per layer: Σ energy of the kept channels / Σ energy of all channels. */
export function keptEnergyShare(energy: Float64Array[], channels: Int32Array[]): number[] {
  return energy.map((e, l) => {
    let all = 0;
    for (let i = 0; i < e.length; i++) all += e[i]!;
    let kept = 0;
    for (const c of channels[l]!) kept += e[c]!;
    return all > 0 ? kept / all : 1;
  });
}

/**
 * For about `points` vocabulary sizes from the smallest possible to the whole tokenizer (and each
 * of `extra`), the share of the calibration positions whose token that vocabulary keeps.
 */
export function vocabCoverage(seqs: Int32Array[], rows: number, keptIds: (v: number) => Int32Array, minVocab: number, fullVocab: number, extra: number[], points = 20): { vocab: number[]; share: number[] } {
  const counts = new Float64Array(rows);
  let total = 0;
  for (const s of seqs) for (const id of s) {
    counts[id]!++;
    total++;
  }
  const sizes = new Set<number>(extra.filter((v) => v >= minVocab && v <= fullVocab));
  for (let k = 0; k <= points; k++) sizes.add(Math.round(minVocab + ((fullVocab - minVocab) * k) / points));
  const vocab = [...sizes].sort((a, b) => a - b);
  const share = vocab.map((v) => {
    let kept = 0;
    for (const id of keptIds(v)) kept += counts[id]!;
    return total > 0 ? kept / total : 1;
  });
  return { vocab, share };
}

/** Reads --eval-text up front (before any weight), so a bad path fails in a second, not after calibration. */
export function readEvalText(file: string): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CompactError(`--eval-text ${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (text.length === 0) throw new CompactError(`--eval-text ${file}: the file is empty`);
  return text;
}

export const EVAL_SEQ_LEN = 512;

/** Dense and pruned bits per byte on the same text, as `compact eval --text` computes them. */
export async function measureQuality(dense: string, pruned: string, file: string, text: string, maxPositions: number, engine: EngineOptions, onProgress: OnProgress | undefined): Promise<CardQuality> {
  const seqLen = Math.min(EVAL_SEQ_LEN, maxPositions);
  const run = async (dir: string, label: string) => {
    const bar = new ProgressReporter(`eval-text ${label}`, 1, onProgress);
    return evaluateText(dir, text, {
      ...engine,
      seqLen,
      onProgress: (done, total, tokens) => {
        bar.total = total;
        bar.update(done, (tokens * done) / total, `layer ${done}/${total}`);
      },
    });
  };
  const d = await run(dense, 'dense');
  const p = await run(pruned, 'pruned');
  return { text: basename(file), bytes: d.bytes, seq_len: seqLen, dense: { bpb: d.bpb, tokens: d.tokens }, pruned: { bpb: p.bpb, tokens: p.tokens } };
}

/** The dtype most of the checkpoint's bytes are stored in (what the output keeps without --output-dtype). */
export function dominantDtype(ckpt: Checkpoint): string {
  const bytes = new Map<string, number>();
  for (const n of ckpt.names()) {
    const t = ckpt.info(n);
    bytes.set(t.dtype, (bytes.get(t.dtype) ?? 0) + t.shape.reduce((a, b) => a * b, 1));
  }
  return [...bytes.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? 'F32';
}
