/**
 * #14 item 4: `npx compact …` (npm 11) sent SIGTERM or SIGHUP exits at once but used to leave the
 * command running, which then wrote a complete --out. Run exactly as the README does (npx, from
 * the repository root, the bundled model), signal npm itself during calibration, and check that
 * the command stops: its stderr (inherited through npm, so still ours to read after npm is gone)
 * closes when it exits, says why, and neither the output nor a temporary folder is left.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { REPO_ROOT, shared } from '../helpers/paths.ts';

async function killNpxDuringCalibration(signal: 'SIGTERM' | 'SIGHUP') {
  const parent = makeTmpDir(`npx-${signal}`);
  const out = join(parent, 'out');
  // The README's command, with a short calibration so a run that is not stopped ends (and fails the test) soon.
  const args = ['compact', 'prune', 'models/wiki-28m', '--ratio', '0.35', '--out', out, '--force', '--calib', shared('data', 'text', 'calib-wiki.txt'), '--calib-tokens', '2048', '--seq-len', '256', '--planner-step', '0.5'];
  const npx = spawn('npx', args, { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let signalled = false;
  const npxExit = new Promise<number | null>((resolve) => npx.on('exit', (code, sig) => resolve(code ?? (sig ? 128 : null))));
  const closed = new Promise<void>((resolve) => {
    npx.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (!signalled && /calibrate: 1\/8/.test(stderr)) {
        signalled = true;
        npx.kill(signal);
      }
    });
    // End of the pipe: every holder (npm, its shell, the command) has exited.
    npx.stderr!.on('close', () => resolve());
  });
  await npxExit;
  await closed;
  assert.ok(signalled, `the command never reached calibration:\n${stderr}`);
  assert.match(stderr, /compact: npm, which started it, has exited; stopping; no output written\n/);
  assert.ok(!existsSync(out), `${signal}: the output was written after npx was stopped`);
  assert.deepEqual(readdirSync(parent), [], 'no temporary folder is left');
}

// No timeout: on a loaded machine a wall-clock limit fails a correct run; a command that is not
// stopped still ends (2,048 calibration tokens) and fails the checks.
test('npx compact prune: SIGTERM to npx stops the command (no output)', () => killNpxDuringCalibration('SIGTERM'));
test('npx compact prune: SIGHUP to npx stops the command (no output)', () => killNpxDuringCalibration('SIGHUP'));
