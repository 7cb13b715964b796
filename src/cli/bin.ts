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
function onSignal(signal: keyof typeof STATUS): void {
  process.stderr.write(`compact: ${signal === 'SIGINT' ? 'interrupted' : `stopped by ${signal}`}; no output written\n`);
  process.exit(STATUS[signal]);
}
const signals = Object.keys(STATUS) as Array<keyof typeof STATUS>;
for (const s of signals) process.once(s, onSignal);
// Through `npx` the process that received the signal may die without passing it on (npm 11 on
// SIGTERM/SIGHUP): losing the parent is taken as that signal.
const lifeline = watchLifeline(() => process.kill(process.pid, 'SIGTERM'));

process.exitCode = await main(process.argv.slice(2));
lifeline.stop();
for (const s of signals) process.off(s, onSignal);
