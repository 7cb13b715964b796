/**
 * Fuzzes the zero-shot task file parsers (src/eval/tasks.ts: the 7 JSON-lines formats and
 * HellaSwag's 6-lines-per-item text) with the first items of the real files in
 * ../shared/data/tasks, and the bzip2 decoder (src/eval/bzip2.ts) with a small real .bz2 stream.
 * Held: a one-line CompactError naming file and line, or items whose gold answer indexes one of
 * at least two choices (and, for bzip2, the original bytes or an error; never a hang).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { bunzip2 } from '../../src/eval/bzip2.ts';
import { TASKS, type TaskSpec, type TaskItem } from '../../src/eval/tasks.ts';
import { shared } from '../helpers/paths.ts';
import { applyByteOps, applyTreeOps, byteOps, treeOps } from './mutators.ts';
import { describe, fuzzOptions, parseOrRefuse, Tally } from './fuzz-helpers.ts';

const ITEMS = 12;

/** The first ITEMS items of a real task file, as text (HellaSwag decompressed with our decoder). */
function sample(spec: TaskSpec): string {
  const file = spec.files.map((f) => path.join(shared('data', 'tasks'), f)).find((p) => existsSync(p))!;
  const bytes = readFileSync(file);
  if (file.endsWith('.bz2')) {
    // Only the first item lines are needed; decoding the whole file once is fine (~1 s).
    return new TextDecoder().decode(bunzip2(bytes, file)).split('\n').slice(0, 6 * ITEMS).join('\n') + '\n';
  }
  return bytes.toString('utf8').split('\n').slice(0, ITEMS).join('\n') + '\n';
}

function checkItems(items: TaskItem[]): void {
  assert.ok(items.length > 0);
  for (const it of items) {
    assert.ok(Number.isInteger(it.line) && it.line >= 1);
    if (it.kind === 'choice') {
      assert.ok(it.requests.length >= 2 && it.gold >= 0 && it.gold < it.requests.length, `gold ${it.gold} of ${it.requests.length}`);
      assert.equal(it.normLengths.length, it.requests.length);
    } else {
      assert.ok(it.request.continuation.length > 1);
    }
  }
}

test('task files: structure-level damage to one item of each format', async (t) => {
  const specs = TASKS;
  const samples = specs.map(sample);
  for (let i = 0; i < specs.length; i++) checkItems(specs[i]!.parse(samples[i]!, specs[i]!.files[0]!));
  const tally = new Tally();
  const jsonSpecs = specs.map((_, i) => i).filter((i) => !specs[i]!.files[0]!.endsWith('.bz2'));
  await fc.assert(
    fc.asyncProperty(fc.constantFrom(...jsonSpecs), fc.nat(), treeOps(), async (si, n, ops) => {
      const spec = specs[si]!;
      const lines = samples[si]!.trimEnd().split('\n');
      const li = n % lines.length;
      lines[li] = applyTreeOps(JSON.parse(lines[li]!), ops);
      const text = lines.join('\n');
      const items = await parseOrRefuse(tally, `${spec.name} line ${li + 1}: ${describe(lines[li]!)}`, () => spec.parse(text, spec.files[0]!));
      if (items) checkItems(items);
    }),
    fuzzOptions(1000),
  );
  t.diagnostic(`task files, structure-level: ${tally.summary()}`);
});

test('task files: byte-level damage, all 8 formats', async (t) => {
  const specs = TASKS;
  const bytes = specs.map((s) => new TextEncoder().encode(sample(s)));
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 0, max: specs.length - 1 }).chain((i) => fc.tuple(fc.constant(i), byteOps(bytes[i]!.length))), async ([si, ops]) => {
      const spec = specs[si]!;
      const text = new TextDecoder().decode(applyByteOps(bytes[si]!, ops));
      const items = await parseOrRefuse(tally, `${spec.name} with ${JSON.stringify(ops)}`, () => spec.parse(text, spec.files[0]!));
      if (items) checkItems(items);
    }),
    fuzzOptions(800),
  );
  t.diagnostic(`task files, byte-level: ${tally.summary()}`);
});

/** A small real stream: 12 HellaSwag items compressed by libbzip2 (python3's bz2 or the bzip2 tool). */
function compressSample(plain: Uint8Array): Uint8Array | null {
  const tries: [string, string[]][] = [
    ['python3', ['-c', 'import bz2,sys; sys.stdout.buffer.write(bz2.compress(sys.stdin.buffer.read(), 9))']],
    ['bzip2', ['-c', '-9']],
  ];
  for (const [cmd, args] of tries) {
    try {
      return new Uint8Array(execFileSync(cmd, args, { input: plain, stdio: ['pipe', 'pipe', 'ignore'] }));
    } catch {
      // Not installed: try the next.
    }
  }
  return null;
}

const PLAIN = new TextEncoder().encode(sample(TASKS.find((s) => s.name === 'hellaswag')!));
const PACKED = compressSample(PLAIN);

test('bzip2 decoder: damaged real streams decode to the original or are refused, in bounded time', { skip: PACKED ? false : 'neither python3 nor bzip2 is installed to make a small stream' }, async (t) => {
  const plain = PLAIN;
  const packed = PACKED!;
  assert.deepEqual(bunzip2(packed, 'sample.bz2'), plain);
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(byteOps(packed.length), async (ops) => {
      const damaged = applyByteOps(packed, ops);
      const out = await parseOrRefuse(tally, `bz2 with ${JSON.stringify(ops)}`, () => bunzip2(damaged, 'sample.bz2'));
      // The stream CRCs make silent corruption unlikely, not impossible (a flip in padding bits).
      if (out) assert.ok(out.length <= 10 * plain.length + 1_000_000, `decoded ${out.length} bytes from ${damaged.length}`);
    }),
    fuzzOptions(400),
  );
  t.diagnostic(`bzip2, byte-level: ${tally.summary()}`);
});
