/**
 * Issue 14, item 5 (second half): Ctrl-C during the GGUF step of `prune --export gguf` said
 * "no output written" although the pruned checkpoint was in place. Now it says what was kept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { REPO_ROOT, shared } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

test('Ctrl-C while the GGUF is written: exit 130, the message names the kept checkpoint, no partial GGUF', async () => {
  const parent = makeTmpDir('int-gguf');
  const out = join(parent, 'out');
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/compact.mjs'), 'prune', shared('models/wiki-28m'), '--out', out, '--vocab', '30000', '--export', 'gguf', '--quiet'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let sent = false;
  const timer = setInterval(() => {
    if (sent || !existsSync(out)) return;
    let names: string[] = [];
    try {
      names = readdirSync(out);
    } catch {
      return;
    }
    // The GGUF's temporary beside its target: the export step is under way.
    if (names.some((n) => n.startsWith('model.gguf.compact-tmp-'))) {
      sent = true;
      child.kill('SIGINT');
    }
  }, 2);
  const [code] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearInterval(timer);
  assert.ok(sent, `the GGUF step was seen (exit ${code}, stderr ${stderr})`);
  assert.equal(code, 130);
  assert.equal(stderr.trim().split('\n').at(-1), `compact: interrupted; the pruned checkpoint is complete in ${out}; the GGUF ${join(out, 'model.gguf')} was not written`);
  const names = readdirSync(out).sort();
  assert.ok(names.includes('compact-report.json') && names.includes('model.safetensors'), names.join(', '));
  assert.ok(!names.some((n) => n.includes('gguf')), `no GGUF and no partial one: ${names.join(', ')}`);
  const ck = await openCheckpoint(out);
  await ck.close();
  assert.deepEqual(readdirSync(parent), ['out']);
});
