/**
 * Speed of what we produce: greedy generation with the KV-cache decoder (src/engine/kv-decoder.ts),
 * dense vs pruned, for wiki-28m (real) and a Qwen2.5-0.5B-shaped random model.
 *
 *   node --import tsx bench/decode-speed.ts [--quick] [--threads N] [--only wiki|qwen] [--new-tokens N] [--reps N]
 *
 * Per model, variants pruned with pruneModel: 20% and 35% (V′, I′ by bench/common.ts budgetFor),
 * and the two halves of the 35% plan alone — its V′ with every FFN channel ("vocab-only") and its
 * I′ with the whole vocabulary ("ffn-only") — which split the 35% gain into the part due to the
 * smaller lm_head/embedding and the part due to the narrower FFN. The decoder also times the
 * lm_head apart from the layers in every run, which gives the same split from the other side.
 *
 * Figures: prefill tokens/s (a 512-token prompt of WikiText-2 test text, tokenized by each
 * variant's own tokenizer), decode tokens/s (128 new tokens, greedy, no stop token), ms/token in
 * layers and in the lm_head, and peak RSS (one child process per variant). Speed ratios come from
 * one process that alternates dense and variant runs.
 *
 * The pruned variants are calibrated on few tokens (speed does not depend on which channels are
 * kept, only on how many). JSON: bench/results/decode-speed.json (decode-speed-quick.json;
 * decode-speed-wiki.json / -qwen.json with --only).
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { readModelConfig } from '../src/families/model-config.ts';
import { readTokenizerFile } from '../src/tokenizer/tokenizer-file.ts';
import { BENCH_DIR, benchWorkDir, budgetFor, calibFile, fmt, loadavgText, machine, median, parseArgs, pruneInChild, runChild, SHARED, writeResult } from './common.ts';
import type { DecodeChildOptions, GenRun } from './decode-child.ts';
import { QWEN25_05B, writeQwen25Like, type RandomModelShape } from './models.ts';

const args = parseArgs();
const { quick } = args;
const onlyAt = args.rest.indexOf('--only');
const only = onlyAt >= 0 ? args.rest[onlyAt + 1] : undefined;
/** --new-tokens N / --reps N override the defaults (for a quicker full-size run on a busy machine). */
const flag = (name: string): number | undefined => {
  const at = args.rest.indexOf(name);
  return at >= 0 ? Number(args.rest[at + 1]) : undefined;
};
const newTokensFlag = flag('--new-tokens');
const repsFlag = flag('--reps');
const CHILD = join(BENCH_DIR, 'decode-child.ts');
const TEXT = join(SHARED, 'data/text/wikitext2-test.raw');

interface Variant {
  name: string;
  dir: string;
  vocab: number;
  ffn: number;
  reduction: number;
}

interface Summary {
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  decodeLayersMsPerToken: number;
  decodeHeadMsPerToken: number;
}

const summarize = (runs: GenRun[]): Summary => ({
  prefillTokensPerSecond: median(runs.map((r) => r.prefillTokensPerSecond)),
  decodeTokensPerSecond: median(runs.map((r) => r.decodeTokensPerSecond)),
  decodeLayersMsPerToken: median(runs.map((r) => r.decodeLayersMsPerToken)),
  decodeHeadMsPerToken: median(runs.map((r) => r.decodeHeadMsPerToken)),
});

async function benchModel(label: string, dense: string, work: string, settings: { calibTokens: number; seqLen: number; promptTokens: number; newTokens: number; reps: number; variants: string[] }) {
  const o = { ...settings, newTokens: newTokensFlag ?? settings.newTokens, reps: repsFlag ?? settings.reps };
  const { spec } = readModelConfig(dense);
  const tokSize = readTokenizerFile(join(dense, 'tokenizer.json')).size;
  const b35 = budgetFor(spec, tokSize, 0.35);
  const plans: Record<string, { vocab: number; ffn: number }> = {
    '20%': budgetFor(spec, tokSize, 0.2),
    '35%': b35,
    '35% vocab part only': { vocab: b35.vocab, ffn: spec.intermediate },
    '35% FFN part only': { vocab: tokSize, ffn: b35.ffn },
  };
  const variants: Variant[] = [];
  for (const name of o.variants) {
    const p = plans[name]!;
    const dir = join(work, `${label}-${name.replace(/[^a-z0-9]+/gi, '-')}`);
    console.error(`decode bench: pruning ${label} → ${name} (V′ ${p.vocab}, I′ ${p.ffn})`);
    const run = pruneInChild({ model: dense, out: dir, ...p, calib: calibFile(work, quick), calibTokens: o.calibTokens, seqLen: o.seqLen, allowShort: false, threads: args.threads });
    variants.push({ name, dir, vocab: run.vocab, ffn: run.ffn, reduction: run.reduction });
  }
  const base: Omit<DecodeChildOptions, 'mode' | 'dense'> = { textFile: TEXT, promptTokens: o.promptTokens, newTokens: o.newTokens, reps: o.reps, threads: args.threads };

  console.error(`decode bench: ${label} speed (dense and each variant alternating in one process), load ${loadavgText()}`);
  const speed = runChild<Record<string, { dense: GenRun[]; variant: GenRun[] }>>(CHILD, [JSON.stringify({ ...base, mode: 'speed', dense, variants: variants.map((v) => ({ name: v.name, dir: v.dir })) })]);
  const memory: Record<string, number> = {};
  for (const v of [{ name: 'dense', dir: dense }, ...variants]) {
    const m = runChild<{ maxRssMiB: number }>(CHILD, [JSON.stringify({ ...base, mode: 'memory', dense: v.dir, newTokens: Math.min(16, o.newTokens) })]);
    memory[v.name] = m.maxRssMiB;
  }

  const rows = variants.map((v) => {
    const d = summarize(speed[v.name]!.dense);
    const p = summarize(speed[v.name]!.variant);
    return {
      variant: v.name,
      vocab: v.vocab,
      ffn: v.ffn,
      reduction: v.reduction,
      dense: d,
      pruned: p,
      prefillSpeedup: p.prefillTokensPerSecond / d.prefillTokensPerSecond,
      decodeSpeedup: p.decodeTokensPerSecond / d.decodeTokensPerSecond,
      // Where the decode time saved per token went: the lm_head (vocabulary) or the layers (FFN).
      decodeMsSavedInHead: d.decodeHeadMsPerToken - p.decodeHeadMsPerToken,
      decodeMsSavedInLayers: d.decodeLayersMsPerToken - p.decodeLayersMsPerToken,
      peakRssMiB: memory[v.name],
      denseRuns: speed[v.name]!.dense,
      prunedRuns: speed[v.name]!.variant,
    };
  });
  return { label, dense: { vocab: spec.vocabSize, ffn: spec.intermediate, peakRssMiB: memory.dense }, settings: o, rows };
}

const { dir: work, cleanup } = benchWorkDir('decode');
try {
  const loadBefore = loadavgText();
  const results: Awaited<ReturnType<typeof benchModel>>[] = [];
  const all = ['20%', '35%', '35% vocab part only', '35% FFN part only'];
  if (only === undefined || only === 'wiki') {
    const o = quick
      ? { calibTokens: 512, seqLen: 256, promptTokens: 64, newTokens: 8, reps: 1, variants: ['35%'] }
      : { calibTokens: 8192, seqLen: 1024, promptTokens: 512, newTokens: 128, reps: 3, variants: all };
    results.push(await benchModel('wiki-28m', join(SHARED, 'models/wiki-28m'), work, o));
  }
  if (!quick && (only === undefined || only === 'qwen')) {
    const shape: RandomModelShape = QWEN25_05B;
    const dir = join(work, 'qwen-dense');
    mkdirSync(dir);
    await writeQwen25Like(dir, shape);
    const o = { calibTokens: 1024, seqLen: 512, promptTokens: 512, newTokens: 128, reps: 1, variants: all };
    results.push(await benchModel('Qwen2.5-0.5B-shaped', dir, work, o));
  }
  writeResult(only ? `decode-speed-${only}` : 'decode-speed', quick, { machine: machine(), loadavgBefore: loadBefore, quick, command: `node --import tsx bench/decode-speed.ts ${process.argv.slice(2).join(' ')}`.trim(), threads: args.threads, results });

  console.log(`\ndecode bench${quick ? ' (--quick)' : ''}: KV-cache greedy decoder, ${args.threads} threads, load before ${loadBefore}, after ${loadavgText()}`);
  for (const r of results) {
    const { promptTokens, newTokens } = r.settings;
    console.log(`  ${r.label} (prompt ${promptTokens}, ${newTokens} new tokens; dense peak RSS ${fmt(r.dense.peakRssMiB!)} MiB):`);
    for (const row of r.rows) {
      console.log(
        `    ${row.variant.padEnd(20)} V′ ${String(row.vocab).padStart(6)} I′ ${String(row.ffn).padStart(5)} (−${fmt(100 * row.reduction, 1)}% params): ` +
          `prefill ${fmt(row.pruned.prefillTokensPerSecond)} vs ${fmt(row.dense.prefillTokensPerSecond)} tok/s (×${fmt(row.prefillSpeedup, 2)}), ` +
          `decode ${fmt(row.pruned.decodeTokensPerSecond, 1)} vs ${fmt(row.dense.decodeTokensPerSecond, 1)} tok/s (×${fmt(row.decodeSpeedup, 2)}); ` +
          `ms/token saved: lm_head ${fmt(row.decodeMsSavedInHead, 2)}, layers ${fmt(row.decodeMsSavedInLayers, 2)}; peak RSS ${fmt(row.peakRssMiB!)} MiB`,
      );
    }
  }
  const head = results.at(-1)!;
  const r35 = head.rows.find((r) => r.variant === '35%')!;
  console.log(`decode: ${head.label} pruned 35% decodes ×${fmt(r35.decodeSpeedup, 2)} and prefills ×${fmt(r35.prefillSpeedup, 2)} the dense model's tokens/s`);
} finally {
  cleanup();
}
