#!/usr/bin/env node
// The `compact` command (package.json "bin"): compiled to dist/cli/bin.js, so a call spends its
// time on the work rather than on compiling TypeScript.
import { main } from './main.ts';
import { watchLifeline } from './lifeline.ts';

// Ctrl-C, kill and a closed terminal: one line and the conventional status 128 + signal rather
// than a silent death. Outputs are built in temporary folders (src/io/atomic-dir.ts) whose exit
// handler removes them, so nothing is left. Removed once the command has finished: its output
// may be in place by then.
const STATUS = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;
type Stop = keyof typeof STATUS;
function stop(signal: Stop, why: string): void {
  process.stderr.write(`compact: ${why}; no output written\n`);
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

process.exitCode = await main(process.argv.slice(2));
lifeline.stop();
for (const s of signals) process.off(s, onSignal);
