// `npm run experiments [-- flags]`: regenerates docs/results.md from scratch (see src/cli/experiments.ts).
import { experimentsCommand } from './lib/experiments.ts';
import { CompactError } from '../src/errors.ts';

try {
  process.exitCode = await experimentsCommand(process.argv.slice(2));
} catch (e) {
  if (!(e instanceof CompactError)) throw e;
  console.error(`error: ${e.message}`);
  process.exitCode = 1;
}
