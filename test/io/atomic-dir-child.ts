// Child process for atomic-dir.test.ts: starts a build that never finishes, reports its temporary
// folder on stdout, and waits to be killed by a signal.
import { withOutputDir } from '../../src/io/atomic-dir.ts';

const out = process.argv[2]!;
await withOutputDir(out, {}, async (tmp) => {
  process.stdout.write(tmp + '\n');
  await new Promise(() => setInterval(() => undefined, 1000));
});
