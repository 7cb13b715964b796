import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bf16ToF32,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  f16BitsToF32Bits,
  f32BitsToF16Bits,
  fromFloat32,
  toFloat32,
  DTYPE_SIZE,
} from '../../src/io/dtype.ts';

const ALL = Uint16Array.from({ length: 65536 }, (_, i) => i);
const isF16NaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
const isBf16NaN = (h: number) => (h & 0x7f80) === 0x7f80 && (h & 0x7f) !== 0;

function f32(...bits: number[]): Float32Array {
  return new Float32Array(Uint32Array.from(bits).buffer);
}

test('dtype sizes', () => {
  assert.deepEqual([DTYPE_SIZE.F32, DTYPE_SIZE.F16, DTYPE_SIZE.BF16, DTYPE_SIZE.I32, DTYPE_SIZE.I64], [4, 2, 2, 4, 8]);
});

test('f16 → f32 → f16 is exact for all 65,536 bit patterns (NaN payloads too)', () => {
  const back = f32ToF16(f16ToF32(ALL));
  for (let h = 0; h < 65536; h++) {
    if (back[h] !== h) assert.fail(`f16 0x${h.toString(16)} came back as 0x${back[h]!.toString(16)}`);
  }
  const wide = f16ToF32(ALL);
  for (let h = 0; h < 65536; h++) assert.equal(Number.isNaN(wide[h]), isF16NaN(h));
});

test('bf16 → f32 → bf16 is exact for all 65,536 bit patterns (NaN payloads too)', () => {
  const back = f32ToBf16(bf16ToF32(ALL));
  for (let h = 0; h < 65536; h++) {
    if (back[h] !== h) assert.fail(`bf16 0x${h.toString(16)} came back as 0x${back[h]!.toString(16)}`);
  }
  const wide = bf16ToF32(ALL);
  for (let h = 0; h < 65536; h++) assert.equal(Number.isNaN(wide[h]), isBf16NaN(h));
});

test('f16 decoding of known values', () => {
  const v = f16ToF32(Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0400, 0x0001, 0x03ff, 0x7c00, 0xfc00, 0x8000]));
  assert.deepEqual([...v], [1, -2, 65504, 2 ** -14, 2 ** -24, 1023 * 2 ** -24, Infinity, -Infinity, -0]);
});

test('f32 → f16 rounds to nearest, ties to even (normal, subnormal, overflow)', () => {
  const cases: [number, number][] = [
    [1 + 2 ** -11, 0x3c00], // tie between 1 and 1+2^-10 → even (1)
    [1 + 3 * 2 ** -11, 0x3c02], // tie → even (1+2^-9)
    [1 + 2 ** -11 + 2 ** -20, 0x3c01], // just above the tie
    [2 ** -25, 0x0000], // tie between 0 and the smallest subnormal → 0
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 units → 2
    [2 ** -25 + 2 ** -40, 0x0001],
    [2 ** -14 - 2 ** -26, 0x0400], // rounds up out of the subnormals into the smallest normal
    [65504, 0x7bff],
    [65519, 0x7bff],
    [65520, 0x7c00], // tie between 65504 and 65536 (inf) → even → inf
    [1e10, 0x7c00],
    [-1e10, 0xfc00],
    [2 ** -30, 0x0000],
    [-(2 ** -30), 0x8000],
  ];
  const out = f32ToF16(Float32Array.from(cases.map((c) => c[0])));
  cases.forEach(([x, h], i) => assert.equal(out[i], h, `${x} → 0x${out[i]!.toString(16)}, want 0x${h.toString(16)}`));
});

test('f32 → f16 picks the nearest f16 for random f32s (checked against neighbours)', () => {
  const n = 200_000;
  const bits = new Uint32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    // Exponents concentrated around the f16 range so subnormals, normals and overflow all appear.
    const exp = 95 + (s % 60);
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    bits[i] = ((s & 0x80000000) | (exp << 23) | (s & 0x7fffff)) >>> 0;
  }
  const x = new Float32Array(bits.buffer);
  const h = f32ToF16(x);
  const val = (b: number) => new Float32Array(Uint32Array.of(f16BitsToF32Bits(b)).buffer)[0]!;
  for (let i = 0; i < n; i++) {
    const hi = h[i]!;
    const xi = x[i]!;
    if (Math.abs(xi) >= 65520) {
      // IEEE overflow: everything from the halfway point to 2^16 upward becomes infinity.
      assert.equal(hi & 0x7fff, 0x7c00, `${xi} should overflow to inf`);
      continue;
    }
    const err = Math.abs(val(hi) - xi);
    for (const nb of [hi - 1, hi + 1]) {
      if ((nb & 0x7fff) > 0x7c00 || nb < 0 || nb > 0xffff || (nb & 0x8000) !== (hi & 0x8000)) continue;
      const e2 = Math.abs(val(nb) - xi);
      if (e2 < err || (e2 === err && (hi & 1) === 1 && Number.isFinite(val(nb)))) {
        assert.fail(`f32 ${xi} → f16 0x${hi.toString(16)} but 0x${nb.toString(16)} is nearer (or the even tie)`);
      }
    }
  }
});

test('f32 → bf16 rounds to nearest even, keeps NaN and inf', () => {
  const out = f32ToBf16(
    f32(
      0x3f808000, // 1 + 2^-8: tie → 1 (0x3f80)
      0x3f818000, // 1 + 3·2^-8: tie → 0x3f82
      0x3f808001, // just above the tie → 0x3f81
      0x7f800000, // inf
      0xff800000, // -inf
      0x7f800001, // NaN with payload only in the dropped bits
      0x7fc00000, // quiet NaN
      0x7f7fffff, // max f32 rounds to inf
    ),
  );
  assert.deepEqual([...out], [0x3f80, 0x3f82, 0x3f81, 0x7f80, 0xff80, 0x7fc0, 0x7fc0, 0x7f80]);
  const nan = f32BitsToF16Bits(0x7f800001);
  assert.ok((nan & 0x7c00) === 0x7c00 && (nan & 0x3ff) !== 0, 'f16 NaN stays NaN');
});

test('toFloat32 handles unaligned byte offsets and every float dtype', () => {
  const values = Float32Array.from([1.5, -2.25, 3, 0.125]);
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const bytes = fromFloat32(values, dtype);
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    assert.deepEqual([...toFloat32(shifted.subarray(1), dtype)], [...values], dtype);
  }
  const f64 = new Uint8Array(Float64Array.from([1.5, -2.25]).buffer);
  const unaligned = new Uint8Array(17);
  unaligned.set(f64, 1);
  assert.deepEqual([...toFloat32(unaligned.subarray(1), 'F64')], [1.5, -2.25]);
});
