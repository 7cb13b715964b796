/**
 * The refit of every layer's down_proj for one cut: reads that layer's G from the GramStore and
 * its dense down_proj from the checkpoint when the writer asks for the tensor, so one layer's
 * G (one row block of it, see gram-store.ts) and weights are in memory at a time. The per-layer outcome is kept for the report.
 */
import type { Gemm } from '../engine/gemm.ts';
import { layerPlan } from '../engine/weights.ts';
import type { ModelSpec } from '../families/types.ts';
import type { Checkpoint } from '../io/safetensors.ts';
import type { GramStore } from './gram-store.ts';
import { refitDown } from './refit.ts';

export interface LayerRefitReport {
  layer: number;
  /** Calibration objective Σ‖W x − W̃ x_S‖² / Σ‖W x‖² with the plain slice and with the refit. */
  loss_plain: number;
  loss_refit: number;
  /** Why this layer kept the plain slice, or null when it was refit. */
  fallback: string | null;
}

export interface RefitReport {
  ridge: number;
  /** G is summed over every calibration position (one G per layer serves every cut). */
  gram_positions: 'all';
  layers: LayerRefitReport[];
}

export class CutRefit {
  readonly layers: LayerRefitReport[] = [];
  constructor(
    readonly ckpt: Checkpoint,
    readonly spec: ModelSpec,
    readonly store: GramStore,
    readonly channels: Int32Array[],
    readonly ridge: number,
    /** Per layer Σ_t ‖W x_t‖², shared by every cut of a run (it does not depend on the cut). */
    readonly energy: Map<number, number> = new Map(),
    /** The solve's f64 GEMM, shared by every cut of a run (its owner closes it). */
    readonly gemm: Gemm<'float64'>,
  ) {}

  /** For the writer's `downRefit`: the refit columns of `layer`, or null where the plain slice stays. */
  readonly weights = async (layer: number): Promise<Float32Array | null> => {
    const t = layerPlan(this.spec, layer).find((p) => p.role === 'down')!;
    const [H, I] = t.shape as [number, number];
    const w = await this.ckpt.readFloat32(t.name);
    const r = await refitDown(w, H, I, this.store.rows(layer), this.channels[layer]!, this.ridge, { denseEnergy: this.energy.get(layer), gemm: this.gemm });
    this.energy.set(layer, r.denseEnergy);
    this.layers[layer] = { layer, loss_plain: r.lossPlain, loss_refit: r.lossRefit, fallback: r.fallback };
    return r.weight;
  };

  report(): RefitReport {
    return { ridge: this.ridge, gram_positions: 'all', layers: this.layers.filter((l) => l !== undefined) };
  }
}
