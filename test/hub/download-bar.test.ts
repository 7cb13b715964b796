import { test } from 'node:test';
import assert from 'node:assert/strict';
import { downloadBar } from '../../src/cli/download-bar.ts';

function fakeStream(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let out = '';
  const stream = { isTTY, write: (s: string) => ((out += s), true) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => out };
}

const events = [
  { repo: 'org/m', file: 'a.safetensors', bytes: 0, totalBytes: 3 * 1024 * 1024, files: 0, totalFiles: 2 },
  { repo: 'org/m', file: 'a.safetensors', bytes: 1024 * 1024, totalBytes: 3 * 1024 * 1024, files: 0, totalFiles: 2 },
  { repo: 'org/m', file: 'b.safetensors', bytes: 2 * 1024 * 1024, totalBytes: 3 * 1024 * 1024, files: 1, totalFiles: 2 },
  { repo: 'org/m', file: '', bytes: 3 * 1024 * 1024, totalBytes: 3 * 1024 * 1024, files: 2, totalFiles: 2 },
];

test('download bar (log): one line per file with bytes, rate and ETA, and a last line at 100%', () => {
  const { stream, text } = fakeStream(false);
  const bar = downloadBar(stream);
  for (const e of events) bar(e);
  const lines = text().trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^download org\/m 0 B\/3\.00 MiB \S+ \S+\/s eta \S+ \(1\/2 a\.safetensors\)$/);
  assert.match(lines[1]!, /^download org\/m 2\.00 MiB\/3\.00 MiB \S+ \S+\/s eta \S+ \(2\/2 b\.safetensors\)$/);
  assert.match(lines[2]!, /^download org\/m 3\.00 MiB\/3\.00 MiB \S+ \S+\/s eta 0s \(2\/2\)$/);
});

test('download bar (terminal): redrawn in place, a full bar and a newline at the end; quiet prints nothing', () => {
  const { stream, text } = fakeStream(true);
  const bar = downloadBar(stream);
  for (const e of events) bar(e);
  assert.ok(text().startsWith('\r['));
  assert.ok(text().endsWith('\n'));
  assert.ok(!text().slice(0, -1).includes('\n'), 'one line, redrawn');
  assert.match(text(), /\[#{24}\] download org\/m 3\.00 MiB\/3\.00 MiB .* eta 0s \(2\/2\)/);
  const q = fakeStream(true);
  const silent = downloadBar(q.stream, true);
  for (const e of events) silent(e);
  assert.equal(q.text(), '');
});
