import type { WriteEntry } from '../io/safetensors-writer.ts';
import { ProgressReporter, type OnProgress } from '../report/progress-events.ts';

/** The output's tensors report progress as they are produced (about every tenth of them: on an 8B model writing takes minutes). */
export function withWriteProgress(entries: WriteEntry[], onProgress: OnProgress | undefined): WriteEntry[] {
  const bar = new ProgressReporter('write', entries.length, onProgress, 'tensors');
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
