/** onnxruntime session options shared by every session the engine creates. */
import { availableParallelism } from 'node:os';
import type ort from 'onnxruntime-node';

/**
 * `memArena`: keep onnxruntime's CPU arena. Off by default: without it an activation buffer goes
 * back to the OS when its last reader is done (large blocks are mmap'ed), where the arena keeps
 * every session's high-water mark, grown in power-of-two extensions — 178 MiB of the 8B-shaped
 * calibration pass's peak, at the same speed (docs/performance.md §3). The KV decoder keeps it:
 * it runs thousands of small steps and is not where a prune's peak is. Allocation never changes
 * a computed value.
 */
export function sessionOptions(opts: { device?: 'cpu' | 'webgpu'; threads?: number; memArena?: boolean } = {}): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: opts.device === 'webgpu' ? ['webgpu', 'cpu'] : ['cpu'],
    intraOpNumThreads: opts.threads ?? availableParallelism(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Fatal only: an error reaches us as the rejected call's message; logged as well, it would be
    // a second, coloured line on stderr (e.g. an allocation failing under ulimit -v).
    logSeverityLevel: 4,
    enableCpuMemArena: opts.memArena ?? false,
  };
}
