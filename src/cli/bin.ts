#!/usr/bin/env node
// The `compact` command (package.json "bin"): compiled to dist/cli/bin.js, so a call spends its
// time on the work rather than on compiling TypeScript.
import { interruptNote, main } from './main.ts';
import { watchLifeline } from './lifeline.ts';
import { outOfMemoryError } from './address-space.ts';
import { clearProgressLine } from '../report/progress.ts';

// Ctrl-C, kill and a closed terminal: one line and the conventional status 128 + signal rather
// than a silent death. Outputs are built in temporary folders (src/io/atomic-dir.ts) whose exit
// handler removes them, so nothing is left. Removed once the command has finished: its output
// may be in place by then.
const STATUS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
type Stop = keyof typeof STATUS;
function stop(signal: Stop, why: string): void {
  // A progress bar may be mid-line on a terminal: blank it first.
  clearProgressLine();
  process.stderr.write(`compact: ${why}; ${interruptNote()}\n`);
  process.exit(STATUS[signal]);
}
const onSignal = (signal: Stop) => stop(signal, signal === 'SIGINT' ? 'interrupted' : `stopped by ${signal}`);
const signals = Object.keys(STATUS) as Stop[];
for (const s of signals) process.once(s, onSignal);
// Through `npx` (npm 11) a SIGTERM or SIGHUP kills npm but not this process, which would finish
// unobserved: losing npm stops it as SIGTERM would, losing the terminal as SIGHUP would.
const lifeline = watchLifeline((lost) =>
  lost === 'parent' ? stop('SIGTERM', 'npm, which started it, has exited; stopping') : stop('SIGHUP', 'the terminal has closed; stopping'),
);

// Out of memory or address space (a native library, a thread, an allocation): one line, not a
// stack. A native module that fails to load also rejects a promise of Node's ESM loader that
// nobody holds: the same error, reported once.
let reported = false;
function reportOutOfMemory(e: unknown): boolean {
  const oom = outOfMemoryError(e);
  if (!oom) return false;
  if (!reported) {
    clearProgressLine();
    process.stderr.write(`error: ${oom.message}\n`);
  }
  reported = true;
  process.exitCode = 1;
  return true;
}
process.on('unhandledRejection', (e) => {
  if (!reportOutOfMemory(e)) throw e;
});
try {
  process.exitCode = await main(process.argv.slice(2));
} catch (e) {
  if (!reportOutOfMemory(e)) throw e;
}
lifeline.stop();
for (const s of signals) process.off(s, onSignal);
