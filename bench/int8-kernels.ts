/**
 * The faster arithmetic calibration could use (issue #19 item 2, `--calib-precision`), at the
 * kernel: one projection GEMM [T × K]·[K → N] of the calibration's shapes in onnxruntime, f32
 * (the engine's FusedMatMul, transB) against 8-bit weights — MatMulNBits (blocks of 32, float
 * activations or `accuracy_level` 4 = int8 activations) and DynamicQuantizeMatMul (u8 activations
 * quantized per run, s8 weights per column: MLAS's integer GEMM, VNNI on this CPU). Best of 5,
 * 2 threads; rates count 2·T·K·N operations per run.
 *
 *   node --import tsx bench/int8-kernels.ts [T K N]   (default 512 896 4864: the 0.5B gate/up)
 */
import ort from 'onnxruntime-node';
import { DataType, GraphBuilder, attr } from '../src/engine/onnx-proto.ts';
const [T, K, N] = [Number(process.argv[2] ?? 512), Number(process.argv[3] ?? 896), Number(process.argv[4] ?? 4864)];
const opts = { intraOpNumThreads: 2, interOpNumThreads: 1, graphOptimizationLevel: 'all' as const };
const w = Float32Array.from({ length: N * K }, (_, i) => (((i * 2654435761) >>> 0) / 4294967296 - 0.5) * 0.04);
const a = Float32Array.from({ length: T * K }, (_, i) => (((i * 40503) % 65536) / 65536 - 0.5));
async function time(s: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<number> {
  await s.run(feeds);
  let best = Infinity;
  for (let r = 0; r < 5; r++) { const t = performance.now(); await s.run(feeds); best = Math.min(best, performance.now() - t); }
  return (2 * T * K * N) / best / 1e6;
}
// f32 FusedMatMul transB
{
  const g = new GraphBuilder('f');
  const x = g.input('a', DataType.FLOAT, [T, K]); const b = g.input('b', DataType.FLOAT, [N, K]);
  const y = g.op('FusedMatMul', [x, b], { transB: 1 }, 'com.microsoft');
  g.node('ReduceSum', [y], { keepdims: 0 }, { outputs: ['y'] }); g.output('y', DataType.FLOAT, []);
  const s = await ort.InferenceSession.create(g.toModel(), opts);
  console.log(`[${T}×${K}]·[${K}→${N}] f32 FusedMatMul`, (await time(s, { a: new ort.Tensor('float32', a, [T, K]), b: new ort.Tensor('float32', w, [N, K]) })).toFixed(0), 'GFLOP/s');
}
// MatMulNBits 8-bit, block 32, accuracy 4
for (const acc of [0, 4]) {
  const bs = 32, nb = K / bs;
  const q = new Uint8Array(N * K), sc = new Float32Array(N * nb);
  for (let n = 0; n < N; n++) for (let j = 0; j < nb; j++) {
    let m = 0; for (let k = 0; k < bs; k++) m = Math.max(m, Math.abs(w[n * K + j * bs + k]!));
    const s = m / 127 || 1; sc[n * nb + j] = s;
    for (let k = 0; k < bs; k++) q[n * K + j * bs + k] = Math.round(w[n * K + j * bs + k]! / s) + 128;
  }
  const g = new GraphBuilder('q');
  const x = g.input('a', DataType.FLOAT, [T, K]); const b = g.input('b', (2 as unknown as typeof DataType.FLOAT), [N, nb, bs]); const s = g.input('s', DataType.FLOAT, [N * nb]);
  const y = g.op('MatMulNBits', [x, b, s], { K: attr.int(K), N: attr.int(N), bits: attr.int(8), block_size: attr.int(bs), accuracy_level: attr.int(acc) }, 'com.microsoft');
  g.node('ReduceSum', [y], { keepdims: 0 }, { outputs: ['y'] }); g.output('y', DataType.FLOAT, []);
  try {
    const sess = await ort.InferenceSession.create(g.toModel(), opts);
    console.log(`MatMulNBits 8-bit acc ${acc}`, (await time(sess, { a: new ort.Tensor('float32', a, [T, K]), b: new ort.Tensor('uint8', q, [N, nb, bs]), s: new ort.Tensor('float32', sc, [N * nb]) })).toFixed(0), 'GFLOP/s');
  } catch (e) { console.log('MatMulNBits', acc, 'failed', (e as Error).message.slice(0, 200)); }
}
// DynamicQuantizeMatMul: u8 activations (dynamic, per tensor) × s8 weights per column
{
  const qb = new Int8Array(K * N), sc = new Float32Array(N);
  for (let n = 0; n < N; n++) { let m = 0; for (let k = 0; k < K; k++) m = Math.max(m, Math.abs(w[n * K + k]!)); sc[n] = m / 127 || 1; for (let k = 0; k < K; k++) qb[k * N + n] = Math.round(w[n * K + k]! / sc[n]!); }
  const g = new GraphBuilder('d');
  const x = g.input('a', DataType.FLOAT, [T, K]); const b = g.input('b', (3 as unknown as typeof DataType.FLOAT), [K, N]); const s = g.input('s', DataType.FLOAT, [N]);
  const y = g.op('DynamicQuantizeMatMul', [x, b, s], {}, 'com.microsoft');
  g.node('ReduceSum', [y], { keepdims: 0 }, { outputs: ['y'] }); g.output('y', DataType.FLOAT, []);
  try {
    const sess = await ort.InferenceSession.create(g.toModel(), opts);
    console.log('DynamicQuantizeMatMul s8', (await time(sess, { a: new ort.Tensor('float32', a, [T, K]), b: new ort.Tensor('int8', qb, [K, N]), s: new ort.Tensor('float32', sc, [N]) })).toFixed(0), 'GFLOP/s');
  } catch (e) { console.log('DQMM failed', (e as Error).message.slice(0, 200)); }
}
