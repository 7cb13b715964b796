/**
 * `--calib-precision int8` against f32 (issue #19 item 2's gate: the kept channels overlap f32's
 * by ≥ 99% and bits/byte moves ≤ 0.002, on wiki-28m and the Qwen2.5-0.5B shape), in one run:
 *
 * 1. wiki-28m (real weights): calibration on the first 40,000 tokens of calib-wiki.txt in
 *    sequences of 512, act² under the vocabulary cut's token mask (act2-common, as a prune does),
 *    f32 then int8 then f32 again (tokens/s of each; the two f32 runs show the noise). Overlap of
 *    the top-I′ channels per layer at several I′.
 * 2. wiki-28m prunes at fixed splits, f32 and int8 calibration, plain and --reconstruct: bits/byte
 *    of each on WikiText-2 (first 120,000 bytes) and data/sotu-2001-2021.txt.
 * 3. The Qwen2.5-0.5B shape (random bf16 weights, the real Qwen tokenizer, calib-wiki tokens):
 *    calibration of 16 sequences of 2,048 (a default prune's 32,768 tokens), f32 / int8 / f32:
 *    tokens/s and overlap. Its weights are random, so bits/byte would measure nothing there and
 *    is not reported.
 *
 * Each overlap is also given for f32 on the next, disjoint sample of the same size: the scale
 * the int8 difference is read against.
 *
 *   node --import tsx bench/calib-precision.ts [--quick] [--threads N]
 *
 * JSON: bench/results/calib-precision.json (calib-precision-quick.json).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { int8WeightMax } from '../src/engine/int8-weights.ts';
import type { Precision } from '../src/engine/layer-graph.ts';
import { evaluateText } from '../src/eval/text-eval.ts';
import { calibrate, calibrationData, maskOf } from '../src/prune/calibrate.ts';
import { topChannels } from '../src/prune/channel-select.ts';
import { pruneModel } from '../src/prune/prune.ts';
import { readTokenizerFile } from '../src/tokenizer/tokenizer-file.ts';
import { loadTokenizer } from '../src/tokenizer/tokenize.ts';
import { selectKeptIds } from '../src/tokenizer/vocab-select.ts';
import { benchWorkDir, CALIB_TEXT, loadavgText, machine, parseArgs, REPO, SHARED, writeResult } from './common.ts';
import { writeQwen25Like, QWEN25_05B } from './models.ts';

const { quick, threads } = parseArgs();
const WIKI = join(REPO, 'models/wiki-28m');
const EVAL_BYTES = 120_000;
const evalTexts = [
  { name: 'wikitext2', text: cutToLine(readFileSync(join(SHARED, 'data/text/wikitext2-test.raw'), 'utf8'), quick ? 12_000 : EVAL_BYTES) },
  { name: 'sotu', text: cutToLine(readFileSync(join(REPO, 'data/sotu-2001-2021.txt'), 'utf8'), quick ? 12_000 : EVAL_BYTES) },
];
const calibText = readFileSync(CALIB_TEXT, 'utf8');

function cutToLine(s: string, bytes: number): string {
  const head = Buffer.from(s, 'utf8').subarray(0, bytes).toString('utf8');
  const end = head.lastIndexOf('\n');
  return end > 0 ? head.slice(0, end + 1) : head;
}

/** Σ over layers of |top-k(a) ∩ top-k(b)| / (layers · k), and the worst layer's share. */
function overlap(a: Float64Array[], b: Float64Array[], keep: number): { mean: number; worst: number } {
  let inter = 0;
  let worst = 1;
  for (let l = 0; l < a.length; l++) {
    const ka = new Set(topChannels(a[l]!, keep));
    let k = 0;
    for (const c of topChannels(b[l]!, keep)) if (ka.has(c)) k++;
    inter += k;
    worst = Math.min(worst, k / keep);
  }
  return { mean: inter / (a.length * keep), worst };
}

/**
 * f32, int8, f32 on `seqs` (timed; the f32 pair brackets int8 against drift in the machine's
 * speed), then f32 on `other`, a disjoint calibration sample of the same size: how far two
 * calibration samples disagree is the scale the int8 difference is to be read against.
 */
async function calibrationRuns(model: string, seqs: Int32Array[], other: Int32Array[], mask: Uint8Array) {
  const runs: Array<{ precision: Precision; seconds: number; tokensPerSecond: number; act2: Float64Array[] }> = [];
  for (const [precision, data] of [['f32', seqs], ['int8', seqs], ['f32', seqs], ['f32', other]] as const) {
    const r = await calibrate(model, data, { masks: [mask], all: false, cosine: false }, { threads, precision });
    runs.push({ precision, seconds: r.seconds, tokensPerSecond: r.tokens / r.seconds, act2: r.byMask[0]! });
    console.log(`  ${precision}${data === other ? ' (other sample)' : ''}: ${r.seconds.toFixed(2)} s, ${(r.tokens / r.seconds).toFixed(1)} tokens/s`);
  }
  return runs;
}

/** The sample after the first `n` tokens of the stream, cut as calibrationData cuts (n tokens). */
function nextSample(tt: ReturnType<typeof loadTokenizer>, n: number, seqLen: number): Int32Array[] {
  const ids = tt.encodePrefix(calibText, 2 * n);
  if (ids.length < 2 * n) throw new Error(`calib-wiki.txt has fewer than ${2 * n} tokens`);
  const out: Int32Array[] = [];
  for (let s = n; s < 2 * n; s += seqLen) out.push(ids.slice(s, Math.min(s + seqLen, 2 * n)));
  return out;
}

function overlapRows(runs: Awaited<ReturnType<typeof calibrationRuns>>, keeps: number[]) {
  return keeps.map((keep) => {
    const int8 = overlap(runs[0]!.act2, runs[1]!.act2, keep);
    const f32Again = overlap(runs[0]!.act2, runs[2]!.act2, keep);
    const sample = overlap(runs[0]!.act2, runs[3]!.act2, keep);
    console.log(`  I′ ${keep}: int8 vs f32 overlap ${(100 * int8.mean).toFixed(2)}% (worst layer ${(100 * int8.worst).toFixed(2)}%); f32 vs f32 ${(100 * f32Again.mean).toFixed(2)}%; f32 on another sample ${(100 * sample.mean).toFixed(2)}% (worst ${(100 * sample.worst).toFixed(2)}%)`);
    return { keep, overlap: int8.mean, worstLayer: int8.worst, f32Repeat: f32Again.mean, otherSample: sample.mean, otherSampleWorstLayer: sample.worst };
  });
}

const speed = (runs: Awaited<ReturnType<typeof calibrationRuns>>) => ({
  f32TokensPerSecond: [runs[0]!.tokensPerSecond, runs[2]!.tokensPerSecond],
  int8TokensPerSecond: runs[1]!.tokensPerSecond,
  // int8 over the mean of the f32 runs either side of it.
  speedup: runs[1]!.tokensPerSecond / ((runs[0]!.tokensPerSecond + runs[2]!.tokensPerSecond) / 2),
});

const work = benchWorkDir('calib-precision');
try {
  const loadBefore = loadavgText();
  console.log(`int8 weights: ±${int8WeightMax()} (load ${loadBefore})`);

  // --- 1. wiki-28m calibration
  const calibTokens = quick ? 4_000 : 40_000;
  const wikiTok = readTokenizerFile(join(WIKI, 'tokenizer.json'));
  const wikiVocab = 25_933; // the planner's pick at R = 0.35 (docs/results.md)
  const wikiMask = maskOf(selectKeptIds(wikiTok, { policy: 'id', vocabSize: wikiVocab }), 50_257);
  const wikiTt = loadTokenizer(WIKI);
  const data = calibrationData(wikiTt, calibText, { calibTokens, seqLen: 512, allowShort: false, holdout: 0, label: 'calib-wiki' });
  console.log(`wiki-28m: ${data.fitTokens} calibration tokens, V′ ${wikiVocab}`);
  const wikiRuns = await calibrationRuns(WIKI, data.fit, nextSample(wikiTt, data.fitTokens, 512), wikiMask);
  const wiki = { calibTokens: data.fitTokens, vocab: wikiVocab, ...speed(wikiRuns), overlap: overlapRows(wikiRuns, [384, 640, 896, 1024, 1152]) };

  // --- 2. wiki-28m prunes: bits/byte with each precision
  const prunes: Array<Record<string, unknown>> = [];
  for (const ffn of quick ? [1024] : [640, 1024]) {
    for (const reconstruct of quick ? [false] : [false, true]) {
      const bpb: Record<string, Record<string, number>> = {};
      for (const calibPrecision of ['f32', 'int8'] as const) {
        const out = join(work.dir, `wiki-${ffn}-${reconstruct}-${calibPrecision}`);
        await pruneModel({ model: WIKI, out, vocab: wikiVocab, ffn, calib: CALIB_TEXT, calibTokens, seqLen: 512, threads, reconstruct, calibPrecision });
        bpb[calibPrecision] = {};
        for (const t of evalTexts) bpb[calibPrecision]![t.name] = (await evaluateText(out, t.text, { threads })).bpb;
      }
      const delta = Object.fromEntries(evalTexts.map((t) => [t.name, bpb.int8![t.name]! - bpb.f32![t.name]!]));
      console.log(`  prune V′ ${wikiVocab} I′ ${ffn}${reconstruct ? ' --reconstruct' : ''}: ${evalTexts.map((t) => `${t.name} f32 ${bpb.f32![t.name]!.toFixed(4)} int8 ${bpb.int8![t.name]!.toFixed(4)} (Δ ${delta[t.name]! >= 0 ? '+' : ''}${delta[t.name]!.toFixed(4)})`).join('; ')}`);
      prunes.push({ vocab: wikiVocab, ffn, reconstruct, bpb, delta });
    }
  }

  // --- 3. the 0.5B shape
  const shape = quick ? { ...QWEN25_05B, layers: 2, intermediate: 1024, hidden: 256, heads: 4, kvHeads: 2, vocab: QWEN25_05B.vocab } : QWEN25_05B;
  const qdir = join(work.dir, 'qwen');
  mkdirSync(qdir);
  await writeQwen25Like(qdir, shape);
  const qtok = loadTokenizer(qdir);
  const seqLen = quick ? 256 : 2048;
  // 16 windows: a default prune's 32,768 tokens (the weights are quantized once per layer, so
  // fewer windows would understate the speed-up).
  const qdata = calibrationData(qtok, calibText, { calibTokens: (quick ? 4 : 16) * seqLen, seqLen, allowShort: false, holdout: 0, label: 'calib-wiki' });
  const qVocab = Math.round(0.5 * shape.vocab);
  const qMask = maskOf(selectKeptIds(readTokenizerFile(join(qdir, 'tokenizer.json')), { policy: 'id', vocabSize: qVocab }), shape.vocab);
  console.log(`Qwen2.5-0.5B shape (random weights): ${qdata.fitTokens} tokens in ${qdata.fit.length} sequences of ${seqLen}`);
  const qRuns = await calibrationRuns(qdir, qdata.fit, nextSample(qtok, qdata.fitTokens, seqLen), qMask);
  const I = shape.intermediate;
  const qwen = { calibTokens: qdata.fitTokens, seqLen, ...speed(qRuns), overlap: overlapRows(qRuns, [0.25, 0.5, 0.75].map((f) => Math.round(f * I))) };

  const result = { machine: machine(), threads, int8WeightMax: int8WeightMax(), loadBefore, loadAfter: loadavgText(), wiki, prunes, qwen };
  console.log(`load after ${result.loadAfter}; wrote ${writeResult('calib-precision', quick, result)}`);
  const worstDelta = Math.max(...prunes.flatMap((p) => Object.values(p.delta as Record<string, number>).map(Math.abs)));
  const minOverlap = (rows: Array<{ overlap: number }>) => Math.min(...rows.map((r) => r.overlap));
  console.log(
    `calib-precision: int8 ×${qwen.speedup.toFixed(2)} the f32 tokens/s at the 0.5B shape (×${wiki.speedup.toFixed(2)} wiki-28m); kept channels shared with f32 ≥ ${(100 * minOverlap(wiki.overlap)).toFixed(2)}% (wiki-28m), ≥ ${(100 * minOverlap(qwen.overlap)).toFixed(2)}% (0.5B shape); |Δ bits/byte| ≤ ${worstDelta.toFixed(4)}`,
  );
} finally {
  work.cleanup();
}
