/** onnxruntime session options shared by every session the engine creates. */
import { availableParallelism } from 'node:os';
import type ort from './ort.ts';
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
 * `memArena`: onnxruntime's CPU arena, on unless turned off. Without it every activation buffer
 * above glibc's mmap threshold (at most 32 MiB) is mapped fresh by each run and zero-filled by the
 * kernel page by page: the 235 MB attention-probability buffer of a 2,048-token window at the
 * Qwen2.5-0.5B shape made calibration 2.0× slower (docs/performance.md §1c). The arena keeps one
 * run's high-water mark instead; the FFN runs in row blocks (layer-graph.ts ffnRowBlock), so
 * that mark is small, and with both the 8B-shaped pass peaks no higher than without either.
 * Allocation never changes a computed value.
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
    enableCpuMemArena: opts.memArena ?? true,
  };
}
