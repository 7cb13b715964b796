#!/usr/bin/env node
// In-repository launcher (tests, scripts): runs the compiled command exactly as installed users
// get it. `npm run build` (run by `npm ci`, `npm test` and scripts/test.mjs) writes dist/.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/bin.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('compact: dist/ is missing; run `npm run build` first\n');
  process.exit(1);
}
await import(entry.href);
