/** onnxruntime session options shared by every session the engine creates. */
import { availableParallelism } from 'node:os';
import type ort from 'onnxruntime-node';
import { ATTENTION_NODE } from './decoder-layer.ts';

/**
 * The WebGPU provider, with attention kept on the CPU provider. onnxruntime 1.30's WebGPU
 * GroupQueryAttention takes a subgroup flash-attention path for prompts of ≥ 32 tokens (on
 * adapters other than NVIDIA and Apple, which take a shared-memory path); on Mesa's lavapipe it
 * returns wrong rows from the subgroup size on (row 4, 8 or 16 at 128-, 256- or 512-bit vectors:
 * 1e-2–2.5e-1 relative on the golden fixtures), while shorter prompts and sliding-window layers,
 * which take the plain path, match the CPU to 1e-7. Whether real GPUs of the other vendors are
 * hit cannot be checked from here, so attention runs where it is known to be right
 * (docs/reliability.md §9). Everything else in the layer and head graphs has a WebGPU kernel
 * (projections included: layer-graph.ts emits them as Transpose + MatMul for WebGPU) but the
 * shape arithmetic onnxruntime itself places on the CPU.
 */
const WEBGPU: ort.InferenceSession.WebGpuExecutionProviderOption = { name: 'webgpu', forceCpuNodeNames: [ATTENTION_NODE] };

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
    executionProviders: opts.device === 'webgpu' ? [WEBGPU, 'cpu'] : ['cpu'],
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
