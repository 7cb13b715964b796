/**
 * The tool's name and version, from the package.json that ships with these sources (found by
 * walking up from this file, so it holds for the sources run through tsx and for a compiled copy).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: { name: string; version: string } | null = null;

export function toolVersion(): { name: string; version: string } {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string; bin?: Record<string, string> };
      // A package.json of ours names the `compact` command; any other (a parent workspace) is skipped.
      if (pkg.bin && 'compact' in pkg.bin && pkg.version) return (cached = { name: pkg.name ?? 'compact', version: pkg.version });
    }
    const up = dirname(dir);
    if (up === dir) return (cached = { name: 'compact', version: 'unknown' });
    dir = up;
  }
}
