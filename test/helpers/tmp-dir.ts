import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A fresh folder under the OS temp dir, removed when the test process exits. */
export function makeTmpDir(tag: string): string {
  const d = mkdtempSync(join(tmpdir(), `compact-${tag}-`));
  made.push(d);
  return d;
}
