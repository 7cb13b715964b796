/** engine/gemm.ts: onnxruntime's f64 and f32 GEMM against a float64 triple loop, every transposition, views at offsets. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gemm } from '../../src/engine/gemm.ts';
import { mulberry32 } from '../../src/random.ts';

/** op(A)·op(B) in float64, A stored M×K (K×M with transA), B K×N (N×K with transB). */
function reference(a: ArrayLike<number>, b: ArrayLike<number>, M: number, K: number, N: number, transA: boolean, transB: boolean): Float64Array {
  const c = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += (transA ? a[k * M + i]! : a[i * K + k]!) * (transB ? b[j * K + k]! : b[k * N + j]!);
      c[i * N + j] = s;
    }
  }
  return c;
}

test('Gemm matches a float64 triple loop for every transposition, in f64 and f32, on views at offsets', async () => {
  const rand = mulberry32(11);
  const [M, K, N] = [37, 53, 29];
  for (const type of ['float64', 'float32'] as const) {
    const gemm = new Gemm(type, 2);
    try {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          // Operands start 3 elements into their buffers: views must be read from their own offset.
          const make = (n: number) => (type === 'float64' ? Float64Array.from({ length: n + 3 }, () => rand() - 0.5) : Float32Array.from({ length: n + 3 }, () => rand() - 0.5));
          const a = make(M * K);
          const b = make(K * N);
          const out = type === 'float64' ? new Float64Array(M * N + 5).fill(Number.NaN) : new Float32Array(M * N + 5).fill(Number.NaN);
          await gemm.mul(a.subarray(3) as never, b.subarray(3) as never, { M, K, N, transA, transB }, out.subarray(2) as never);
          const want = reference(a.subarray(3), b.subarray(3), M, K, N, transA, transB);
          const tol = type === 'float64' ? 1e-13 : 1e-5;
          for (let i = 0; i < M * N; i++) assert.ok(Math.abs(out[2 + i]! - want[i]!) <= tol * (1 + Math.abs(want[i]!)), `${type} transA ${transA} transB ${transB} entry ${i}: ${out[2 + i]} vs ${want[i]}`);
          // Nothing outside the product's place is written.
          assert.ok(Number.isNaN(out[0]!) && Number.isNaN(out[1]!) && Number.isNaN(out[2 + M * N]!), 'wrote outside the output view');
        }
      }
      // K = 0: the empty sum.
      const z = new Float64Array(6).fill(7);
      if (type === 'float64') assert.deepEqual([...(await (gemm as Gemm<'float64'>).mul(new Float64Array(0), new Float64Array(0), { M: 2, K: 0, N: 3 }, z))], [0, 0, 0, 0, 0, 0]);
      await assert.rejects(gemm.mul(new (type === 'float64' ? Float64Array : Float32Array)(4) as never, new (type === 'float64' ? Float64Array : Float32Array)(4) as never, { M: 2, K: 3, N: 2 }, new (type === 'float64' ? Float64Array : Float32Array)(4) as never), /buffers too small/);
    } finally {
      await gemm.close();
    }
  }
});
