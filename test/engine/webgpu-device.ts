/**
 * Whether onnxruntime's WebGPU provider has an adapter here, for the tests that run `--device
 * webgpu`. On a CPU-only machine the adapter is Mesa's lavapipe (software Vulkan, Mesa ≥ 25;
 * `.ci/run` installs it). Without one those tests skip with the reason, unless
 * COMPACT_WEBGPU_REQUIRED=1 (set by `.ci/run` once the driver is installed): then a missing
 * adapter is a failure, so CI cannot pass by skipping them.
 */
import { Engine } from '../../src/engine/runner.ts';
import { shared } from '../helpers/paths.ts';

// lavapipe compiles every WGSL shader with LLVM at its vector width (256 bits by default here);
// at 128 bits the WebGPU tests took 12.2 s of CPU instead of 17.6 with Mesa's shader cache empty
// (docs/reliability.md §9). It changes nothing a test checks: same IEEE f32 arithmetic, narrower
// SIMD. Read when the driver loads, so it is set before the first WebGPU session.
process.env.LP_NATIVE_VECTOR_WIDTH ??= '128';

export const WEBGPU_REQUIRED = process.env.COMPACT_WEBGPU_REQUIRED === '1';

/** null when an adapter exists; else why not (the engine's one-line error). */
async function probe(): Promise<string | null> {
  try {
    const e = await Engine.open(shared('fixtures/hf-golden', 'llama3', 'model'), { device: 'webgpu', threads: 1 });
    await e.close();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

const missing = await probe();

/**
 * `skip` option for a WebGPU test: false when it can run (or must: COMPACT_WEBGPU_REQUIRED=1,
 * where the test then fails on the engine's error), else the reason.
 */
export const webgpuSkip: string | false =
  missing === null || WEBGPU_REQUIRED
    ? false
    : `no WebGPU adapter (${missing}); install Mesa ≥ 25's lavapipe (mesa-vulkan-drivers from bookworm-backports, as .ci/run does) to run it`;
