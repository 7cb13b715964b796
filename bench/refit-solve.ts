/**
 * CPU cost of one layer's down_proj refit (`refitDown`, src/prune/refit.ts) at a given shape, on a
 * synthetic diagonally dominant G (the solve's cost does not depend on G's values). Single-threaded
 * JavaScript, so CPU seconds are what an idle core would take.
 *
 *   node --import tsx bench/refit-solve.ts --hidden 448 --intermediate 2432 --kept 1497
 */
import { outputEnergy, refitDown } from '../src/prune/refit.ts';
import { mulberry32 } from '../src/random.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const H = arg('hidden', 448);
const I = arg('intermediate', 2432);
const n = arg('kept', 1497);
const rand = mulberry32(1);
const G = new Float64Array(I * I);
for (let i = 0; i < I; i++) {
  for (let j = 0; j < i; j++) G[i * I + j] = G[j * I + i] = (rand() - 0.5) * 0.01;
  G[i * I + i] = 1 + rand();
}
const w = Float32Array.from({ length: H * I }, () => (rand() - 0.5) * 0.04);
const S = Int32Array.from({ length: n }, (_, p) => Math.floor((p * I) / n));
const cpu = () => process.cpuUsage().user / 1e6;
let t = cpu();
const dense = outputEnergy(w, H, I, G);
const energySeconds = cpu() - t;
t = cpu();
const r = refitDown(w, H, I, G, S, 1e-2, dense);
const solveSeconds = cpu() - t;
// Multiply-adds: (G w)[S] H·n·I, Cholesky n³/6, two triangular solves H·n², plain quadratic form H·n².
const madds = H * n * I + n ** 3 / 6 + 2 * H * n * n;
console.log(JSON.stringify({ H, I, kept: n, fallback: r.fallback, energyCpuSeconds: energySeconds, refitCpuSeconds: solveSeconds, refitGMaddsPerSecond: madds / solveSeconds / 1e9, energyGMaddsPerSecond: (H * I * I) / energySeconds / 1e9 }));
