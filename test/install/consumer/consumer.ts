/**
 * A user's script against the installed package: type-checked by plain tsc (strict, NodeNext)
 * and run by plain node in a folder holding only the tarball's production install. Prints one
 * JSON line for install.test.ts to check.
 *
 *   node consumer.js <model-dir> <out-dir> <calib-file>
 */
import { CompactError, inspectModel, pruneModel, type ProgressEvent, type PruneReport } from 'compact-llm';

const [model, out, calib] = process.argv.slice(2) as [string, string, string];
const info = await inspectModel(model);
const events: ProgressEvent[] = [];
const report: PruneReport = await pruneModel({ model, out, vocab: 30000, ffn: 855, calib, calibTokens: 256, seqLen: 64, threads: 1, onProgress: (e) => events.push(e) });
let ratioError = '';
try {
  await pruneModel({ model, out: `${out}-bad`, ratio: 2 });
} catch (e) {
  if (!(e instanceof CompactError)) throw e;
  ratioError = e.message;
}
const steps = events.filter((e): e is Extract<ProgressEvent, { kind: 'step' }> => e.kind === 'step');
console.log(JSON.stringify({
  family: info.family,
  totalParams: info.total_params,
  kept: report.vocab.kept,
  ffn: report.ffn.intermediate_after,
  calibrateSteps: steps.filter((e) => e.stage === 'calibrate').map((e) => `${e.done}/${e.total}`),
  messages: events.filter((e) => e.kind === 'message').length,
  ratioError,
}));
