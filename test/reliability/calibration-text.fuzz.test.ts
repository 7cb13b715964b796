/**
 * Fuzzes calibration text reading (readCalibrationText): JSON lines with a "text" field, built
 * from real paragraphs of calib-wiki.txt, damaged at the byte level and line by line (a line's
 * object replaced, nested, its text made a number…). Held: one-line CompactError naming file and
 * line, or the documents' texts joined by blank lines.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { readCalibrationText } from '../../src/prune/calibration-text.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { shared } from '../helpers/paths.ts';
import { applyByteOps, applyTreeOps, byteOps, NEST_DEPTHS, treeOps } from './mutators.ts';
import { describe, fuzzOptions, parseOrRefuse, Tally } from './fuzz-helpers.ts';

const PARAGRAPHS = readFileSync(shared('data', 'text', 'calib-wiki.txt'), 'utf8')
  .split(/\n\s*\n/)
  .filter((p) => p.trim())
  .slice(0, 12);
const DOCS = PARAGRAPHS.map((text, i) => ({ text, meta: { source: 'wiki', n: i } }));
const JSONL = DOCS.map((d) => JSON.stringify(d)).join('\n') + '\n';
const file = path.join(makeTmpDir('fuzz-calib'), 'calib.jsonl');

function read(tally: Tally, content: string | Uint8Array, what: string): Promise<string | null> {
  writeFileSync(file, content);
  return parseOrRefuse(tally, what, () => {
    const text = readCalibrationText(file);
    assert.ok(text.trim().length > 0);
    return text;
  });
}

test('real paragraphs as JSON lines read back joined by blank lines', async () => {
  const tally = new Tally();
  assert.equal(await read(tally, JSONL, 'unmodified'), PARAGRAPHS.join('\n\n'));
  assert.equal(await read(tally, JSONL.replace(/\n/g, '\r\n') + '\n\n', 'CRLF and blank lines'), PARAGRAPHS.join('\n\n'));
});

test('JSON lines with one line damaged in structure', async (t) => {
  const tally = new Tally();
  await fc.assert(
    fc.asyncProperty(fc.nat(), treeOps(), async (n, ops) => {
      const lines = DOCS.map((d) => JSON.stringify(d));
      const i = n % lines.length;
      lines[i] = applyTreeOps(DOCS[i], ops);
      const content = lines.join('\n');
      const text = await read(tally, content, `line ${i + 1}: ${describe(lines[i]!)}`);
      // Whatever parses must be exactly the documents' texts (no line silently dropped), or the
      // whole file as plain text when its first line no longer starts with "{".
      if (text === null) return;
      if (!content.trimStart().startsWith('{')) assert.equal(text, content);
      else assert.equal(text, lines.map((l) => (JSON.parse(l) as { text: string }).text).join('\n\n'));
    }),
    fuzzOptions(1000),
  );
  t.diagnostic(`calibration JSON lines, structure-level: ${tally.summary()}`);
});

test('JSON lines bytes damaged: flips, truncations, insertions', async (t) => {
  const tally = new Tally();
  const bytes = new TextEncoder().encode(JSONL);
  await fc.assert(
    fc.asyncProperty(byteOps(bytes.length), async (ops) => {
      await read(tally, applyByteOps(bytes, ops), `calib with ${JSON.stringify(ops)}`);
    }),
    fuzzOptions(1000),
  );
  t.diagnostic(`calibration JSON lines, byte-level: ${tally.summary()}`);
});

test('a deeply nested JSON line is refused with its line number', async () => {
  const tally = new Tally();
  for (const depth of NEST_DEPTHS) {
    await read(tally, `${JSONL}{"text":${'['.repeat(depth)}${']'.repeat(depth)}}\n`, `nest ${depth}`);
  }
  assert.equal(tally.ok, 0);
  assert.ok([...tally.messages.keys()].every((m) => m.startsWith('<file>:N:')), [...tally.messages.keys()].join('; '));
});
