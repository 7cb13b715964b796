/**
 * Fuzzes openCheckpoint on real files written to disk: the 7 golden checkpoints and wiki-28m's
 * smallest shard, damaged anywhere (mostly in the header) and, separately, with a mutated header
 * in front of the real data area. For every file that opens, every tensor must lie inside the
 * file and read back exactly the bytes at its offset (readBytes, readFloat32, readRowsBytes):
 * no read past the end, no short read, no wrong bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { CompactError } from '../../src/errors.ts';
import { isFloatDType } from '../../src/io/dtype.ts';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { applyByteOps, applyTreeOps, byteOps, concat, treeOps } from './mutators.ts';
import { describe, fuzzOptions, parseOrRefuse, Tally } from './fuzz-helpers.ts';
import { readRealHeader, realSafetensorsFiles } from './real-files.ts';

// Shards 1 and 2 of wiki-28m (32 and 20 MB) are covered in memory by safetensors-header.fuzz.
const FILES = realSafetensorsFiles().filter((f) => statSync(f).size < 8_000_000);
const BYTES = FILES.map((f) => new Uint8Array(readFileSync(f)));
const HEADERS = FILES.map(readRealHeader);
const dir = makeTmpDir('fuzz-st-files');
const fileIndex = fc.integer({ min: 0, max: FILES.length - 1 });

/** NaN/Inf in little-endian float bytes, decoded here with DataView (not the code under test). */
function hasNonFinite(b: Uint8Array, dtype: string): boolean {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dtype === 'F32') for (let i = 0; i + 4 <= b.length; i += 4) if (!Number.isFinite(v.getFloat32(i, true))) return true;
  if (dtype === 'F64') for (let i = 0; i + 8 <= b.length; i += 8) if (!Number.isFinite(v.getFloat64(i, true))) return true;
  const scratch = new DataView(new ArrayBuffer(4));
  if (dtype === 'BF16') {
    for (let i = 0; i + 2 <= b.length; i += 2) {
      scratch.setUint32(0, v.getUint16(i, true) << 16);
      if (!Number.isFinite(scratch.getFloat32(0))) return true;
    }
  }
  if (dtype === 'F16') for (let i = 0; i + 2 <= b.length; i += 2) if ((v.getUint16(i, true) & 0x7c00) === 0x7c00) return true;
  return false;
}

/** Opens `bytes` as a one-file checkpoint; on success checks every tensor against the file. */
async function openAndReadAll(tally: Tally, bytes: Uint8Array, what: string): Promise<void> {
  const file = path.join(dir, 'model.safetensors');
  writeFileSync(file, bytes);
  const ckpt = await parseOrRefuse(tally, what, () => openCheckpoint(dir));
  if (!ckpt) return;
  try {
    for (const name of ckpt.names()) {
      const t = ckpt.info(name);
      assert.ok(t.offset >= 10 && t.offset + t.byteLength <= bytes.length, `${what}: ${name} [${t.offset}, +${t.byteLength}) outside ${bytes.length} bytes`);
      const want = bytes.subarray(t.offset, t.offset + t.byteLength);
      // Damage may turn a weight into NaN/Inf: then every read of the tensor must refuse it, naming it.
      if (hasNonFinite(want, t.dtype)) {
        await assert.rejects(ckpt.readBytes(name), (e: unknown) => e instanceof CompactError && e.message.includes(`tensor "${name}"`) && /non-finite/.test(e.message));
        if (isFloatDType(t.dtype)) await assert.rejects(ckpt.readFloat32(name), /non-finite/);
        continue;
      }
      const got = await ckpt.readBytes(name);
      assert.ok(Buffer.from(got.buffer, got.byteOffset, got.length).equals(want), `${what}: ${name} read wrong bytes`);
      if (isFloatDType(t.dtype)) {
        const f: Float32Array | null = await ckpt.readFloat32(name).catch((e: unknown) => {
          // F64 beyond the f32 range becomes ±Inf in conversion: a refusal, not a wrong read.
          if (t.dtype === 'F64' && e instanceof CompactError && /non-finite/.test(e.message)) return null;
          throw e;
        });
        if (f) assert.equal(f.length, t.shape.reduce((a, b) => a * b, 1));
      }
      if (t.shape.length === 2 && t.shape[0]! > 0) {
        const rows = [t.shape[0]! - 1, 0];
        const r = await ckpt.readRowsBytes(name, rows);
        assert.equal(r.length, (2 * t.byteLength) / t.shape[0]!);
      }
    }
  } finally {
    await ckpt.close();
  }
}

test('real files damaged anywhere (mostly the header) open consistently or are refused', async (t) => {
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(fileIndex.chain((i) => fc.tuple(fc.constant(i), byteOps(8 + HEADERS[i]!.header.length))), async ([i, ops]) => {
      const bytes = applyByteOps(BYTES[i]!, ops);
      await openAndReadAll(tally, bytes, `${HEADERS[i]!.label} with ${JSON.stringify(ops)}`);
    }),
    fuzzOptions(300),
  );
  t.diagnostic(`files, byte-level: ${tally.summary()}`);
});

test('real data areas behind a mutated header open consistently or are refused', async (t) => {
  const docs = HEADERS.map((h) => JSON.parse(new TextDecoder().decode(h.header)) as unknown);
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(fileIndex, treeOps(), async (i, ops) => {
      const h = HEADERS[i]!;
      const text = applyTreeOps(docs[i], ops);
      const header = new TextEncoder().encode(text);
      const prefix = new Uint8Array(8);
      new DataView(prefix.buffer).setBigUint64(0, BigInt(header.length), true);
      const data = BYTES[i]!.subarray(8 + h.header.length);
      await openAndReadAll(tally, concat(prefix, header, data), `${h.label} header ${describe(text)}`);
    }),
    fuzzOptions(300),
  );
  t.diagnostic(`files, structure-level: ${tally.summary()}`);
});
