/** The hand-written ONNX encoder: every attribute kind, symbolic dims, initializers, and opsets load and run in onnxruntime. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import ort from 'onnxruntime-node';
import { attr, DataType, GraphBuilder } from '../../src/engine/onnx-proto.ts';

test('a graph using every attribute kind loads and computes the expected values', async () => {
  const g = new GraphBuilder('all_attrs');
  const x = g.input('x', DataType.FLOAT, ['B', 3, 2]);
  // ints: Transpose perm; tensor: Constant value; floats: Constant value_floats; float: LeakyRelu alpha; string: Gelu approximate.
  const t = g.op('Transpose', [x], { perm: attr.ints([0, 2, 1]) }); // [B, 2, 3]
  const c = g.op('Constant', [], {
    value: attr.tensor({ name: 'c', type: DataType.FLOAT, dims: [3], raw: new Uint8Array(Float32Array.of(1, 2, 3).buffer) }),
  });
  const f = g.op('Constant', [], { value_floats: attr.floats([0.5, 0.25, 0.125]) });
  const y = g.op('Mul', [g.op('Add', [t, c]), f]);
  const neg = g.op('LeakyRelu', [g.op('Neg', [y])], { alpha: attr.float(0.5) });
  const s = g.constI64('shape', [-1]);
  g.node('Reshape', [neg, s], {}, { outputs: ['flat'] });
  g.output('flat', DataType.FLOAT, ['N']);
  const gelu = g.op('Gelu', [x], { approximate: attr.string('tanh') });
  g.node('Identity', [gelu], {}, { outputs: ['gelu'] });
  g.output('gelu', DataType.FLOAT, ['B', 3, 2]);

  const session = await ort.InferenceSession.create(g.toModel({ '': 20, 'com.microsoft': 1 }), { intraOpNumThreads: 1 });
  const xs = Float32Array.of(0, 1, 2, 3, 4, 5); // [1, 3, 2]
  const out = await session.run({ x: new ort.Tensor('float32', xs, [1, 3, 2]) });
  // transpose → [[0, 2, 4], [1, 3, 5]]; + [1, 2, 3] → [[1, 4, 7], [2, 5, 8]]; × [.5, .25, .125]; −; leaky ×0.5
  const want = [1 * 0.5, 4 * 0.25, 7 * 0.125, 2 * 0.5, 5 * 0.25, 8 * 0.125].map((v) => -v * 0.5);
  assert.deepEqual(Array.from(out.flat!.data as Float32Array), want);
  const g1 = (out.gelu!.data as Float32Array)[1]!;
  assert.ok(Math.abs(g1 - 0.8411920071) < 1e-6, `gelu_tanh(1) = ${g1}`);
  await session.release();
});

test('large and negative integers encode as int64 varints', async () => {
  const g = new GraphBuilder('ints');
  const x = g.input('x', DataType.INT64, [2]);
  // Slice from −2 to a huge end: int64 initializers with negative and large values.
  const ends = g.constI64('ends', [2 ** 53 - 1]);
  const starts = g.constI64('starts', [-2]);
  const sliced = g.op('Slice', [x, starts, ends]);
  // A negative attribute (axis −1) is a 10-byte two's-complement varint.
  g.node('Concat', [sliced, x], { axis: -1 }, { outputs: ['y'] });
  g.output('y', DataType.INT64, [4]);
  const s = await ort.InferenceSession.create(g.toModel(), { intraOpNumThreads: 1 });
  const out = await s.run({ x: new ort.Tensor('int64', BigInt64Array.of(-7n, 9n), [2]) });
  assert.deepEqual(Array.from(out.y!.data as BigInt64Array), [-7n, 9n, -7n, 9n]);
  await s.release();
});
