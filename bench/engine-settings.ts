/**
 * The two engine settings behind calibration's speed and memory (docs/performance.md §1c), each
 * measured in a child process of its own (so each peak RSS is its own), interleaved over reps:
 * onnxruntime's CPU arena on/off × the FFN in row blocks (the default) or in one block.
 *
 *   node --import tsx bench/engine-settings.ts [--shape 0.5b|8b] [--layers N] [--windows N] [--reps N] [--threads N] [--quick]
 *
 * A calibration pass (act² of every layer) over `windows` windows of 2,048 tokens through the
 * first `layers` layers of a random bf16 model of the shape (0.5b: Qwen2.5-0.5B, 6 layers by
 * default; 8b: Llama-3.1-8B, 3 layers). Per setting: the median time per window of the layers after
 * the first (the first also builds the session), CPU seconds of the child, its peak RSS.
 * JSON: bench/results/engine-settings-<shape>.json.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Engine } from '../src/engine/runner.ts';
import { BENCH_DIR, benchWorkDir, ENGINE_SETTINGS, fmt, loadavgText, machine, median, parseArgs, peakRssMiB, reply, runChild, writeResult } from './common.ts';
import { LLAMA31_8B, llama31Config, QWEN25_05B, writeFastRandomModel, writeQwen25Like } from './models.ts';


const argv = process.argv.slice(2);
if (argv[0] === '--child') {
  const o = JSON.parse(argv[1]!) as { dir: string; windows: number; seqLen: number; threads: number; setting: number };
  const engine = await Engine.open(o.dir, { threads: o.threads, ...ENGINE_SETTINGS[o.setting]!.opts });
  const V = engine.spec.vocabSize;
  const seqs = Array.from({ length: o.windows }, (_, w) => Int32Array.from({ length: o.seqLen }, (_, i) => (w * 104729 + i * 7919 + 11) % V));
  const layerMs: number[] = [];
  let last = performance.now();
  const cpu0 = process.cpuUsage();
  await engine.forward(seqs, { act2: true }, () => {
    const now = performance.now();
    layerMs.push(now - last);
    last = now;
  });
  const cpu = process.cpuUsage(cpu0);
  await engine.close();
  reply({ layerMs, cpuSeconds: (cpu.user + cpu.system) / 1e6, sysSeconds: cpu.system / 1e6, maxRssMiB: peakRssMiB() });
  process.exit(0);
}

const args = parseArgs();
const flag = (name: string, dflt: string): string => (args.rest.includes(name) ? args.rest[args.rest.indexOf(name) + 1]! : dflt);
const shapeName = flag('--shape', '0.5b');
if (shapeName !== '0.5b' && shapeName !== '8b') throw new Error(`--shape must be 0.5b or 8b, got ${shapeName}`);
const base = shapeName === '8b' ? LLAMA31_8B : QWEN25_05B;
const layers = Number(flag('--layers', shapeName === '8b' ? '3' : '6'));
const windows = Number(flag('--windows', '2'));
const reps = Number(flag('--reps', '2'));
const seqLen = args.quick ? 128 : 2048;
const shape = args.quick ? { ...base, hidden: 128, heads: 4, kvHeads: 2, headDim: 32, intermediate: 384, vocab: 4096, layers: 2 } : { ...base, layers };

const { dir: work, cleanup } = benchWorkDir('settings');
try {
  const dir = join(work, 'model');
  mkdirSync(dir);
  if (shapeName === '8b') writeFastRandomModel(dir, shape, llama31Config(shape));
  else await writeQwen25Like(dir, shape);
  const loadBefore = loadavgText();
  const runs = ENGINE_SETTINGS.map(() => [] as Array<{ layerMs: number[]; cpuSeconds: number; sysSeconds: number; maxRssMiB: number }>);
  for (let rep = 0; rep < reps; rep++) {
    for (let s = 0; s < ENGINE_SETTINGS.length; s++) {
      runs[s]!.push(runChild(join(BENCH_DIR, 'engine-settings.ts'), ['--child', JSON.stringify({ dir, windows, seqLen, threads: args.threads, setting: s })]));
    }
  }
  const rows = ENGINE_SETTINGS.map((st, s) => {
    const r = runs[s]!;
    return {
      setting: st.name,
      msPerWindow: median(r.flatMap((x) => x.layerMs.slice(1).map((m) => m / windows))),
      cpuSeconds: median(r.map((x) => x.cpuSeconds)),
      sysSeconds: median(r.map((x) => x.sysSeconds)),
      maxRssMiB: Math.max(...r.map((x) => x.maxRssMiB)),
    };
  });
  const result = { machine: machine(), loadavgBefore: loadBefore, loadavgAfter: loadavgText(), shape, windows, seqLen, reps, threads: args.threads, command: `node --import tsx bench/engine-settings.ts --shape ${shapeName} --layers ${layers} --windows ${windows} --reps ${reps}`, rows };
  writeResult(`engine-settings-${shapeName}`, args.quick, result);
  console.log(`\nengine settings: ${shapeName} shape, first ${shape.layers} layers, ${windows} × ${seqLen} tokens, ${reps} reps, ${args.threads} threads, load ${loadBefore} → ${result.loadavgAfter}`);
  for (const r of rows) console.log(`  ${r.setting}: ${fmt(r.msPerWindow)} ms per window per layer (×${fmt(r.msPerWindow / rows[0]!.msPerWindow, 2)}), CPU ${fmt(r.cpuSeconds, 1)} s (sys ${fmt(r.sysSeconds, 1)}), peak RSS ${fmt(r.maxRssMiB)} MiB`);
} finally {
  cleanup();
}
