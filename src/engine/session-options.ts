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
    logSeverityLevel: 3,
  };
}
