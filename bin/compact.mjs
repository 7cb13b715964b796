#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so there is no build step to forget.
import { register } from 'tsx/esm/api';

// Ctrl-C: one line and the conventional status 130 rather than a silent death. Outputs are built
// in temporary folders (src/io/atomic-dir.ts) whose exit handler removes them, so nothing is left.
// Removed once the command has finished: its output may be in place by then.
// A progress bar may be mid-line: it is blanked first (set once the sources are loaded).
let clearProgressLine = () => {};
function onInterrupt() {
  clearProgressLine();
  process.stderr.write('compact: interrupted; no output written\n');
  process.exit(130);
}
process.once('SIGINT', onInterrupt);

register();
const cli = await import('../src/cli/main.ts');
clearProgressLine = cli.clearProgressLine;
const { main } = cli;
process.exitCode = await main(process.argv.slice(2));
process.off('SIGINT', onInterrupt);
