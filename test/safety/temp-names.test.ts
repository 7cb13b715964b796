/**
 * Issue 14, item 6: temporaries carry their owner (pid, host, boot, PID namespace) and the sweep
 * removes only what is provably dead; partial files left by SIGKILL are swept too.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic, withOutputDir } from '../../src/io/atomic-dir.ts';
import { parseTempName, provablyDead, selfIdentity, sweepStale, tempPath } from '../../src/io/temp-names.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const me = selfIdentity();
const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
const livePid = process.ppid;
const name = (base: string, kind: 'tmp' | 'old', pid: number, id: { host: string; boot: string; ns: string } = me) => `${base}.compact-${kind}-${pid}-0badf00d@${id.host}.${id.boot}.${id.ns}`;

test('a temporary name records pid, host, boot and PID namespace, and parses back', () => {
  const p = tempPath('/x/out', 'tmp');
  assert.equal(path.dirname(p), '/x');
  const o = parseTempName(path.basename(p))!;
  assert.deepEqual(o, { base: 'out', kind: 'tmp', pid: process.pid, host: me.host, boot: me.boot, ns: me.ns });
  assert.equal(parseTempName('out.compact-tmp-123-0badf00d'), null, 'the old pid-only form is not ours to judge');
  // On Linux the tags come from the machine, not a constant.
  if (process.platform === 'linux') {
    assert.notEqual(me.boot, '0');
    assert.notEqual(me.ns, '0');
  }
  assert.ok(hostname().length > 0);
});

test('provably dead: same host/boot/namespace and no such pid, or an earlier boot; anything else is kept', () => {
  const other = (k: 'host' | 'boot' | 'ns') => ({ ...me, [k]: 'ffffffff' });
  const owner = (pid: number, id = me) => parseTempName(name('out', 'tmp', pid, id))!;
  assert.equal(provablyDead(owner(deadPid)), true);
  assert.equal(provablyDead(owner(livePid)), false);
  assert.equal(provablyDead(owner(process.pid)), false);
  assert.equal(provablyDead(owner(deadPid, other('ns'))), false, 'another PID namespace: that pid may be alive there');
  assert.equal(provablyDead(owner(livePid, other('ns'))), false);
  assert.equal(provablyDead(owner(deadPid, other('host'))), false, 'another machine sharing the folder');
  assert.equal(provablyDead(owner(livePid, other('boot'))), true, 'this machine booted since: every process of then is gone');
});

test('the sweep removes only provably dead temporaries of the same output', async () => {
  const parent = makeTmpDir('sweep');
  const other = (k: 'host' | 'boot' | 'ns') => ({ ...me, [k]: 'ffffffff' });
  const entries = {
    dead: name('pruned', 'tmp', deadPid),
    live: name('pruned', 'tmp', livePid),
    otherNs: name('pruned', 'tmp', deadPid, other('ns')),
    otherHost: name('pruned', 'tmp', deadPid, other('host')),
    oldBoot: name('pruned', 'tmp', livePid, other('boot')),
    legacy: `pruned.compact-tmp-${deadPid}-0badf00d`,
    otherBase: name('other', 'tmp', deadPid),
    deadFile: name('model.gguf', 'tmp', deadPid),
  };
  for (const [k, n] of Object.entries(entries)) {
    if (k === 'deadFile') writeFileSync(path.join(parent, n), 'GGUF partial');
    else mkdirSync(path.join(parent, n));
  }
  await withOutputDir(path.join(parent, 'pruned'), {}, async () => undefined);
  const left = new Set(readdirSync(parent));
  assert.ok(left.has('pruned'));
  for (const k of ['live', 'otherNs', 'otherHost', 'legacy', 'otherBase', 'deadFile'] as const) assert.ok(left.has(entries[k]), `${k} kept`);
  for (const k of ['dead', 'oldBoot'] as const) assert.ok(!left.has(entries[k]), `${k} removed`);
  // A dead output set aside is kept while the output itself is missing (it is then the only copy).
  const aside = name('gone', 'old', deadPid);
  mkdirSync(path.join(parent, aside));
  assert.deepEqual(await sweepStale(parent, 'gone'), []);
  assert.ok(readdirSync(parent).includes(aside));
});

test('a partial file left by SIGKILL is swept by the next write of that file', async () => {
  const dir = makeTmpDir('partial-gguf');
  const target = path.join(dir, 'model.gguf');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'partial-file-child.ts'), target], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout.once('data', () => resolve());
    child.on('exit', (c) => reject(new Error(`child exited early (${c})`)));
  });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGKILL');
  await exited;
  const partial = readdirSync(dir);
  assert.equal(partial.length, 1);
  assert.equal(parseTempName(partial[0]!)?.pid, child.pid, 'the killed run left its partial file, named for it');
  assert.match(readFileSync(path.join(dir, partial[0]!), 'latin1'), /^GGUF/);
  await writeFileAtomic(target, 'GGUF whole');
  assert.deepEqual(readdirSync(dir), ['model.gguf']);
});
