/**
 * CPU cost of one layer's down_proj refit (`refitDown`, src/prune/refit.ts) at a given shape, on a
 * synthetic diagonally dominant G (the solve's cost does not depend on G's values): the first
 * cut of a run (the whole W·G, which also gives the dense output energy) and a later cut (the
 * energy known: W·G[:, S] only). onnxruntime f64 GEMMs on `--threads` threads (default 2), so
 * CPU seconds (user + sys, every thread) and wall seconds are both reported.
 *
 *   node --import tsx bench/refit-solve.ts --hidden 896 --intermediate 4864 --kept 2994 [--threads 2]
 */
import { Gemm } from '../src/engine/gemm.ts';
import { denseGram, refitDown } from '../src/prune/refit.ts';
import { mulberry32 } from '../src/random.ts';
import { loadavgText } from './common.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const H = arg('hidden', 448);
const I = arg('intermediate', 2432);
const n = arg('kept', 1497);
const threads = arg('threads', 2);
const rand = mulberry32(1);
const G = new Float64Array(I * I);
for (let i = 0; i < I; i++) {
  for (let j = 0; j < i; j++) G[i * I + j] = G[j * I + i] = (rand() - 0.5) * 0.01;
  G[i * I + i] = 1 + rand();
}
const w = Float32Array.from({ length: H * I }, () => (rand() - 0.5) * 0.04);
const S = Int32Array.from({ length: n }, (_, p) => Math.floor((p * I) / n));
const gemm = new Gemm('float64', threads);
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const loadBefore = loadavgText();
async function timed(denseEnergy?: number) {
  const c0 = cpu();
  const t0 = performance.now();
  const r = await refitDown(w, H, I, denseGram(G, I), S, 1e-2, { gemm, denseEnergy });
  return { r, cpuSeconds: cpu() - c0, wallSeconds: (performance.now() - t0) / 1000 };
}
await timed(); // sessions made, pages touched
const first = await timed();
const later = await timed(first.r.denseEnergy);
await gemm.close();
// Multiply-adds of a later cut: W·G[:, S] H·n·I, Cholesky n³/6, two triangular solves H·n²/2 each,
// the plain slice's ‖Lᵀ W_Sᵀ‖² H·n²/2; the first cut forms the whole W·G (H·I² instead of H·n·I).
const solve = n ** 3 / 6 + 1.5 * H * n * n;
const maddsLater = H * n * I + solve;
const maddsFirst = H * I * I + solve;
const rate = (m: number, s: number) => Number((m / s / 1e9).toFixed(2));
console.log(
  JSON.stringify({
    H,
    I,
    kept: n,
    threads,
    fallback: first.r.fallback,
    load: `${loadBefore} → ${loadavgText()}`,
    firstCut: { cpuSeconds: first.cpuSeconds, wallSeconds: first.wallSeconds, gMadds: maddsFirst / 1e9, gMaddsPerCpuSecond: rate(maddsFirst, first.cpuSeconds), gMaddsPerWallSecond: rate(maddsFirst, first.wallSeconds) },
    laterCut: { cpuSeconds: later.cpuSeconds, wallSeconds: later.wallSeconds, gMadds: maddsLater / 1e9, gMaddsPerCpuSecond: rate(maddsLater, later.cpuSeconds), gMaddsPerWallSecond: rate(maddsLater, later.wallSeconds) },
  }),
);
