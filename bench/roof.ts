/**
 * The machine's roof for calibration's arithmetic, measured in one run:
 *
 *   node --import tsx bench/roof.ts [--quick] [--threads N]
 *
 * 1. Peak f32 FMA rate: bench/native/fma-peak.c (independent FMA chains in registers, the widest
 *    vectors -march=native gives), built with the system C compiler, on 1 thread and on every core.
 * 2. The best onnxruntime MatMul on calibration's own GEMM shapes (wiki-28m and the
 *    Qwen2.5-0.5B shape, T = 512 and 2048 tokens): each shape in two weight layouts (`MatMul` with
 *    B as [K, N], and `Gemm` with transB=1 and B as [N, K], the safetensors layout) and at 1 and
 *    N threads, best of 5.
 * 3. When bench/results/calibration.json exists (npm run bench -- --only calibration), its
 *    Qwen2.5-0.5B layer rate as a fraction of (1) and of the best MatMul of (2) on the same shapes.
 *
 * The CPU model and its vector/ML flags (AVX-512, bf16, VNNI, AMX) are recorded with the figures:
 * the machines of this kind vary. JSON: bench/results/roof.json (roof-quick.json).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { DataType, GraphBuilder } from '../src/engine/onnx-proto.ts';
import { BENCH_DIR, loadavgText, machine, parseArgs, resultsDir, writeResult } from './common.ts';
import { projectionShapes, QWEN25_05B, type RandomModelShape } from './random-model.ts';

const { quick, threads } = parseArgs();
const REPS = quick ? 2 : 5;

/** The CPU's model name and the flags that decide which kernels can run. */
function cpuFeatures(): { model: string; flags: string[] } {
  const text = existsSync('/proc/cpuinfo') ? readFileSync('/proc/cpuinfo', 'utf8') : '';
  const model = /^model name\s*:\s*(.*)$/m.exec(text)?.[1]?.trim() ?? 'unknown';
  const all = /^flags\s*:\s*(.*)$/m.exec(text)?.[1]?.split(/\s+/) ?? [];
  const wanted = /^(fma|avx2|avx512f|avx512bw|avx512vl|avx512_bf16|avx512_fp16|avx512_vnni|avx_vnni|amx_\w+)$/;
  return { model, flags: all.filter((f) => wanted.test(f)).sort() };
}

/** Builds fma-peak once per source version (bench/native/.build is git-ignored). */
function fmaPeakBinary(): string | null {
  const src = join(BENCH_DIR, 'native/fma-peak.c');
  const dir = join(BENCH_DIR, 'native/.build');
  const bin = join(dir, 'fma-peak');
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('cc', ['-O2', '-march=native', '-pthread', src, '-o', bin], { stdio: ['ignore', 'ignore', 'pipe'] });
    return bin;
  } catch (e) {
    console.error(`roof: cannot build ${src} (${(e as Error).message.split('\n')[0]}); FMA peak skipped`);
    return null;
  }
}

function fmaPeak(bin: string, n: number): number {
  let best = 0;
  for (let r = 0; r < 3; r++) {
    const out = JSON.parse(execFileSync(bin, [String(n), quick ? '0.2' : '1'], { encoding: 'utf8' })) as { gflops: number };
    best = Math.max(best, out.gflops);
  }
  return best;
}

type Layout = 'matmul-kn' | 'gemm-transb';
interface MatmulRow { T: number; K: number; N: number; layout: Layout; threads: number; gflops: number }

async function matmul(T: number, K: number, N: number, layout: Layout, nThreads: number): Promise<number> {
  const g = new GraphBuilder('roof_matmul');
  const a = g.input('a', DataType.FLOAT, [T, K]);
  const b = g.input('b', DataType.FLOAT, layout === 'matmul-kn' ? [K, N] : [N, K]);
  if (layout === 'matmul-kn') g.node('MatMul', [a, b], {}, { outputs: ['y'] });
  else g.node('Gemm', [a, b], { transB: 1 }, { outputs: ['y'] });
  g.output('y', DataType.FLOAT, [T, N]);
  const s = await ort.InferenceSession.create(g.toModel(), { intraOpNumThreads: nThreads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  try {
    const feeds = {
      a: new ort.Tensor('float32', new Float32Array(T * K).fill(0.01), [T, K]),
      b: new ort.Tensor('float32', new Float32Array(K * N).fill(0.01), layout === 'matmul-kn' ? [K, N] : [N, K]),
    };
    await s.run(feeds);
    let best = Infinity;
    for (let r = 0; r < REPS; r++) {
      const t0 = performance.now();
      await s.run(feeds);
      best = Math.min(best, performance.now() - t0);
    }
    return (2 * T * K * N) / best / 1e6;
  } finally {
    await s.release();
  }
}

const WIKI28M: Pick<RandomModelShape, 'hidden' | 'heads' | 'kvHeads' | 'headDim' | 'intermediate'> = { hidden: 320, heads: 5, kvHeads: 1, headDim: 64, intermediate: 1280 };
const models = quick
  ? { tiny: { hidden: 128, heads: 4, kvHeads: 2, headDim: 32, intermediate: 384 } }
  : { 'wiki-28m': WIKI28M, 'qwen2.5-0.5b': QWEN25_05B };
const Ts = quick ? [128] : [512, 2048];
const threadCounts = [...new Set([1, threads])];

const cpu = cpuFeatures();
const bin = fmaPeakBinary();
const peak: Record<string, number> = {};
if (bin) for (const n of threadCounts) peak[String(n)] = fmaPeak(bin, n);

const rows: MatmulRow[] = [];
for (const [, m] of Object.entries(models)) {
  const shapes = [...new Map(projectionShapes(m).map(([K, N]) => [`${K}x${N}`, [K, N] as const])).values()];
  for (const T of Ts) {
    for (const [K, N] of shapes) {
      for (const layout of ['matmul-kn', 'gemm-transb'] as const) {
        for (const n of threadCounts) rows.push({ T, K, N, layout, threads: n, gflops: await matmul(T, K, N, layout, n) });
      }
    }
  }
}

/** Best rate on each (K, N), whatever the layout, thread count and batch of tokens: all three are ours to choose. */
const bestOf = (K: number, N: number): number => Math.max(...rows.filter((r) => r.K === K && r.N === N).map((r) => r.gflops));
const bestMatmul = Math.max(...rows.map((r) => r.gflops));

// Calibration against both roofs: the 0.5B layer at its T, projections only (attention's
// T² part is not a GEMM of these shapes). The best-MatMul time of a layer sums each shape's best
// rate over every measured batch size, layout and thread count.
let calibration: Record<string, number> | undefined;
const calibJson = join(resultsDir(), 'calibration.json');
if (!quick && existsSync(calibJson)) {
  const q = (JSON.parse(readFileSync(calibJson, 'utf8')) as { qwen25_05b?: { seqLen: number; layerProjOnlyGflops: number; layerGflops: number } }).qwen25_05b;
  if (q && Ts.includes(q.seqLen)) {
    const T = q.seqLen;
    const shapes = projectionShapes(QWEN25_05B);
    const flop = shapes.reduce((s, [K, N]) => s + 2 * T * K * N, 0);
    const bestMs = shapes.reduce((s, [K, N]) => s + (2 * T * K * N) / bestOf(K, N) / 1e6, 0);
    const bestLayerGflops = flop / bestMs / 1e6;
    const allCores = peak[String(threads)];
    calibration = {
      seqLen: T,
      layerProjOnlyGflops: q.layerProjOnlyGflops,
      bestMatmulSameShapesGflops: bestLayerGflops,
      fractionOfBestMatmul: q.layerProjOnlyGflops / bestLayerGflops,
      ...(allCores ? { fractionOfFmaPeak: q.layerProjOnlyGflops / allCores } : {}),
      // Attention's FLOPs are work the layer does too: the whole layer's rate against the same roofs.
      layerGflops: q.layerGflops,
      layerFractionOfBestMatmul: q.layerGflops / bestLayerGflops,
      ...(allCores ? { layerFractionOfFmaPeak: q.layerGflops / allCores } : {}),
    };
  }
}

writeResult('roof', quick, { machine: machine(), cpu, threads, fmaPeakGflops: peak, matmul: rows, bestMatmulGflops: bestMatmul, calibration });

const f = (x: number, d = 0): string => x.toFixed(d);
console.log(`\nroof: ${cpu.model}; ${cpu.flags.join(' ')}`);
for (const [n, g] of Object.entries(peak)) console.log(`  f32 FMA peak, ${n} thread(s): ${f(g, 1)} GFLOP/s`);
for (const T of Ts) {
  const shapes = [...new Set(rows.filter((r) => r.T === T).map((r) => `${r.K}x${r.N}`))];
  for (const s of shapes) {
    const [K, N] = s.split('x').map(Number) as [number, number];
    const of = rows.filter((r) => r.T === T && r.K === K && r.N === N);
    const best = of.reduce((a, b) => (b.gflops > a.gflops ? b : a));
    console.log(`  MatMul T=${T} [${K}→${N}]: best ${f(best.gflops)} GFLOP/s (${best.layout}, ${best.threads} thr); ` + of.map((r) => `${r.layout}/${r.threads}: ${f(r.gflops)}`).join(', '));
  }
}
if (calibration) {
  console.log(
    `  calibration (Qwen2.5-0.5B shape, T=${calibration.seqLen}, projections): ${f(calibration.layerProjOnlyGflops!)} GFLOP/s = ` +
      `${f(100 * calibration.fractionOfBestMatmul!)}% of the best MatMul on its shapes (${f(calibration.bestMatmulSameShapesGflops!)})` +
      (calibration.fractionOfFmaPeak !== undefined ? `, ${f(100 * calibration.fractionOfFmaPeak)}% of the FMA peak` : ''),
  );
  console.log(
    `  calibration, whole layer (projections + attention FLOPs): ${f(calibration.layerGflops!)} GFLOP/s = ${f(100 * calibration.layerFractionOfBestMatmul!)}% of the best MatMul` +
      (calibration.layerFractionOfFmaPeak !== undefined ? `, ${f(100 * calibration.layerFractionOfFmaPeak)}% of the FMA peak` : ''),
  );
}
const peakAll = peak[String(threads)];
console.log(`roof: FMA peak ${peakAll !== undefined ? f(peakAll, 1) : 'n/a'} GFLOP/s (${threads} threads), best MatMul ${f(bestMatmul)} GFLOP/s (load ${loadavgText()})`);
