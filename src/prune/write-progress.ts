import type { WriteEntry } from '../io/safetensors-writer.ts';
import { Progress } from '../report/progress.ts';

/** The output's tensors report progress as they are produced (about every tenth of them: on an 8B model writing takes minutes). */
export function withWriteProgress(entries: WriteEntry[], quiet: boolean): WriteEntry[] {
  const bar = new Progress('write', entries.length, 'tensors', process.stderr, quiet);
  const every = Math.max(1, Math.ceil(entries.length / 10));
  let done = 0;
  return entries.map((e) => ({
    ...e,
    bytes: async () => {
      const b = await e.bytes();
      done++;
      if (done % every === 0 || done === entries.length) bar.update(done, done);
      return b;
    },
  }));
}
