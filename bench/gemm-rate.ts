/**
 * onnxruntime CPU GEMM rate in f64 and f32 (engine/gemm.ts: the refit's products), square
 * M = K = N, CPU seconds of every thread (user + sys) and wall seconds per product.
 *
 *   node --import tsx bench/gemm-rate.ts [--size 2048] [--threads 2]
 */
import { Gemm, type GemmType } from '../src/engine/gemm.ts';
import { mulberry32 } from '../src/random.ts';
import { loadavgText } from './common.ts';

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
};
const n = arg('size', 2048);
const threads = arg('threads', 2);
const reps = 3;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const loadBefore = loadavgText();
const out: Record<string, unknown> = { size: n, threads };
for (const type of ['float64', 'float32'] as GemmType[]) {
  const rand = mulberry32(3);
  const make = () => (type === 'float64' ? Float64Array.from({ length: n * n }, rand) : Float32Array.from({ length: n * n }, rand));
  const a = make();
  const b = make();
  const c = make();
  const gemm = new Gemm(type, threads);
  await gemm.mul(a as never, b as never, { M: n, K: n, N: n }, c as never);
  const c0 = cpu();
  const t0 = performance.now();
  for (let r = 0; r < reps; r++) await gemm.mul(a as never, b as never, { M: n, K: n, N: n, transB: r % 2 === 1 }, c as never);
  const cpuSeconds = (cpu() - c0) / reps;
  const wallSeconds = (performance.now() - t0) / 1000 / reps;
  await gemm.close();
  out[type] = { cpuSeconds, wallSeconds, gMaddsPerCpuSecond: +(n ** 3 / cpuSeconds / 1e9).toFixed(2), gMaddsPerWallSecond: +(n ** 3 / wallSeconds / 1e9).toFixed(2) };
}
out.load = `${loadBefore} → ${loadavgText()}`;
console.log(JSON.stringify(out));
