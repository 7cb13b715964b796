/**
 * Child process of the benches: one `pruneModel` run, so its peak RSS (maxRSS) is the prune's
 * alone. Prints one JSON line (`PruneRun`). Run through `pruneInChild` in common.ts.
 *
 *   node --import tsx bench/prune-child.ts '<PruneChildOptions as JSON>'
 */
import { readFileSync } from 'node:fs';
import { pruneModel } from '../src/prune/prune.ts';
import { progressPrinter } from '../src/report/progress-events.ts';
import { peakRssMiB, reply, type PruneChildOptions, type PruneRun } from './common.ts';

const o = JSON.parse(process.argv[2]!) as PruneChildOptions;
const t0 = performance.now();
const r = await pruneModel({
  model: o.model,
  out: o.out,
  ...(o.ratio !== undefined ? { ratio: o.ratio } : { vocab: o.vocab, ffn: o.ffn }),
  calib: o.calib,
  calibTokens: o.calibTokens,
  seqLen: o.seqLen,
  allowShortCalib: o.allowShort,
  threads: o.threads,
  maxShardBytes: o.maxShardBytes,
  onProgress: o.progress ? progressPrinter() : undefined,
  reconstruct: o.reconstruct,
  calibPrecision: o.calibPrecision,
});
const run: PruneRun = {
  wallSeconds: (performance.now() - t0) / 1000,
  calibrationSeconds: r.run.calibration_seconds,
  calibrationTokensPerSecond: r.run.calibration_tokens_per_second,
  maxRssMiB: peakRssMiB(),
  // CPU time of this process (all threads): on a shared machine it says more than wall time does.
  cpuSeconds: (process.resourceUsage().userCPUTime + process.resourceUsage().systemCPUTime) / 1e6,
  reduction: r.params.reduction,
  vocab: r.vocab.kept,
  ffn: r.ffn.intermediate_after,
  calibTokens: r.calibration?.tokens ?? 0,
  plannerSeconds: r.planner?.seconds,
  plannerPasses: r.planner?.passes,
  plannerCandidates: r.planner?.candidates.length,
  bytesWritten: writtenBytes(),
};

/** wchar of /proc/self/io (Linux): every byte this process passed to write(2), files and pipes alike. */
function writtenBytes(): number | undefined {
  try {
    const m = /^wchar:\s*(\d+)/m.exec(readFileSync('/proc/self/io', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}
reply(run);
