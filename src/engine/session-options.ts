/** onnxruntime session options shared by every session the engine creates. */
import { availableParallelism } from 'node:os';
import type ort from 'onnxruntime-node';

export function sessionOptions(opts: { device?: 'cpu' | 'webgpu'; threads?: number } = {}): ort.InferenceSession.SessionOptions {
  return {
    executionProviders: opts.device === 'webgpu' ? ['webgpu', 'cpu'] : ['cpu'],
    intraOpNumThreads: opts.threads ?? availableParallelism(),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    // Fatal only: an error reaches us as the rejected call's message; logged as well, it would be
    // a second, coloured line on stderr (e.g. an allocation failing under ulimit -v).
    logSeverityLevel: 4,
  };
}
