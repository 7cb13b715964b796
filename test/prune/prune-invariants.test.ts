import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tokenizer as RustTokenizer } from '@anush008/tokenizers';
import { pruneModel } from '../../src/prune/prune.ts';
import { Engine } from '../../src/engine/runner.ts';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { writeCheckpoint } from '../../src/io/safetensors-writer.ts';
import { inspectModel } from '../../src/prune/inspect-model.ts';
import { loadTokenizer } from '../../src/tokenizer/tokenize.ts';
import { shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';

const CALIB = () => shared('data/text/calib-wiki.txt');

async function logitsOf(dir: string, seqs: Int32Array[]): Promise<{ logits: Float32Array[]; vocab: number }> {
  const e = await Engine.open(dir, { threads: 2 });
  try {
    const r = await e.forward(seqs, { logits: true });
    return { logits: r.logits!, vocab: e.spec.vocabSize };
  } finally {
    await e.close();
  }
}

test('vocab-only pruning: kept tokens keep their logits exactly (wiki-28m, V′ = 30,000)', async () => {
  const out = join(makeTmpDir('vocab-only'), 'out');
  const report = await pruneModel({ model: shared('models/wiki-28m'), out, vocab: 30000, quiet: true });
  assert.equal(report.vocab.kept, 30000);
  assert.equal(report.calibration, null, 'no calibration when every FFN channel stays');
  // A text made only of kept tokens: encode with the dense tokenizer, keep ids < 30,000 (the id
  // policy keeps exactly ids < V′ − 1 plus <|endoftext|>).
  const dense = loadTokenizer(shared('models/wiki-28m'));
  const ids = Array.from(dense.encode(readFileSync(CALIB(), 'utf8').slice(0, 3000))).filter((i) => i < 29999).slice(0, 200);
  const prunedTok = loadTokenizer(out);
  const map = (id: number) => prunedTok.tokenToId(dense.idToToken(id)!)!;
  const seqDense = Int32Array.from([50256, ...ids]);
  const seqPruned = Int32Array.from([map(50256), ...ids.map(map)]);
  assert.equal(map(50256), 29999, '<|endoftext|> renumbered to the last kept id');
  const a = await logitsOf(shared('models/wiki-28m'), [seqDense]);
  const b = await logitsOf(out, [seqPruned]);
  assert.equal(b.vocab, 30000);
  let maxErr = 0;
  let maxAbs = 0;
  const S = seqDense.length;
  for (let t = 0; t < S; t++) {
    for (let nid = 0; nid < 30000; nid++) {
      const oid = nid === 29999 ? 50256 : nid;
      const x = a.logits[0]![t * a.vocab + oid]!;
      const y = b.logits[0]![t * b.vocab + nid]!;
      maxErr = Math.max(maxErr, Math.abs(x - y));
      maxAbs = Math.max(maxAbs, Math.abs(x));
    }
  }
  assert.ok(maxErr <= 1e-5 * maxAbs, `kept logits changed: max |Δ| ${maxErr} (max |logit| ${maxAbs})`);
});

test('FFN-only pruning removes a zeroed channel first and leaves outputs unchanged (llama3 fixture)', async () => {
  const dir = fixtureWithTokenizer('llama3');
  const Z = 37;
  // Zero channel Z in every layer: its gate/up rows and its down column.
  const ck = await openCheckpoint(dir);
  const tensors = await Promise.all(ck.names().map(async (name) => ({ name, info: ck.info(name), data: new Float32Array(await ck.readFloat32(name)) })));
  await ck.close();
  for (const t of tensors) {
    if (/mlp\.(gate|up)_proj\.weight$/.test(t.name)) t.data.fill(0, Z * t.info.shape[1]!, (Z + 1) * t.info.shape[1]!);
    if (/mlp\.down_proj\.weight$/.test(t.name)) for (let r = 0; r < t.info.shape[0]!; r++) t.data[r * t.info.shape[1]! + Z] = 0;
  }
  await writeCheckpoint(dir, tensors.map((t) => ({ name: t.name, dtype: 'F32' as const, shape: [...t.info.shape], bytes: () => new Uint8Array(t.data.buffer) })));
  const out = join(makeTmpDir('ffn-only'), 'out');
  const report = await pruneModel({ model: dir, out, ffn: 175, calib: CALIB(), calibTokens: 256, seqLen: 64, quiet: true });
  assert.equal(report.vocab.kept, 1024);
  assert.equal(report.params.after.intermediate_size, 175);
  // The pruned down_proj must equal the original without column Z, in every layer.
  const pk = await openCheckpoint(out);
  for (const t of tensors.filter((x) => /down_proj/.test(x.name))) {
    const got = await pk.readFloat32(t.name);
    const [D, I] = t.info.shape as [number, number];
    for (let r = 0; r < D; r++) for (let c = 0, k = 0; c < I; c++) if (c !== Z) assert.equal(got[r * (I - 1) + k++], t.data[r * I + c], `${t.name}[${r},${c}]`);
  }
  await pk.close();
  const seq = [Int32Array.from([1000, 5, 17, 300, 999, 42, 7, 256, 1, 2, 3, 4])];
  const a = await logitsOf(dir, seq);
  const b = await logitsOf(out, seq);
  let maxErr = 0;
  for (let i = 0; i < a.logits[0]!.length; i++) maxErr = Math.max(maxErr, Math.abs(a.logits[0]![i]! - b.logits[0]![i]!));
  assert.ok(maxErr < 1e-5, `outputs changed by ${maxErr}`);
});

test('pruned folder reloads, inspect shows the new counts, the Rust tokenizer accepts it (every family)', async () => {
  for (const name of ['llama3', 'llama-untied', 'qwen2', 'qwen3', 'mistral', 'gemma3', 'llama3-bf16']) {
    const dir = fixtureWithTokenizer(name);
    const out = join(makeTmpDir(`reload-${name}`), 'out');
    await pruneModel({ model: dir, out, vocab: 700, ffn: 100, calib: CALIB(), calibTokens: 256, seqLen: 64, quiet: true });
    const r = await inspectModel(out);
    assert.equal(r.vocab_size, 700, name);
    assert.equal(r.intermediate_size, 100, name);
    assert.ok(r.checkpoint.agrees, `${name}: ${r.checkpoint.disagreements.join('; ')}`);
    const before = await inspectModel(dir, { vocab: 700, ffn: 100 });
    assert.equal(r.total_params, before.what_if!.after.total_params, name);
    const rust = RustTokenizer.fromString(readFileSync(join(out, 'tokenizer.json'), 'utf8'));
    const enc = await rust.encode('Hello world, pruned models still tokenize everything: 日本語 🙂');
    assert.ok(enc.getIds().every((id: number) => id < 700), name);
    const { logits } = await logitsOf(out, [Int32Array.from([1, 2, 3, 650, 699])]);
    assert.ok(logits[0]!.every(Number.isFinite), `${name}: non-finite logits after reload`);
    const ck = await openCheckpoint(out);
    const dtypes = new Set(ck.names().map((n) => ck.info(n).dtype));
    await ck.close();
    assert.deepEqual([...dtypes], [name === 'llama3-bf16' ? 'BF16' : 'F32'], `${name}: input dtype preserved`);
  }
});

test('--output-dtype converts float tensors and the config says so', async () => {
  const dir = fixtureWithTokenizer('qwen3');
  const out = join(makeTmpDir('dtype'), 'out');
  await pruneModel({ model: dir, out, vocab: 900, outputDtype: 'BF16', quiet: true });
  const ck = await openCheckpoint(out);
  assert.deepEqual([...new Set(ck.names().map((n) => ck.info(n).dtype))], ['BF16']);
  await ck.close();
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
  assert.equal(cfg.dtype, 'bfloat16');
  assert.equal(cfg.vocab_size, 900);
});
