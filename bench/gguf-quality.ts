/**
 * Bits per byte of GGUF exports measured in llama.cpp (issue #20): each model exported as F32,
 * Q8_0, Q6_K and Q4_K_M, WikiText-2 scored by bench/native/.build/llama-nll (build it with
 * `bash bench/native/build.sh`) under docs/results.md's protocol: the first 120,000 bytes of
 * wikitext2-test.raw cut back to a line end, one stream [EOS] + tokens of the model's own tokenizer
 * (the ids llama.cpp's tokenizer gives too, test/export checks), non-overlapping windows of 512.
 *
 *   node --import tsx bench/gguf-quality.ts MODEL_DIR [MODEL_DIR ...]    → JSON lines on stdout
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { headAtLineEnd } from '../scripts/lib/experiments.ts';
import { exportGguf } from '../src/export/gguf-export.ts';
import { loadTokenizer } from '../src/tokenizer/tokenize.ts';

const ROOT = resolve(import.meta.dirname, '..');
const NLL = join(ROOT, 'bench/native/.build/llama-nll');
const text = headAtLineEnd(join(ROOT, '../shared/data/text/wikitext2-test.raw'), 120000);
const bytes = Buffer.byteLength(text, 'utf8');
const work = mkdtempSync(join(tmpdir(), 'compact-gguf-quality-'));
try {
  for (const model of process.argv.slice(2)) {
    const tok = loadTokenizer(model);
    const ids = Int32Array.from([tok.streamStartId, ...tok.encode(text)]);
    const idsPath = join(work, 'ids.bin');
    writeFileSync(idsPath, new Uint8Array(ids.buffer));
    for (const type of ['F32', 'Q8_0', 'Q6_K', 'Q4_K_M'] as const) {
      const gguf = join(work, `${type}.gguf`);
      await exportGguf(model, gguf, type === 'F32' ? { dtype: 'F32' } : { quant: type });
      const r = JSON.parse(execFileSync(NLL, [gguf, idsPath, '512', '2'], { encoding: 'utf8' })) as { nll: number; tokens: number };
      console.log(JSON.stringify({ model, type, bpb: r.nll / Math.LN2 / bytes, tokens: r.tokens, bytes, file_bytes: statSync(gguf).size }));
      rmSync(gguf);
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
