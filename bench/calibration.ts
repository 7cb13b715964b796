/**
 * Calibration throughput and memory of the layer-streamed engine.
 *
 *   node --import tsx bench/calibration.ts [--quick] [--threads N]
 *
 * 1. wiki-28m (real, bf16): calibration (act² of every layer, no lm_head) on calib-wiki.txt in
 *    windows of 1024 tokens → tokens/s.
 * 2. A Qwen2.5-0.5B-shaped random model (hidden 896, 24 layers, 14/2 heads, head_dim 64, q/k/v
 *    bias, FFN 4864, vocab 151,936, tied, bf16; deterministic weights in a temp folder) at T=2048
 *    tokens per sequence, four windows a pass (layerMs is per window) → tokens/s, FLOP/s per layer, and the ratio to a bare ORT MatMul of the
 *    same GEMM shapes timed in the same process, interleaved with the engine runs (the machine is
 *    noisy; only same-run comparisons mean anything).
 * 3. Peak RSS of 1-, 4- and 16-layer models of one width (child processes, so each peak is its own):
 *    streaming keeps it near one layer's weights + activations whatever the depth.
 *
 * `--quick` shrinks every shape (CI smoke); `--only wiki|qwen|memory` runs one part (the JSON then
 * holds only that part). JSON goes to bench/results/calibration.json (calibration-quick.json).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os, { availableParallelism, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ort from 'onnxruntime-node';
import { DataType, GraphBuilder } from '../src/engine/onnx-proto.ts';
import { Engine } from '../src/engine/runner.ts';
import { loadTokenizer } from '../src/tokenizer/tokenize.ts';
import { ENGINE_SETTINGS, writeResult } from './common.ts';
import { projectionShapes, QWEN25_05B, writeRandomModel, type RandomModelShape } from './random-model.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = resolve(HERE, '..');
const SHARED = resolve(REPO, '../shared');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const threadsArg = args.indexOf('--threads');
const threads = threadsArg >= 0 ? Number(args[threadsArg + 1]) : availableParallelism();
const onlyArg = args.indexOf('--only');
const only = onlyArg >= 0 ? args[onlyArg + 1] : undefined;
const part = (name: string): boolean => only === undefined || only === name;

// ---------------------------------------------------------------------------------------------
// Child mode: one memory measurement in a fresh process.
if (args[0] === '--child-memory') {
  const [, dir, T] = args;
  const engine = await Engine.open(dir!, { threads });
  // Resident size before any layer runs: node + onnxruntime + one built session.
  const openRss = process.memoryUsage().rss / 2 ** 20;
  const seq = Int32Array.from({ length: Number(T) }, (_, i) => (i * 7919) % engine.spec.vocabSize);
  const r = await engine.forward([seq], { act2: true, lastLayer: engine.spec.layers - 1 });
  await engine.close();
  // maxRSS is in KiB.
  process.stdout.write(JSON.stringify({ maxRssMiB: process.resourceUsage().maxRSS / 1024, openRssMiB: openRss, seconds: r.seconds }) + '\n');
  process.exit(0);
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function layerFlopsPerSeq(m: RandomModelShape, T: number): { proj: number; attn: number } {
  const proj = projectionShapes(m).reduce((n, [K, N]) => n + 2 * T * K * N, 0);
  // Causal attention: QKᵀ and PV over ~T²/2 pairs per head, 2 FLOPs per multiply-add each.
  const attn = 2 * 2 * ((T * (T + 1)) / 2) * m.heads * m.headDim;
  return { proj, attn };
}

/** Bare MatMul sessions for the layer's GEMM shapes (weights as inputs, [K, N] layout). */
async function bareMatmuls(m: RandomModelShape, T: number): Promise<() => Promise<number>> {
  const runs: (() => Promise<unknown>)[] = [];
  for (const [K, N] of projectionShapes(m)) {
    const g = new GraphBuilder('bare_matmul');
    const a = g.input('a', DataType.FLOAT, ['T', K]);
    const b = g.input('b', DataType.FLOAT, [K, N]);
    g.node('MatMul', [a, b], {}, { outputs: ['y'] });
    g.output('y', DataType.FLOAT, ['T', N]);
    const s = await ort.InferenceSession.create(g.toModel(), { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
    const feeds = {
      a: new ort.Tensor('float32', new Float32Array(T * K).fill(0.01), [T, K]),
      b: new ort.Tensor('float32', new Float32Array(K * N).fill(0.01), [K, N]),
    };
    await s.run(feeds); // warm-up
    runs.push(() => s.run(feeds));
  }
  /** Milliseconds for one pass over all shapes. */
  return async () => {
    const t0 = performance.now();
    for (const r of runs) await r();
    return performance.now() - t0;
  };
}

// ---------------------------------------------------------------------------------------------

async function benchWiki(): Promise<Record<string, number>> {
  const dir = join(SHARED, 'models/wiki-28m');
  const tok = loadTokenizer(dir);
  const T = quick ? 128 : 1024;
  const n = quick ? 2 : 8;
  const text = readFileSync(join(SHARED, 'data/text/calib-wiki.txt'), 'utf8').slice(0, T * n * 8);
  const ids = tok.encode(text);
  const seqs: Int32Array[] = [];
  for (let i = 0; i < n; i++) seqs.push(ids.slice(i * T, (i + 1) * T));
  const engine = await Engine.open(dir, { threads });
  try {
    await engine.forward([seqs[0]!.slice(0, 16)], { act2: true }); // sessions + arena warm-up
    const r = await engine.forward(seqs, { act2: true });
    return { seqLen: T, sequences: n, tokens: r.tokens, seconds: r.seconds, tokensPerSecond: r.tokens / r.seconds };
  } finally {
    await engine.close();
  }
}

async function benchQwen(work: string): Promise<Record<string, number>> {
  const shape: RandomModelShape = quick
    ? { ...QWEN25_05B, hidden: 128, layers: 3, heads: 4, kvHeads: 2, headDim: 32, intermediate: 384, vocab: 4096 }
    : QWEN25_05B;
  const T = quick ? 128 : 2048;
  const reps = quick ? 2 : 3;
  const dir = join(work, 'qwen');
  mkdirSync(dir);
  const t0 = performance.now();
  await writeRandomModel(dir, shape);
  const writeSeconds = (performance.now() - t0) / 1000;
  const seq = Int32Array.from({ length: T }, (_, i) => (i * 7919 + 11) % shape.vocab);
  // Four windows per pass, as a prune's calibration runs many (16 at the defaults) through each
  // layer: the layer's weight loading and session setup are shared by them, as they are there.
  const windows = Array.from({ length: 4 }, (_, w) => Int32Array.from({ length: T }, (_, i) => (w * 104729 + i * 7919 + 11) % shape.vocab));
  const engine = await Engine.open(dir, { threads });
  const bare = await bareMatmuls(shape, T);
  const { proj, attn } = layerFlopsPerSeq(shape, T);
  try {
    await engine.forward([seq.slice(0, 16)], { act2: true, lastLayer: 0 });
    const layerMs: number[] = [];
    const bareMs: number[] = [];
    const tokensPerSecond: number[] = [];
    for (let rep = 0; rep < reps; rep++) {
      let last = performance.now();
      // Interleave: a bare pass before each layer, so both see the same machine state.
      const r = await engine.forward(windows, { act2: true }, () => {
        const now = performance.now();
        layerMs.push((now - last) / windows.length);
        last = now;
      });
      tokensPerSecond.push(r.tokens / r.seconds);
      for (let i = 0; i < Math.min(4, shape.layers); i++) bareMs.push(await bare());
    }
    const layer = median(layerMs);
    const bareMed = median(bareMs);
    const settings = await engineSettings(dir, seq, reps);
    return {
      writeSeconds,
      seqLen: T,
      layers: shape.layers,
      tokensPerSecond: median(tokensPerSecond),
      layerMs: layer,
      layerGflops: (proj + attn) / layer / 1e6,
      layerProjOnlyGflops: proj / layer / 1e6,
      bareMatmulMs: bareMed,
      bareMatmulGflops: proj / bareMed / 1e6,
      ratioFlops: (proj + attn) / layer / (proj / bareMed),
      ratioProjOnly: bareMed / layer,
      attnShareOfFlops: attn / (proj + attn),
      ...settings,
    };
  } finally {
    await engine.close();
  }
}

/**
 * The two engine settings behind calibration's speed (docs/performance.md §1c), in one run:
 * onnxruntime's CPU arena on/off × the FFN in row blocks or in one block, each a median layer
 * time over `reps` interleaved passes, as a ratio to the default (arena on, row blocks).
 */
async function engineSettings(dir: string, seq: Int32Array, reps: number): Promise<Record<string, number>> {
  const configs = ENGINE_SETTINGS.map((c) => ({ name: c.key, opts: c.opts }));
  const ms = new Map<string, number[]>(configs.map((c) => [c.name, []]));
  for (let rep = 0; rep < reps; rep++) {
    for (const c of configs) {
      const e = await Engine.open(dir, { threads, ...c.opts });
      try {
        await e.forward([seq.slice(0, 16)], { act2: true, lastLayer: 0 });
        let last = performance.now();
        await e.forward([seq], { act2: true }, (p) => {
          const now = performance.now();
          if (p.layer > 0) ms.get(c.name)!.push(now - last); // layer 0 also builds the session
          last = now;
        });
      } finally {
        await e.close();
      }
    }
  }
  const out: Record<string, number> = {};
  const base = median(ms.get('default')!);
  for (const c of configs) {
    const m = median(ms.get(c.name)!);
    out[`settings_${c.name}_layerMs`] = m;
    out[`settings_${c.name}_vsDefault`] = m / base;
  }
  return out;
}

async function benchMemory(work: string): Promise<Record<string, unknown>> {
  const base: RandomModelShape = quick
    ? { ...QWEN25_05B, hidden: 128, heads: 4, kvHeads: 2, headDim: 32, intermediate: 384, vocab: 4096, layers: 1 }
    : { ...QWEN25_05B, vocab: 32000, layers: 1 };
  const T = quick ? 128 : 1024;
  const depths = [1, 4, 16];
  const layerParams = projectionShapes(base).reduce((n, [K, N]) => n + K * N, 0);
  const rows: Record<string, unknown>[] = [];
  for (const layers of depths) {
    const dir = join(work, `mem-${layers}`);
    mkdirSync(dir);
    await writeRandomModel(dir, { ...base, layers });
    const out = execFileSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child-memory', dir, String(T), '--threads', String(threads)], {
      cwd: REPO,
      encoding: 'utf8',
    });
    const m = JSON.parse(out.trim().split('\n').pop()!);
    rows.push({ layers, maxRssMiB: Math.round(m.maxRssMiB), afterOpenRssMiB: Math.round(m.openRssMiB), seconds: m.seconds });
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    seqLen: T,
    hidden: base.hidden,
    intermediate: base.intermediate,
    oneLayerF32WeightsMiB: Math.round((layerParams * 4) / 2 ** 20),
    // gate, up, act and act² are the largest activations of one run: 4 × [T, I] f32.
    ffnActivationsMiB: Math.round((4 * T * base.intermediate * 4) / 2 ** 20),
    runs: rows,
  };
}

const work = mkdtempSync(join(tmpdir(), 'compact-bench-'));
try {
  const info = { quick, threads, cpus: availableParallelism(), node: process.version, ort: ort.env.versions.node };
  const wiki = part('wiki') ? await benchWiki() : undefined;
  const qwen = part('qwen') ? await benchQwen(work) : undefined;
  const memory = part('memory') ? await benchMemory(work) : undefined;
  const result = { info, wiki28m: wiki, qwen25_05b: qwen, memory, date: new Date().toISOString() };
  writeResult('calibration', quick, result);

  const f = (x: number, d = 0) => x.toFixed(d);
  console.log(`\ncalibration bench${quick ? ' (--quick shapes)' : ''}, ${threads} threads`);
  if (wiki) console.log(`  wiki-28m: ${f(wiki.tokensPerSecond!)} tokens/s (${wiki.sequences} × ${wiki.seqLen} tokens, act² of all 8 layers)`);
  if (qwen) {
    console.log(
    `  Qwen2.5-0.5B-shaped: ${f(qwen.tokensPerSecond!, 1)} tokens/s at T=${qwen.seqLen} (${qwen.layers} layers); per layer ${f(qwen.layerMs!)} ms = ${f(qwen.layerGflops!)} GFLOP/s ` +
      `(attention ${f(100 * qwen.attnShareOfFlops!)}% of FLOPs)`,
  );
    console.log(`  bare ORT MatMul, same shapes: ${f(qwen.bareMatmulGflops!)} GFLOP/s → engine/bare FLOP/s ratio ${f(qwen.ratioFlops!, 2)} (projections only: ${f(qwen.ratioProjOnly!, 2)})`);
    console.log(
      `  layer time vs the default (arena on, FFN row blocks): arena off ×${f(qwen.settings_arenaOffBlocked_vsDefault!, 2)}, one FFN block ×${f(qwen.settings_arenaOnOneBlock_vsDefault!, 2)}, ` +
        `both ×${f(qwen.settings_arenaOffOneBlock_vsDefault!, 2)}`,
    );
  }
  if (memory) {
    const runs = memory.runs as { layers: number; maxRssMiB: number; afterOpenRssMiB: number }[];
    const mem = runs.map((r) => `${r.layers} layers ${r.maxRssMiB} MiB (+${r.maxRssMiB - r.afterOpenRssMiB} over the open engine)`).join(', ');
    console.log(`  peak RSS (T=${memory.seqLen}, one layer ${memory.oneLayerF32WeightsMiB} MiB f32 weights, FFN activations ${memory.ffnActivationsMiB} MiB): ${mem}`);
  }
  // Headline last (bench/run.ts repeats each bench's last line in its summary).
  const heads = [qwen && `Qwen2.5-0.5B-shaped ${f(qwen.tokensPerSecond!, 1)} tokens/s (×${f(qwen.ratioProjOnly!, 2)} of bare MatMul)`, wiki && `wiki-28m ${f(wiki.tokensPerSecond!)} tokens/s`];
  console.log(`calibration: ${heads.filter(Boolean).join(', ') || 'memory only'} (load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')})`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
