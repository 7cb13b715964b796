/**
 * What the aligned-width default costs and gains on wiki-28m (README, issue #20): at R = 0.20 and
 * 0.35, the 75%-vocabulary split with I′ exact (--ffn-multiple 1) and aligned (128, the default for
 * I = 1,280; V′ re-solved so R holds), each pruned with act2-common on 40,000 calibration tokens,
 * scored by WikiText-2 bits/byte (docs/results.md's protocol), and its Q4_K_M GGUF plan.
 *
 *   node --import tsx bench/ffn-alignment.ts [WORK_DIR]   (default: a compact-ffn-alignment folder under the OS temp dir; ~1 hour on 2 busy cores)
 */
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { readModelConfig } from '../src/families/model-config.ts';
import { splitForShare } from '../src/prune/budget.ts';
import { pruneModel } from '../src/prune/prune.ts';
import { evaluateText } from '../src/eval/text-eval.ts';
import { headAtLineEnd } from '../scripts/lib/experiments.ts';
import { exportGguf } from '../src/export/gguf-export.ts';
import { readTokenizerFile } from '../src/tokenizer/tokenizer-file.ts';

const S = resolve(import.meta.dirname, '../../shared');
const DENSE = `${S}/models/wiki-28m`;
const WORK = resolve(process.argv[2] ?? join(tmpdir(), 'compact-ffn-alignment'));
const text = headAtLineEnd(`${S}/data/text/wikitext2-test.raw`, 120000);
const { spec } = readModelConfig(DENSE);
const tokSize = readTokenizerFile(join(DENSE, 'tokenizer.json')).size;
mkdirSync(WORK, { recursive: true });
const out: Record<string, unknown>[] = [];
const save = () => writeFileSync(join(WORK, 'ffn-alignment.json'), JSON.stringify(out, null, 2));
for (const R of [0.2, 0.35]) {
  for (const m of [1, 128]) {
    const s = splitForShare(spec, R, 0.75, { tokenizerSize: tokSize, minVocab: 0, ffnMultiple: m });
    const dir = join(WORK, `r${R}-m${m}`);
    const t0 = Date.now();
    if (!existsSync(dir)) await pruneModel({ model: DENSE, out: dir, vocab: s.vocab, ffn: s.ffn, calib: `${S}/data/text/calib-wiki.txt`, calibTokens: 40000, seqLen: 512, threads: 2, quiet: true });
    const e = await evaluateText(dir, text, { seqLen: 512, threads: 2 });
    const q = await exportGguf(dir, '', { quant: 'Q4_K_M', dryRun: true });
    out.push({ R, multiple: m, vocab: s.vocab, ffn: s.ffn, ratio: s.ratio, bpb: e.bpb, bytes: e.bytes, q4km_bytes: q.bytes, q4km_types: q.quantization!.types, q4km_bpw: q.quantization!.bitsPerWeight, seconds: (Date.now() - t0) / 1000 });
    console.log(JSON.stringify(out.at(-1)));
    save();
  }
}
const q = await exportGguf(DENSE, '', { quant: 'Q4_K_M', dryRun: true });
const e = await evaluateText(DENSE, text, { seqLen: 512, threads: 2 });
out.push({ R: 0, multiple: null, vocab: spec.vocabSize, ffn: spec.intermediate, bpb: e.bpb, bytes: e.bytes, q4km_bytes: q.bytes, q4km_types: q.quantization!.types });
save();
console.log('done');
