/**
 * Projection of a prune's memory and time from the per-layer figures measured on one shape (the
 * 8B bench) to a larger shape (70B), on paper: what the layer-streamed design predicts, not a run.
 *
 * Model of the calibration pass (from runner.ts/weights.ts):
 * - memory = base (node + onnxruntime + sessions, measured after open)
 *          + one layer's weights in f32 (LayerLoader's f32 set: the layer computing)
 *          + one layer's weights as stored (its raw set: the next layer, read ahead; bf16 = 2 bytes)
 *          + activations, which scale with tokens × intermediate size (gate, up, act, act² are the
 *            largest: [T, I] each) — taken as the measured remainder scaled by I_to / I_from;
 * - time per layer = the measured per-layer wall time scaled by the layer's parameter ratio (both
 *   the read + bf16→f32 conversion and the projection FLOPs are linear in parameters; attention
 *   FLOPs grow with heads × head_dim, a smaller share at 512 tokens, so this slightly overestimates).
 */
import type { RandomModelShape } from './random-model.ts';

export function layerParams(m: RandomModelShape): number {
  const D = m.hidden;
  return 2 * D * m.heads * m.headDim + 2 * D * m.kvHeads * m.headDim + 3 * D * m.intermediate;
}

export function checkpointBytes(m: RandomModelShape, bytesPerParam = 2): number {
  return bytesPerParam * (m.vocab * m.hidden * (m.tied ? 1 : 2) + m.layers * layerParams(m));
}

export interface Measured {
  /** RSS after Engine.open, MiB. */
  openRssMiB: number;
  /** Peak RSS of the calibration pass, MiB. */
  forwardMaxRssMiB: number;
  /** Median wall time of one layer in the calibration pass, ms. */
  layerMs: number;
  /** Median time to read + convert one layer, ms. */
  loadMs: number;
  /** Whole prune of the measured shape: wall seconds, calibration seconds. */
  pruneWallSeconds: number;
  calibrationSeconds: number;
}

export interface Projection {
  layerParams: number;
  layerF32GiB: number;
  /** The f32 set + the raw read-ahead set. */
  weightSetsGiB: number;
  activationsGiB: number;
  calibrationPeakRssGiB: number;
  layerSeconds: number;
  loadSeconds: number;
  calibrationMinutes: number;
  /** Everything but calibration (tokenizing, reading + slicing + writing the checkpoint), scaled by checkpoint bytes. */
  restMinutes: number;
  totalMinutes: number;
  checkpointGB: number;
  /** Largest single tensor the writer holds at once: the kept rows of the embedding (bf16). */
  largestTensorGiB: (keptVocabFraction: number) => number;
}

/** Bytes of weight memory per layer parameter: the f32 set + the read-ahead set in the stored dtype. */
export function weightBytesPerParam(storedBytes = 2): number {
  return 4 + storedBytes;
}

export function project(from: RandomModelShape, to: RandomModelShape, m: Measured): Projection {
  const pFrom = layerParams(from);
  const pTo = layerParams(to);
  const r = pTo / pFrom;
  const gib = 2 ** 30;
  const mib = 2 ** 20;
  const perParam = weightBytesPerParam();
  const setsFrom = (pFrom * perParam) / mib;
  const actFrom = Math.max(0, m.forwardMaxRssMiB - m.openRssMiB - setsFrom);
  const actTo = actFrom * (to.intermediate / from.intermediate);
  const layerSeconds = (m.layerMs / 1000) * r;
  const calibrationSeconds = (m.calibrationSeconds / from.layers) * r * to.layers;
  const rest = (m.pruneWallSeconds - m.calibrationSeconds) * (checkpointBytes(to) / checkpointBytes(from));
  return {
    layerParams: pTo,
    layerF32GiB: (pTo * 4) / gib,
    weightSetsGiB: (pTo * perParam) / gib,
    activationsGiB: actTo / 1024,
    calibrationPeakRssGiB: (m.openRssMiB + (pTo * perParam) / mib + actTo) / 1024,
    layerSeconds,
    loadSeconds: (m.loadMs / 1000) * r,
    calibrationMinutes: calibrationSeconds / 60,
    restMinutes: rest / 60,
    totalMinutes: (calibrationSeconds + rest) / 60,
    checkpointGB: checkpointBytes(to) / 1e9,
    largestTensorGiB: (f) => (2 * Math.round(f * to.vocab) * to.hidden) / gib,
  };
}
