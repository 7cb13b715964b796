/**
 * Fuzzes the safetensors header parser in memory (no files): the 8-byte length prefix and the
 * JSON header of every real safetensors file in ../shared, damaged at the byte level and at the
 * structure level. The data area is not materialized, only its size, so thousands of inputs run
 * in seconds; safetensors-files.fuzz.test.ts does the same against real files and reads.
 *
 * Held: every input parses or is refused with a one-line CompactError, and every parse keeps
 * each tensor inside the file, sized exactly by dtype × shape, without overlaps, and equal to
 * what the JSON says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DTYPE_SIZE } from '../../src/io/dtype.ts';
import { headerLength, parseHeader, type ParsedHeader } from '../../src/io/safetensors-header.ts';
import { applyByteOps, applyTreeOps, byteOps, concat, treeOps } from './mutators.ts';
import { describe, fuzzOptions, parseOrRefuse, Tally } from './fuzz-helpers.ts';
import { readRealHeader, realSafetensorsFiles, type RealSafetensors } from './real-files.ts';

const REAL = realSafetensorsFiles().map(readRealHeader);

/** A file as the parser sees it: its first bytes (prefix + header) and its total size. */
interface VirtualFile {
  head: Uint8Array;
  size: number;
}

/** Reads the prefix and header of a virtual file the way readHeader does; bytes past `head` are zeros. */
function parseVirtual(v: VirtualFile, label: string): ParsedHeader {
  const prefix = new Uint8Array(8);
  prefix.set(v.head.subarray(0, 8));
  const n = headerLength(prefix, v.size, label);
  const header = new Uint8Array(n);
  header.set(v.head.subarray(8, 8 + n));
  return parseHeader(header, v.size, label);
}

/** What a successful parse promises: reads stay within the file and match the JSON. */
function checkParsed(p: ParsedHeader, v: VirtualFile): void {
  assert.ok(p.dataStart >= 10 && p.dataStart <= v.size);
  const json = JSON.parse(new TextDecoder().decode(v.head.subarray(8, p.dataStart))) as Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>;
  const names = Object.keys(json).filter((k) => k !== '__metadata__');
  assert.deepEqual(p.tensors.map((t) => t.name), names);
  const spans: [number, number][] = [];
  for (const t of p.tensors) {
    const j = json[t.name]!;
    assert.equal(t.dtype, j.dtype);
    assert.deepEqual(t.shape, j.shape);
    assert.deepEqual([t.begin, t.end], j.data_offsets);
    assert.ok(Number.isSafeInteger(t.begin) && Number.isSafeInteger(t.end) && 0 <= t.begin && t.begin <= t.end);
    assert.ok(p.dataStart + t.end <= v.size, `${t.name} ends past the file`);
    const bytes = t.shape.reduce((n, d) => n * BigInt(d), BigInt(DTYPE_SIZE[t.dtype]));
    assert.equal(bytes, BigInt(t.end - t.begin));
    if (t.end > t.begin) spans.push([t.begin, t.end]);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) assert.ok(spans[i]![0] >= spans[i - 1]![1], 'overlapping tensors accepted');
  for (const v of Object.values(p.metadata)) assert.equal(typeof v, 'string');
}

function prefixFor(n: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, n), true);
  return b;
}

const realIndex = fc.integer({ min: 0, max: REAL.length - 1 });
/** Now and then cut the file short (a truncated download); mostly leave it whole. */
const fileCut = fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() });

test('unmodified real headers parse and satisfy every invariant', () => {
  for (const r of REAL) {
    const v = { head: concat(r.prefix, r.header), size: 8 + r.header.length + r.dataSize };
    const p = parseVirtual(v, r.label);
    assert.ok(p.tensors.length > 0);
    checkParsed(p, v);
  }
});

test('byte-level damage to prefix and header: bit flips, overwrites, truncations, insertions', async (t) => {
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(realIndex.chain((ri) => fc.tuple(fc.constant(ri), byteOps(8 + REAL[ri]!.header.length))), fileCut, async ([ri, ops], cut) => {
      const r: RealSafetensors = REAL[ri]!;
      const head = applyByteOps(concat(r.prefix, r.header), ops);
      let size = head.length + r.dataSize;
      if (cut !== null) size = Math.min(size, cut % (size + 1));
      const v = { head: head.subarray(0, size), size };
      const p = await parseOrRefuse(tally, `${r.label} with ${JSON.stringify(ops)} size ${size}`, () => parseVirtual(v, r.label));
      if (p) checkParsed(p, v);
    }),
    fuzzOptions(2500),
  );
  t.diagnostic(`byte-level: ${tally.summary()}`);
});

test('structure-level damage to header JSON: offsets, dtypes, shapes, extreme numbers, duplicate keys, deep nesting, length lies', async (t) => {
  const docs = REAL.map((r) => JSON.parse(new TextDecoder().decode(r.header)) as unknown);
  const tally = new Tally();
  const lie = fc.oneof(
    { weight: 6, arbitrary: fc.constant(0n) },
    { weight: 2, arbitrary: fc.bigInt({ min: -16n, max: 16n }) },
    { weight: 1, arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((x) => x | (1n << 127n)) }, // absolute value
  );
  await fc.assert(
    fc.asyncProperty(realIndex, treeOps(), lie, fc.boolean(), fileCut, async (ri, ops, delta, pad, cut) => {
      const r = REAL[ri]!;
      let text = applyTreeOps(docs[ri], ops);
      // Writers pad the header with spaces to 8-byte alignment; readers must accept that.
      if (pad) text += ' '.repeat((8 - (text.length % 8)) % 8);
      const header = new TextEncoder().encode(text);
      const n = delta >= 1n << 127n ? delta - (1n << 127n) : BigInt(header.length) + delta;
      const head = concat(prefixFor(n), header);
      let size = head.length + r.dataSize;
      if (cut !== null) size = Math.min(size, cut % (size + 1));
      const v = { head: head.subarray(0, size), size };
      const p = await parseOrRefuse(tally, `${r.label} header ${describe(text)} prefix ${n} size ${size}`, () => parseVirtual(v, r.label));
      if (p) checkParsed(p, v);
    }),
    fuzzOptions(2500),
  );
  t.diagnostic(`structure-level: ${tally.summary()}`);
});
