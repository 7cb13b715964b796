/**
 * Crash safety: `compact prune` killed with SIGKILL (no handler runs: power loss, OOM killer) at
 * points covering every phase, one after another into the same --out, then run again.
 *
 * Held after every kill: no folder at --out, or a complete one (the same files, byte for byte,
 * as an uninterrupted run, and a checkpoint whose tensors all read); anything else beside it is
 * a clearly named `out.compact-tmp-<pid>-<hex>@<host>.<boot>.<ns>` folder of the dead process. The next run
 * removes those and succeeds.
 *
 * Kill points are events, not only delays, so they land in the intended phase on a slow or busy
 * machine: stderr progress lines (before/during calibration) and the temporary folder's contents
 * (while writing). Two delays, as fractions of an uninterrupted run, add unplanned points. The
 * last file, compact-report.json, is renamed into place microseconds after it is written, so
 * that point usually finds the run finished: then --out must be complete, and later kills run
 * with --force over it, which must leave it intact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { folderDigest, readAllTensors, startPrune, TMP_RE, type Observation } from './prune-process.ts';

interface KillPoint {
  name: string;
  /** Progress lines are needed to see calibration; the other points use --quiet, as the issue's command. */
  quiet: boolean;
  when: (o: Observation, ref: { ms: number; calibrateMs: number }) => boolean;
}

const KILL_POINTS: KillPoint[] = [
  { name: 'startup (150 ms)', quiet: false, when: (o) => o.ms > 150 },
  // Nothing is printed between startup and calibration (config, tokenizer surgery, tokenizing the
  // calibration text), so this point is timed: 60% of the way to the reference's first
  // calibration line, or at once if this run is already calibrating.
  { name: 'loaded, before calibration', quiet: false, when: (o, ref) => o.ms > 0.6 * ref.calibrateMs || /calibrate:/.test(o.stderr) },
  { name: 'calibration, layer 3 of 8', quiet: false, when: (o) => /calibrate: 3\/8/.test(o.stderr) },
  // The temporary folder and model.safetensors in it appear within a millisecond of each other.
  { name: 'writing: model.safetensors', quiet: true, when: (o) => o.tmpFiles.includes('model.safetensors') },
  { name: 'writing: tokenizer.json (weights complete)', quiet: true, when: (o) => o.tmpFiles.includes('tokenizer.json') },
  { name: 'writing: compact-report.json (about to rename)', quiet: true, when: (o) => o.tmpFiles.includes('compact-report.json') },
  // After a run has completed, these also exercise --force: the old output must survive intact.
  { name: '35% of a run', quiet: true, when: (o, ref) => o.ms > 0.35 * ref.ms },
  { name: '70% of a run', quiet: true, when: (o, ref) => o.ms > 0.7 * ref.ms },
];

/** The phase an observation shows, for the report and the coverage check. */
function phase(o: Observation, quiet: boolean): string {
  if (o.tmpDirs.some((d) => d.includes('-tmp-'))) return `writing (${o.tmpFiles.join(', ') || 'empty'})`;
  if (quiet) return 'before writing (--quiet: calibration progress not visible)';
  if (/calibrate:/.test(o.stderr)) return 'calibration';
  return 'before calibration';
}

test('SIGKILL at every phase leaves no output or a complete one; the next run cleans up and succeeds', async (t) => {
  // The reference goes to the same --out (the report records the path), and is then removed.
  const parent = makeTmpDir('crash-kill');
  const out = path.join(parent, 'out');
  // Not --quiet, to time its first calibration line (progress output does not change the folder).
  let calibrateMs = 0;
  const refRun = startPrune(parent, [], (o) => {
    if (!calibrateMs && /calibrate:/.test(o.stderr)) calibrateMs = o.ms;
    return false;
  });
  const ref = await refRun.exit;
  assert.equal(ref.code, 0, ref.stderr);
  assert.ok(calibrateMs > 0, `no calibration progress seen: ${ref.stderr}`);
  const expected = folderDigest(out);
  rmSync(out, { recursive: true });
  const phases: string[] = [];
  let leftovers = 0;
  for (const k of KILL_POINTS) {
    const run = startPrune(parent, [...(k.quiet ? ['--quiet'] : []), ...(existsSync(out) ? ['--force'] : [])], (o) => k.when(o, { ms: ref.ms, calibrateMs }));
    const seen = await run.interrupted;
    const res = await run.exit;
    phases.push(seen ? phase(seen, k.quiet) : 'finished before the kill point');
    t.diagnostic(`${k.name}: killed at ${seen ? `${seen.ms.toFixed(0)} ms in phase ${phase(seen, k.quiet)}` : 'never (run finished)'}`);
    if (seen) assert.equal(res.signal, 'SIGKILL');
    else assert.equal(res.code, 0, res.stderr);

    for (const name of readdirSync(parent)) {
      if (name === 'out') continue;
      assert.match(name, TMP_RE, `unexpected entry beside --out: ${name}`);
      leftovers++;
    }
    if (existsSync(out)) {
      assert.deepEqual(folderDigest(out), expected, `${k.name}: --out exists but differs from a complete run`);
      assert.ok((await readAllTensors(out)) > 0);
    }
  }
  // The planned points must have landed where planned, or the test proves less than it says.
  assert.ok(phases.includes('before calibration'), phases.join('; '));
  assert.ok(phases.includes('calibration'), phases.join('; '));
  assert.ok(phases.some((p) => p.startsWith('writing (') && p.includes('model.safetensors') && !p.includes('compact-report')), phases.join('; '));
  assert.ok(leftovers > 0, 'no kill left a temporary folder, so cleanup was not exercised');

  const rerun = await startPrune(parent, ['--quiet', ...(existsSync(out) ? ['--force'] : [])], null).exit;
  assert.equal(rerun.code, 0, rerun.stderr);
  assert.deepEqual(readdirSync(parent), ['out'], 'the rerun must remove the temporary folders of killed runs');
  assert.deepEqual(folderDigest(out), expected, 'two runs with the same flags (reference and rerun) differ');
  assert.ok((await readAllTensors(out)) > 0);
});
