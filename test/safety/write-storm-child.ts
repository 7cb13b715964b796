// Child of sigterm-race.test.ts: a build that keeps many writes in flight on libuv's thread pool
// (new files and folders in the temporary output), so a signal's cleanup races with them.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { withOutputDir } from '../../src/io/atomic-dir.ts';

const out = process.argv[2]!;
await withOutputDir(out, {}, async (tmp) => {
  let n = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const d = path.join(tmp, `d${n++}`);
      await mkdir(d);
      await Promise.all([0, 1, 2, 3].map((k) => writeFile(path.join(d, `f${k}`), new Uint8Array(4096))));
    }
  };
  process.stdout.write(`${tmp}\n`);
  await Promise.all(Array.from({ length: 8 }, worker));
});
