/**
 * A bench child started by runChild (bench/common.ts) exits when its parent is killed: runChild
 * blocks the parent in execFileSync, so nothing in the parent can stop the child, and a killed
 * bench used to leave its multi-GB prune running.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../helpers/paths.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';

/** Running: signalable and, where /proc tells, not a zombie (an orphan's reaper may be slow or absent). */
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return true;
  }
};

test('runChild: the child exits once its parent is SIGKILLed', async () => {
  const dir = makeTmpDir('orphan');
  const common = join(REPO_ROOT, 'bench/common.ts');
  const pidFile = join(dir, 'child.pid');
  const child = join(dir, 'child.ts');
  const parent = join(dir, 'parent.ts');
  // The child never finishes by itself: only the orphan check can end it.
  writeFileSync(child, `import ${JSON.stringify(common)};\nimport { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(pidFile)}, String(process.pid));\nsetInterval(() => {}, 1000);\n`);
  writeFileSync(parent, `import { runChild } from ${JSON.stringify(common)};\nrunChild(${JSON.stringify(child)}, [], { quiet: true });\n`);
  const p = spawn(process.execPath, ['--import', 'tsx', parent], { cwd: REPO_ROOT, stdio: 'ignore' });
  // Polls, not a timing bound: each wait ends as soon as its condition holds.
  for (let i = 0; i < 600 && !existsSync(pidFile); i++) await sleep(100);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  assert.ok(alive(pid), 'the child runs while its parent does');
  p.kill('SIGKILL');
  for (let i = 0; i < 600 && alive(pid); i++) await sleep(100);
  const stillRunning = alive(pid);
  if (stillRunning) process.kill(pid, 'SIGKILL');
  assert.ok(!stillRunning, `child ${pid} outlived its killed parent`);
});
