/**
 * Ctrl-C (SIGINT) stops `compact prune` cleanly: one line on stderr, exit status 130, and
 * nothing left behind: no --out, no temporary folder. Tried during calibration (no temporary
 * folder yet) and while writing (temporary folder half full, removed by atomic-dir's exit hook).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { startPrune, type Observation } from './prune-process.ts';

const POINTS: { name: string; quiet: boolean; when: (o: Observation) => boolean }[] = [
  { name: 'during calibration', quiet: false, when: (o) => /calibrate: 2\/8/.test(o.stderr) },
  { name: 'while writing model.safetensors', quiet: true, when: (o) => o.tmpFiles.includes('model.safetensors') },
];

for (const p of POINTS) {
  test(`SIGINT ${p.name}: message, status 130, no output, no temporary folder`, async () => {
    const parent = makeTmpDir('sigint');
    const run = startPrune(parent, p.quiet ? ['--quiet'] : [], p.when, 'SIGINT');
    const seen = await run.interrupted;
    const res = await run.exit;
    assert.ok(seen, `the run finished before reaching the point (${res.stderr})`);
    assert.equal(res.signal, null, 'compact must exit by itself, not die of the signal');
    assert.equal(res.code, 130);
    const lines = res.stderr.trimEnd().split('\n');
    assert.equal(lines.at(-1), 'compact: interrupted; no output written');
    assert.deepEqual(readdirSync(parent), []);
  });
}
