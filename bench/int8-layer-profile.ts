/**
 * Where an int8 calibration layer's time goes (docs/performance.md §1d), at the Qwen2.5-0.5B shape:
 *
 * 1. onnxruntime's per-op profile of one layer graph at T = 2,048 (act², FFN row blocks), f32 and
 *    int8, weights fed as inputs (values do not change the time): run time and kernel time by op.
 * 2. LayerLoader.load per layer, f32 (bf16 → f32) against int8 (bf16 → quantized [in, out]), on a
 *    2-layer model of the shape: the per-layer cost int8 adds outside the graph.
 *
 *   node --import tsx bench/int8-layer-profile.ts [--threads N]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { weightInput } from '../src/engine/decoder-layer.ts';
import { int8Shapes, isInt8Role, scaleInput } from '../src/engine/int8-weights.ts';
import { buildLayerGraph, ffnRowBlock, ffnRowBlocks } from '../src/engine/layer-graph.ts';
import { ropeTables } from '../src/engine/rope-tables.ts';
import { LayerLoader } from '../src/engine/weights.ts';
import { readModelConfig } from '../src/families/model-config.ts';
import { isNormRole, stackedShape } from '../src/families/templates.ts';
import { openCheckpoint } from '../src/io/safetensors.ts';
import { loadavgText, parseArgs } from './common.ts';
import { qwen25Config, QWEN25_05B } from './models.ts';
import { writeRandomModel } from './random-model.ts';

const { threads } = parseArgs();
const dir = mkdtempSync(join(tmpdir(), 'int8-profile-'));
try {
  console.log(`load ${loadavgText()}, ${threads} threads`);
  const shape = { ...QWEN25_05B, layers: 2 };
  await writeRandomModel(dir, shape);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(qwen25Config(shape)));
  const { spec } = readModelConfig(dir);
  const T = 2048;
  for (const precision of ['f32', 'int8'] as const) {
    const prefix = join(dir, `profile-${precision}`);
    const s = await ort.InferenceSession.create(buildLayerGraph(spec, { kind: 'full', act2: true, precision, ffnRowBlocks: ffnRowBlocks(T, ffnRowBlock(spec.intermediate)) }), {
      intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', enableProfiling: true, profileFilePrefix: prefix, logSeverityLevel: 4,
    });
    const rt = ropeTables(spec.rope.full, spec.rotaryDim, T);
    const feeds: Record<string, ort.Tensor> = {
      x: new ort.Tensor('float32', Float32Array.from({ length: T * spec.hidden }, (_, i) => Math.sin(i)), [1, T, spec.hidden]),
      tokw: new ort.Tensor('float32', new Float32Array(T).fill(1), [1, 1, T]),
      seqlens_k: new ort.Tensor('int32', Int32Array.of(T - 1), [1]),
      total_len: new ort.Tensor('int32', Int32Array.of(T), []),
      cos: new ort.Tensor('float32', rt.cos, [T, rt.half]),
      sin: new ort.Tensor('float32', rt.sin, [T, rt.half]),
    };
    for (const role of spec.layerRoles) {
      const sh = stackedShape(spec, role);
      const n = sh.reduce((a, b) => a * b, 1);
      if (precision === 'int8' && isInt8Role(spec, role)) {
        const q = int8Shapes(sh);
        feeds[weightInput(role)] = new ort.Tensor('int8', Int8Array.from({ length: n }, (_, i) => ((i * 37) % 255) - 127), q.q);
        feeds[scaleInput(role)] = new ort.Tensor('float32', new Float32Array(q.scale.reduce((a, b) => a * b, 1)).fill(2e-4), q.scale);
      } else feeds[weightInput(role)] = new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => (isNormRole(role) ? 1 : 0.02 * Math.sin(i * 0.7))), sh);
    }
    const RUNS = 5;
    const ms: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      await s.run(feeds);
      ms.push(performance.now() - t0);
    }
    s.endProfiling();
    await s.release();
    const file = readdirSync(dir).find((f) => f.startsWith(`profile-${precision}`) && f.endsWith('.json'))!;
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Array<{ cat: string; name: string; dur: number; args?: { op_name?: string } }>;
    const byOp = new Map<string, number>();
    for (const e of events) if (e.cat === 'Node' && e.name.endsWith('_kernel_time')) byOp.set(e.args?.op_name ?? '?', (byOp.get(e.args?.op_name ?? '?') ?? 0) + e.dur / 1000 / RUNS);
    const total = [...byOp.values()].reduce((a, b) => a + b, 0);
    console.log(`${precision}: run ${ms.slice(1).map((x) => x.toFixed(0)).join(' ')} ms (after a first run of ${ms[0]!.toFixed(0)}); kernels ${total.toFixed(0)} ms a run:`);
    for (const [op, t] of [...byOp].sort((a, b) => b[1] - a[1]).slice(0, 6)) console.log(`  ${op.padEnd(28)} ${t.toFixed(1)} ms (${((100 * t) / total).toFixed(1)}%)`);
  }
  const ckpt = await openCheckpoint(dir);
  for (const precision of ['f32', 'int8', 'f32', 'int8'] as const) {
    const loader = new LayerLoader(spec, ckpt, precision);
    const ms: number[] = [];
    for (let r = 0; r < 4; r++) {
      const t0 = performance.now();
      await loader.load(r % spec.layers);
      ms.push(performance.now() - t0);
    }
    console.log(`LayerLoader.load ${precision}: ${ms.map((x) => x.toFixed(0)).join(' ')} ms a layer`);
  }
  await ckpt.close();
  console.log(`load after ${loadavgText()}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
