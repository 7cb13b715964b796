// Child of temp-names.test.ts: streams a file through writeFileAtomic forever (a GGUF export that
// never ends), reporting once bytes are on disk, and waits to be killed with SIGKILL.
import { writeFileAtomic } from '../../src/io/atomic-dir.ts';

async function* forever(): AsyncGenerator<Uint8Array> {
  yield new TextEncoder().encode('GGUF');
  process.stdout.write('writing\n');
  for (;;) {
    await new Promise((r) => setTimeout(r, 5));
    yield new Uint8Array(1024);
  }
}
await writeFileAtomic(process.argv[2]!, forever());
