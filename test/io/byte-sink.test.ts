import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ByteSink } from '../../src/io/byte-sink.ts';

// The truth: the same values written by a DataView into a buffer sized up front, so growth (which
// replaces the sink's buffer and view mid-write) must never lose or misplace a byte.
type Op = { k: 'u8' | 'u16' | 'u32' | 'f32' | 'f64' | 'u64'; v: number } | { k: 'raw'; b: Uint8Array };
const SIZE = { u8: 1, u16: 2, u32: 4, f32: 4, f64: 8, u64: 8 } as const;

test('ByteSink: any sequence of appends equals the same values written into a pre-sized DataView, across growth', () => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ k: fc.constant('u8' as const), v: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ k: fc.constant('u16' as const), v: fc.integer({ min: 0, max: 0xffff }) }),
    fc.record({ k: fc.constant('u32' as const), v: fc.integer({ min: 0, max: 0xffffffff }) }),
    fc.record({ k: fc.constant('f32' as const), v: fc.float({ noNaN: true }) }),
    fc.record({ k: fc.constant('f64' as const), v: fc.double({ noNaN: true }) }),
    fc.record({ k: fc.constant('u64' as const), v: fc.maxSafeNat() }),
    fc.record({ k: fc.constant('raw' as const), b: fc.uint8Array({ maxLength: 40 }) }),
  );
  fc.assert(fc.property(fc.array(op, { maxLength: 200 }), fc.integer({ min: 1, max: 16 }), (ops, cap) => {
    const sink = new ByteSink(cap);
    const total = ops.reduce((n, o) => n + (o.k === 'raw' ? o.b.length : SIZE[o.k]), 0);
    const want = new Uint8Array(total);
    const dv = new DataView(want.buffer);
    let at = 0;
    for (const o of ops) {
      switch (o.k) {
        case 'u8': sink.u8(o.v); dv.setUint8(at, o.v); break;
        case 'u16': sink.u16(o.v); dv.setUint16(at, o.v, true); break;
        case 'u32': sink.u32(o.v); dv.setUint32(at, o.v, true); break;
        case 'f32': sink.f32(o.v); dv.setFloat32(at, o.v, true); break;
        case 'f64': sink.f64(o.v); dv.setFloat64(at, o.v, true); break;
        case 'u64': sink.u64(o.v); dv.setBigUint64(at, BigInt(o.v), true); break;
        case 'raw': sink.raw(o.b); want.set(o.b, at); break;
      }
      at += o.k === 'raw' ? o.b.length : SIZE[o.k];
    }
    assert.equal(sink.length, total);
    assert.deepEqual(sink.finish(), want);
  }), { numRuns: 300 });
});
