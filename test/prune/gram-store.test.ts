/** The Gram matrices' temporary folder: round trip, removed on close and when the process is killed. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { GramStore } from '../../src/prune/gram-store.ts';
import { REPO_ROOT } from '../helpers/paths.ts';

test('GramStore returns what was put and removes its folder on close', async () => {
  const s = await GramStore.create(3);
  const g = Float64Array.from({ length: 9 }, (_, i) => i / 7);
  await s.put(2, g);
  assert.deepEqual(await s.get(2), g);
  await assert.rejects(s.get(1), /no gram matrix stored for layer 1/);
  await s.close();
  assert.equal(existsSync(s.dir), false);
});

test('a MoE layer\'s Grams go in together and come back one expert at a time', async () => {
  const s = await GramStore.create(3, 4);
  const g = Float64Array.from({ length: 4 * 9 }, (_, i) => i / 7 - 1);
  await s.put(1, g);
  for (let e = 0; e < 4; e++) assert.deepEqual(await s.get(1, e), g.subarray(e * 9, (e + 1) * 9), `expert ${e}`);
  await assert.rejects(s.get(1, 4), /expert 4 is outside 0..3/);
  await assert.rejects(s.put(2, new Float64Array(9)), /expected 4·3²/);
  await s.close();
});

test('a process killed with its GramStore open leaves no folder behind', async () => {
  const script = `const { GramStore } = await import('./src/prune/gram-store.ts');
const s = await GramStore.create(2);
await s.put(0, new Float64Array(4));
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
