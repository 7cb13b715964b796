/**
 * Issue 14, item 5: SIGTERM while writes are in flight. The cleanup used to collide with them
 * (rmSync fails with ENOTEMPTY when a thread-pool write adds an entry mid-removal), printing a
 * stack trace and exiting 1 instead of dying by the signal (143). Repeated kills, a bounded loop.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sweepStale } from '../../src/io/temp-names.ts';
import { removeAllSync } from '../../src/io/atomic-dir.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const KILLS = 12;

function once(parent: string, delayMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'write-storm-child.ts'), path.join(parent, 'out')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.once('data', () => setTimeout(() => child.kill('SIGTERM'), delayMs));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stderr })));
}

test(`SIGTERM during a storm of writes: ${KILLS} kills, each dies by the signal with nothing on stderr`, async (t) => {
  const parent = makeTmpDir('sigterm-race');
  let leftovers = 0;
  for (let i = 0; i < KILLS; i++) {
    const r = await once(parent, (i * 7) % 40);
    assert.equal(r.stderr, '', `kill ${i}: stderr`);
    assert.equal(r.signal, 'SIGTERM', `kill ${i}: exit code ${r.code}, expected death by SIGTERM (status 143)`);
    leftovers += readdirSync(parent).length;
    // Whatever a racing write recreated after the cleanup carries the dead pid: the next run's sweep removes it.
    await sweepStale(parent, 'out');
    assert.deepEqual(readdirSync(parent), [], `kill ${i}: swept`);
  }
  t.diagnostic(`${KILLS} kills; ${leftovers} temporaries recreated by in-flight writes after cleanup (swept)`);
});

test('the signal cleanup never throws: a removal that fails (ENOTEMPTY from a racing write) is retried, then given up', () => {
  const err = Object.assign(new Error('ENOTEMPTY: directory not empty, rmdir'), { code: 'ENOTEMPTY' });
  let calls = 0;
  const flaky = (p: string): void => {
    calls++;
    if (calls <= 2) throw err;
    removed.push(p);
  };
  const removed: string[] = [];
  assert.doesNotThrow(() => removeAllSync(['a', 'b'], flaky));
  assert.deepEqual(removed, ['a', 'b'], 'a retried after two failures, b at once');
  let tries = 0;
  assert.doesNotThrow(() => removeAllSync(['c'], () => {
    tries++;
    throw err;
  }));
  assert.equal(tries, 5, 'bounded retries, then left for the sweep');
});
