/**
 * Child process of bench/llama-cpp-speed.ts: one GGUF in llama.cpp (@fugood/llama.node, CPU),
 * one `bench(pp, tg, 1, 1)`, and this process's peak RSS. Prints one JSON line.
 *
 *   node --import tsx bench/llama-cpp-child.ts '<LlamaBenchChildOptions as JSON>'
 */
import { loadavg } from 'node:os';
import { loadModel, toggleNativeLog } from '../test/export/llama-node.ts';
import { peakRssMiB, reply } from './common.ts';

export interface LlamaBenchChildOptions {
  gguf: string;
  pp: number;
  tg: number;
  threads: number;
}

export interface LlamaBenchRun {
  /** Prompt processing (prefill) tokens/s, as llama.cpp reports it. */
  speedPp: number;
  /** Text generation (decode) tokens/s. */
  speedTg: number;
  maxRssMiB: number;
  load1: number;
  /** ggml's system info line: the CPU features the binary was built with. */
  systemInfo: string;
  nThreads: number;
}

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2]!) as LlamaBenchChildOptions;
  await toggleNativeLog(false);
  const ctx = await loadModel({ model: o.gguf, n_ctx: o.pp + o.tg + 16, n_batch: o.pp, n_threads: o.threads, n_gpu_layers: 0 } as Parameters<typeof loadModel>[0]);
  try {
    // A short warm-up so the first timed prefill does not pay for page faults of the mmapped file.
    await ctx.bench(Math.min(32, o.pp), Math.min(4, o.tg), 1, 1);
    const r = await ctx.bench(o.pp, o.tg, 1, 1);
    reply({ speedPp: r.speedPp, speedTg: r.speedTg, maxRssMiB: peakRssMiB(), load1: loadavg()[0]!, systemInfo: ctx.getSystemInfo(), nThreads: r.nThreads } satisfies LlamaBenchRun);
  } finally {
    await ctx.release();
  }
}

await main();
