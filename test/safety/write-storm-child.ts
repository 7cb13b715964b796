// Child of sigterm-race.test.ts: a build that keeps hundreds of file creations queued on libuv's
// thread pool, so a signal's synchronous cleanup races with creations it cannot stop.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { withOutputDir } from '../../src/io/atomic-dir.ts';

const out = process.argv[2]!;
const IN_FLIGHT = 256;
await withOutputDir(out, {}, async (tmp) => {
  let n = 0;
  const worker = async (): Promise<void> => {
    for (;;) await writeFile(path.join(tmp, `f${n++}`), 'x').catch(() => undefined);
  };
  process.stdout.write(`${tmp}\n`);
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
});
