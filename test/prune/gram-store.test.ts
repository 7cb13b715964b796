/** The Gram matrices' temporary folder: tiles summed and read back as rows, removed on close and when the process is killed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { GramStore } from '../../src/prune/gram-store.ts';
import { REPO_ROOT } from '../helpers/paths.ts';

test('GramStore sums upper-triangle tiles batch by batch and returns the full symmetric rows', async () => {
  // I = 5 in tiles of 2: a ragged last tile row and column.
  const I = 5;
  const s = await GramStore.create(I, 1, { tile: 2 });
  const batches = [0, 1, 2].map((b) => Float64Array.from({ length: I * 3 }, (_, k) => ((k * 7 + b * 3) % 11) / 4 - 1)); // A [3 × I] each
  const want = new Float64Array(I * I);
  for (const a of batches) for (let t = 0; t < 3; t++) for (let i = 0; i < I; i++) for (let j = 0; j < I; j++) want[i * I + j]! += a[t * I + i]! * a[t * I + j]!;
  batches.forEach((a, b) => {
    for (let i = 0; i < s.tiles; i++) {
      for (let j = i; j < s.tiles; j++) {
        const rows = Math.min(2, I - 2 * i);
        const cols = Math.min(2, I - 2 * j);
        const tile = new Float32Array(rows * cols);
        for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) for (let t = 0; t < 3; t++) tile[r * cols + c]! += a[t * I + 2 * i + r]! * a[t * I + 2 * j + c]!;
        s.add(4, 0, i, j, tile, b === 0);
      }
    }
  });
  const g = s.rows(4);
  assert.equal(g.blockRows, 2);
  const got = new Float64Array(I * I);
  for (let i = 0; i < 3; i++) got.set(g.rows(i) as Float64Array, i * 2 * I);
  for (let k = 0; k < I * I; k++) assert.ok(Math.abs(got[k]! - want[k]!) <= 1e-5 * (1 + Math.abs(want[k]!)), `entry ${k}: ${got[k]} vs ${want[k]}`);
  assert.throws(() => s.rows(1), /no gram matrix stored for layer 1/);
  assert.throws(() => s.add(5, 0, 0, 0, new Float32Array(4), false), /before the layer's first batch/);
  assert.throws(() => s.add(4, 0, 1, 0, new Float32Array(4), false), /tile \(1, 0\)/);
  await s.close();
  assert.equal(existsSync(s.dir), false);
});

test('a MoE layer\'s Grams go in together and come back one expert at a time', async () => {
  const s = await GramStore.create(3, 4, { tile: 2 });
  // Symmetric per expert, as a Gram matrix is (the store keeps the upper triangle).
  const g = new Float64Array(4 * 9);
  for (let e = 0; e < 4; e++) for (let i = 0; i < 3; i++) for (let j = 0; j <= i; j++) g[e * 9 + i * 3 + j] = g[e * 9 + j * 3 + i] = (e * 9 + i * 3 + j) / 8 - 1;
  s.put(1, g);
  for (let e = 0; e < 4; e++) {
    const rows = s.rows(1, e);
    const got = new Float64Array(9);
    for (let i = 0; i < 2; i++) got.set(rows.rows(i) as Float64Array, i * 2 * 3);
    assert.deepEqual([...got], [...g.subarray(e * 9, (e + 1) * 9)], `expert ${e}`);
  }
  assert.throws(() => s.rows(1, 4), /expert 4 is outside 0..3/);
  assert.throws(() => s.put(2, new Float64Array(9)), /expected 4·3²/);
  await s.close();
});

test('a process killed with its GramStore open leaves no folder behind', async () => {
  const script = `const { GramStore } = await import('./src/prune/gram-store.ts');
const s = await GramStore.create(2);
s.add(0, 0, 0, 0, new Float32Array(4), true);
console.log(s.dir);
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const [chunk] = (await once(child.stdout!, 'data')) as [Buffer];
  const dir = chunk.toString().trim();
  assert.ok(existsSync(dir), `${dir} was not made`);
  child.kill('SIGTERM');
  await once(child, 'exit');
  assert.equal(existsSync(dir), false, `${dir} left behind`);
});
