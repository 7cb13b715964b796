/**
 * Quantized GGUF export against llama.cpp's own quantizer.
 *
 * Truth 1 (always, needs only a C compiler): ggml-quants.c's reference quantizers, compiled from
 * the llama.cpp release @fugood/llama.node vendors (quant-ref.ts). Every tensor of our direct
 * Q8_0 / Q4_0 / Q6_K / Q4_K_M / Q5_K_M export must be byte-identical to what they make of the same
 * tensor in our F32 export — on adversarial synthetic rows, wiki-28m dense and pruned, and the
 * golden fixtures.
 * Truth 2 (where bench/native/build.sh has built llama-quantize-ref): llama_model_quantize() itself
 * run on our F32 export — same tensor types, same bytes, tensor by tensor.
 * Truth 3: the per-tensor types llama-quantize gave wiki-28m in the issue (#20) measurement.
 * Then llama.cpp (@fugood/llama.node) loads every type we write and generates.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { toggleNativeLog } from './llama-node.ts';
import { exportGguf } from '../../src/export/gguf-export.ts';
import { main } from '../../src/cli/main.ts';
import type { GgufPlanReport } from '../../src/cli/gguf-plan.ts';
import { QUANT_FILE_TYPES, type GgmlTypeName, type QuantFileType } from '../../src/export/gguf-quant/ggml-types.ts';
import { quantizeRows } from '../../src/export/gguf-quant/quantize-rows.ts';
import { planQuantization, summarizePlan } from '../../src/export/gguf-quant/quant-plan.ts';
import { useMoreBits } from '../../src/export/gguf-quant/type-rules.ts';
import { pruneModel } from '../../src/prune/prune.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { GOLDEN_CASES, REPO_ROOT, shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { GgufFile } from './gguf-read.ts';
import { Gguf } from './llama-runtime.ts';
import { buildReference, cCompiler, referenceBatch } from './quant-ref.ts';

const FTYPES = Object.keys(QUANT_FILE_TYPES) as QuantFileType[];
const DENSE = shared('models/wiki-28m');
const cc = cCompiler();
const NO_CC = cc ? false : 'no C compiler on this machine (cc/gcc/clang): the byte-identity checks need one to build llama.cpp\'s reference quantizer';
const LLAMA_QUANTIZE = process.env.COMPACT_LLAMA_QUANTIZE ?? join(REPO_ROOT, 'bench/native/.build/llama-quantize-ref');

let bin = '';
let work = '';
let pruned = '';
const seconds: Record<string, number> = {};

before(async () => {
  await toggleNativeLog(false);
  work = makeTmpDir('gguf-quant');
  if (cc) {
    const t0 = performance.now();
    bin = buildReference(cc);
    seconds['reference build (0 when cached)'] = (performance.now() - t0) / 1000;
  }
});

after(() => {
  console.log(`gguf-quant timings (s): ${JSON.stringify(Object.fromEntries(Object.entries(seconds).map(([k, v]) => [k, Number(v.toFixed(1))])))}`);
});

/** Rows that hit every branch of the reference quantizers: zeros, constants, one sign, outliers, ties, tiny and huge values. */
function adversarialRows(cols: number, rows: number): Float32Array {
  let s = 12345;
  const rnd = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const gauss = (): number => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const x = new Float32Array(cols * rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = gauss() * 0.02;
      const v = [g, 0, 0.5, Math.abs(g), -Math.abs(g) * 1e-6, c % 37 === 0 ? 3 : g, Math.round(gauss() * 4) / 8, gauss() * 1e-8,
        c < 32 ? 0 : g, c % 2 ? 1e-30 : -g, gauss() * 300, c % 16 === 0 ? -1 : 0][r % 12]!;
      x[r * cols + c] = v;
    }
  }
  return x;
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

test('every block type is byte-identical to ggml-quants.c on adversarial rows', { skip: NO_CC }, () => {
  const cols = 512;
  const x = adversarialRows(cols, 48);
  const types: GgmlTypeName[] = ['Q8_0', 'Q4_0', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K', 'F16'];
  const refs = referenceBatch(bin, types.map((type) => ({ type, cols, values: x })));
  types.forEach((type, i) => {
    const mine = quantizeRows(x, cols, type);
    assert.equal(firstDifference(mine, refs[i]!), -1, `${type}: first byte that differs from ggml-quants.c`);
  });
});

/** Exports `model` as F32 and as every quantized type; checks each tensor against the C reference (and llama_model_quantize when built). */
async function checkModel(label: string, model: string): Promise<void> {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const f32Path = join(work, `${label}-F32.gguf`);
  await exportGguf(model, f32Path, { dtype: 'F32' });
  const f32 = new GgufFile(f32Path);
  const llamaQuantize = existsSync(LLAMA_QUANTIZE);
  try {
    for (const ftype of FTYPES) {
      const path = join(work, `${label}-${ftype}.gguf`);
      const odd = [...f32.tensors.values()].filter((t) => t.shape.length >= 2 && t.shape.at(-1)! % 32 !== 0).map((t) => t.name);
      if ((ftype === 'Q8_0' || ftype === 'Q4_0') && odd.length) {
        // llama.cpp has no fallback for these types: rows not a multiple of 32 stop it, and us.
        await assert.rejects(exportGguf(model, path, { quant: ftype }), (e: Error) => e.name === 'CompactError' && /no fallback/.test(e.message) && e.message.includes(odd[0]!.replace(/^blk\.\d+\./, '')));
        assert.equal(existsSync(path), false);
        if (llamaQuantize) {
          const r = spawnSync(LLAMA_QUANTIZE, [f32Path, `${path}.llama`, String(QUANT_FILE_TYPES[ftype].ftype)], { encoding: 'utf8' });
          assert.notEqual(r.status, 0, `llama_model_quantize ${label} ${ftype} should refuse rows of ${f32.tensors.get(odd[0]!)!.shape.at(-1)}`);
        }
        continue;
      }
      const report = await exportGguf(model, path, { quant: ftype });
      const ours = new GgufFile(path);
      try {
        assert.equal(ours.metadata.get('general.file_type'), QUANT_FILE_TYPES[ftype].ftype, `${label} ${ftype}: general.file_type`);
        assert.equal(ours.metadata.get('general.quantization_version'), 2);
        assert.deepEqual([...ours.tensors.keys()], [...f32.tensors.keys()], `${label} ${ftype}: tensor names and order`);
        const jobs = [...ours.tensors.values()].filter((t) => t.type !== 'F32').map((t) => ({ name: t.name, type: t.type, cols: t.shape.at(-1)!, values: f32.readF32(t.name) }));
        const refs = referenceBatch(bin, jobs);
        jobs.forEach((j, i) => assert.equal(firstDifference(ours.read(j.name), refs[i]!), -1, `${label} ${ftype} ${j.name} (${j.type}): first byte that differs from ggml-quants.c`));
        for (const t of ours.tensors.values()) {
          if (t.type === 'F32') assert.equal(firstDifference(ours.read(t.name), f32.read(t.name)), -1, `${label} ${ftype} ${t.name}: F32 copy`);
        }
        assert.equal(Object.values(report.quantization!.types).reduce((a, b) => a + b, 0), ours.tensors.size);
        if (llamaQuantize) {
          const refPath = join(work, `${label}-${ftype}-llama.gguf`);
          const r = spawnSync(LLAMA_QUANTIZE, [f32Path, refPath, String(QUANT_FILE_TYPES[ftype].ftype)], { encoding: 'utf8' });
          assert.equal(r.status, 0, `llama_model_quantize ${label} ${ftype}: ${r.stderr}`);
          const theirs = new GgufFile(refPath);
          try {
            assert.deepEqual([...theirs.tensors.keys()].sort(), [...ours.tensors.keys()].sort());
            for (const t of ours.tensors.values()) {
              assert.equal(t.type, theirs.tensors.get(t.name)!.type, `${label} ${ftype} ${t.name}: type (llama_model_quantize)`);
              assert.equal(firstDifference(ours.read(t.name), theirs.read(t.name)), -1, `${label} ${ftype} ${t.name}: first byte that differs from llama_model_quantize`);
            }
          } finally {
            theirs.close();
            rmSync(refPath, { force: true });
          }
        }
      } finally {
        ours.close();
      }
    }
  } finally {
    f32.close();
  }
  seconds[label] = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  seconds[`${label} cpu`] = (cpu.user + cpu.system) / 1e6;
  if (!llamaQuantize) console.log(`${label}: compared with ggml-quants.c only (${LLAMA_QUANTIZE} not built; bash bench/native/build.sh builds it)`);
}

describe('direct quantized export = llama.cpp quantizer on our F32 export', { skip: NO_CC }, () => {
  test('wiki-28m dense, all five file types', async () => {
    await checkModel('wiki28m-dense', DENSE);
  });

  test('wiki-28m pruned (V′ 24000, I′ 960), all five file types', async () => {
    pruned = join(work, 'pruned');
    await pruneModel({ model: DENSE, out: pruned, vocab: 24000, ffn: 960, ffnCriterion: 'magnitude', quiet: true });
    await checkModel('wiki28m-pruned', pruned);
  });

  for (const name of GOLDEN_CASES) {
    test(`golden fixture ${name}, all five file types`, async () => {
      await checkModel(`golden-${name}`, fixtureWithTokenizer(name));
    });
  }
});

/** wiki-28m's GGUF tensor list with FFN width `ffn` (names and shapes as our exporter writes them). */
function wikiTensors(ffn: number): Array<{ name: string; shape: number[]; type: GgmlTypeName }> {
  const t: Array<{ name: string; shape: number[]; type: GgmlTypeName }> = [{ name: 'token_embd.weight', shape: [50257, 320], type: 'F32' }];
  for (let l = 0; l < 8; l++) {
    const b = `blk.${l}.`;
    t.push({ name: `${b}attn_norm.weight`, shape: [320], type: 'F32' }, { name: `${b}attn_q.weight`, shape: [320, 320], type: 'F32' },
      { name: `${b}attn_k.weight`, shape: [64, 320], type: 'F32' }, { name: `${b}attn_v.weight`, shape: [64, 320], type: 'F32' },
      { name: `${b}attn_output.weight`, shape: [320, 320], type: 'F32' }, { name: `${b}ffn_norm.weight`, shape: [320], type: 'F32' },
      { name: `${b}ffn_gate.weight`, shape: [ffn, 320], type: 'F32' }, { name: `${b}ffn_up.weight`, shape: [ffn, 320], type: 'F32' },
      { name: `${b}ffn_down.weight`, shape: [320, ffn], type: 'F32' });
  }
  t.push({ name: 'output_norm.weight', shape: [320], type: 'F32' });
  return t;
}

test('Q4_K_M ffn_down types are what llama-quantize gave wiki-28m in issue #20 (dense, I′ 962, 960, 1,024)', () => {
  const downTypes = (ffn: number): Record<string, number> => {
    const plan = planQuantization(wikiTensors(ffn), 'Q4_K_M', { layers: 8, tied: true, is70B: false });
    const out: Record<string, number> = {};
    for (const e of plan.filter((p) => p.name.endsWith('ffn_down.weight'))) out[e.type] = (out[e.type] ?? 0) + 1;
    return out;
  };
  assert.deepEqual(downTypes(1280), { Q6_K: 4, Q4_K: 4 });
  assert.deepEqual(downTypes(962), { F16: 8 });
  assert.deepEqual(downTypes(960), { Q8_0: 4, Q5_0: 4 });
  assert.deepEqual(downTypes(1024), { Q6_K: 4, Q4_K: 4 });
  // The measured dense Q4_K_M file was 27.05 MB; tensor data is all but the ~1.2 MB tokenizer header.
  const dense = summarizePlan(planQuantization(wikiTensors(1280), 'Q4_K_M', { layers: 8, tied: true, is70B: false }), 'Q4_K_M');
  assert.ok(dense.bytes < 27.05e6 && dense.bytes > 25e6, `dense Q4_K_M tensor bytes ${dense.bytes}`);
  // use_more_bits over 8 layers: the first and last eighth, and every third from n/8.
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7].filter((i) => useMoreBits(i, 8)), [0, 3, 6, 7]);
  assert.deepEqual([...Array(24).keys()].filter((i) => useMoreBits(i, 24)), [0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23]);
});

test('llama.cpp loads every quantized type we write of wiki-28m and generates', { skip: NO_CC }, async () => {
  const f32 = new Gguf(join(work, 'wiki28m-dense-F32.gguf'));
  const prompt = 'The history of the city';
  const reference = await f32.top5(prompt);
  for (const ftype of FTYPES) {
    const g = new Gguf(join(work, `wiki28m-dense-${ftype}.gguf`));
    const text = await g.greedy(prompt, 12);
    assert.ok(text.trim().length > 0, `${ftype}: llama.cpp generated nothing`);
    const top = await g.top5(prompt);
    assert.equal(top.length, 5, `${ftype}: top-5`);
    // Quantization noise moves probabilities a little, not the model: the F32 favourite stays in the top 5.
    assert.ok(top.some((t) => t.text === reference[0]!.text), `${ftype}: F32's top token ${JSON.stringify(reference[0]!.text)} not in ${JSON.stringify(top.map((t) => t.text))}`);
    console.log(`${ftype}: ${JSON.stringify(text)}; top-1 ${JSON.stringify(top[0]!.text)} p=${top[0]!.prob.toFixed(3)} (F32 ${JSON.stringify(reference[0]!.text)} p=${reference[0]!.prob.toFixed(3)})`);
  }
});

test('inspect --gguf-plan: the plan is the file the export writes (same size, same types), and writes nothing', async () => {
  const dir = fixtureWithTokenizer('llama-untied');
  const before = readdirSync(dir).sort();
  const lines: string[] = [];
  const log = console.log;
  console.log = (s: string) => void lines.push(s);
  try {
    assert.equal(await main(['inspect', dir, '--gguf-plan', 'q4_k_m', '--json']), 0);
  } finally {
    console.log = log;
  }
  const plan = (JSON.parse(lines.join('\n')) as { gguf_plan: GgufPlanReport }).gguf_plan;
  assert.deepEqual(readdirSync(dir).sort(), before);
  const path = join(makeTmpDir('gguf-plan'), 'm.gguf');
  await exportGguf(dir, path, { quant: 'Q4_K_M' });
  assert.equal(plan.file_bytes, statSync(path).size);
  const g = new GgufFile(path);
  try {
    for (const t of plan.tensors) assert.equal(g.tensors.get(t.name)!.type, t.type, t.name);
  } finally {
    g.close();
  }
  // Rows of 64 (hidden) fall back from the K-quants; rows of 176 (ffn_down) are not a multiple of 32: F16.
  assert.ok(plan.summary.fallbacks.some((f) => f.name === 'blk.0.ffn_down.weight' && f.type === 'F16'));
  assert.equal(plan.tensors.find((t) => t.name === 'output.weight')!.type, 'Q8_0');
  assert.ok(plan.summary.bitsPerWeight > 4 && plan.summary.bitsPerWeight < 32);
});

test('bad quantized types are refused before any work, naming the flag', async () => {
  const dir = fixtureWithTokenizer('llama3');
  const out = makeTmpDir('bad-quant');
  const refused = async (argv: string[], pattern: RegExp): Promise<void> => {
    const errors: string[] = [];
    const error = console.error;
    console.error = (s: string) => void errors.push(s);
    try {
      assert.equal(await main(argv), 2, 'a usage mistake exits 2');
    } finally {
      console.error = error;
    }
    assert.match(errors.join('\n'), pattern);
  };
  await refused(['export', dir, '--format', 'gguf', '--out', join(out, 'm.gguf'), '--dtype', 'q3_k_m'], /--dtype must be one of f32, f16, bf16, q4_0, q8_0, q4_k_m, q5_k_m, q6_k; got q3_k_m/);
  await refused(['prune', dir, '--out', join(out, 'p'), '--vocab', '900', '--ffn', '128', '--export', 'gguf:q2_k'], /--export gguf:TYPE must be one of/);
  await refused(['inspect', dir, '--gguf-plan', 'f16'], /--gguf-plan takes a quantized type/);
  assert.deepEqual(readdirSync(out), []);
});
