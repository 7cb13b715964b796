// `npm run build`: src/ → dist/ (ESM JavaScript, .d.ts, source maps) with plain tsc.
//
// Runs from `npm ci` (prepare), `npm test`, scripts/test.mjs and again whenever `npx compact`
// links this folder into its cache, possibly while tests are running the command. So: nothing
// happens when dist/ was built from exactly these sources (a hash of them is kept in dist/), and a
// real build goes to a fresh folder swapped in by rename, so a reader never sees a half-written
// dist/ and a deleted module cannot linger in it.
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const STAMP = '.build-hash';

function files(dir) {
  return readdirSync(dir).sort().flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}
const hash = createHash('sha256');
for (const f of [...files(join(root, 'src')), join(root, 'tsconfig.json'), join(root, 'tsconfig.build.json'), fileURLToPath(import.meta.url)]) {
  hash.update(f.slice(root.length)).update('\0').update(readFileSync(f)).update('\0');
}
const digest = hash.digest('hex');
const stamp = join(dist, STAMP);
if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) process.exit(0);

const tmp = join(root, `dist.tmp-${process.pid}`);
rmSync(tmp, { recursive: true, force: true });
// typescript's exports map hides bin/: resolve its package.json and go from there.
const tsc = join(dirname(createRequire(import.meta.url).resolve('typescript/package.json')), 'bin', 'tsc');
const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', tmp], { cwd: root, stdio: 'inherit' });
if (r.status !== 0) {
  rmSync(tmp, { recursive: true, force: true });
  process.exit(r.status ?? 1);
}
// tsc rewrites `.ts` import specifiers in the JavaScript but keeps them in the .d.ts files; users'
// compilers (TypeScript 5 included) expect `.js` there. Same length, so declaration maps still hold.
for (const f of files(tmp).filter((f) => f.endsWith('.d.ts'))) {
  const text = readFileSync(f, 'utf8');
  const fixed = text.replace(/(from\s+|import\()(['"])(\.{1,2}\/[^'"]+)\.ts\2/g, '$1$2$3.js$2');
  if (fixed !== text) writeFileSync(f, fixed);
}
// npm makes bin targets executable only when it links them, which a rebuild would undo.
chmodSync(join(tmp, 'cli', 'bin.js'), 0o755);
writeFileSync(join(tmp, STAMP), digest);
const old = join(root, `dist.old-${process.pid}`);
if (existsSync(dist)) renameSync(dist, old);
renameSync(tmp, dist);
rmSync(old, { recursive: true, force: true });
