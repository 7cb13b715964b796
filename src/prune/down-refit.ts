/**
 * The refit of every layer's down_proj for one cut: reads that layer's G from the GramStore and
 * its dense down_proj from the checkpoint when the writer asks for the tensor, so one layer's
 * G (I² float64) and weights are in memory at a time. A MoE refits each expert's down_proj (w2)
 * on its own G, over the tokens routed to it (weighted by their routing weights), with that
 * expert's kept channels, one expert at a time. The per-layer (per-expert) outcome is kept for the report.
 */
import { layerPlan } from '../engine/weights.ts';
import { expertCount, roleName } from '../families/templates.ts';
import type { ModelSpec } from '../families/types.ts';
import type { Checkpoint } from '../io/safetensors.ts';
import { expertChannels } from './channel-select.ts';
import type { GramStore } from './gram-store.ts';
import { outputEnergy, refitDown } from './refit.ts';

export interface LayerRefitReport {
  layer: number;
  /** A MoE's expert (each has its own entry); absent for a dense FFN. */
  expert?: number;
  /** Calibration objective Σ‖W x − W̃ x_S‖² / Σ‖W x‖² with the plain slice and with the refit. */
  loss_plain: number;
  loss_refit: number;
  /** Why this layer (expert) kept the plain slice, or null when it was refit. */
  fallback: string | null;
}

export interface RefitReport {
  ridge: number;
  /**
   * G is summed over every calibration position (one G per layer serves every cut); a MoE's
   * expert G over every position routed to that expert, each input scaled by the token's routing
   * weight for the expert (so an expert's losses are shares of its contribution to the block output).
   */
  gram_positions: 'all';
  /** Layer by layer (a MoE: expert by expert within a layer). */
  layers: LayerRefitReport[];
}

export class CutRefit {
  readonly #entries = new Map<number, LayerRefitReport>();
  constructor(
    readonly ckpt: Checkpoint,
    readonly spec: ModelSpec,
    readonly store: GramStore,
    /** Per layer, the kept channels over the FFN channel space (a MoE's expert e at e·I + j). */
    readonly channels: Int32Array[],
    readonly ridge: number,
    /** Per layer (layer·experts + expert), Σ_t ‖W x_t‖², shared by every cut of a run (it does not depend on the cut). */
    readonly energy: Map<number, number> = new Map(),
  ) {}

  /**
   * For the writer's `downRefit`: the refit columns of `layer`'s down_proj (`expert`'s, for a MoE),
   * or null where the plain slice stays.
   */
  readonly weights = async (layer: number, expert?: number): Promise<Float32Array | null> => {
    const spec = this.spec;
    const E = expertCount(spec);
    if (spec.moe && expert === undefined) throw new Error(`layer ${layer}: a mixture of experts refits each expert's down_proj; name the expert`);
    const e = expert ?? 0;
    const I = spec.intermediate;
    let name: string;
    let H: number;
    if (spec.moe) {
      name = roleName(spec.family, 'expert_down', layer, e);
      H = spec.hidden;
    } else {
      const t = layerPlan(spec, layer).find((p) => p.role === 'down')!;
      name = t.name;
      H = t.shape[0]!;
    }
    const channels = spec.moe ? expertChannels(this.channels[layer]!, e, I) : this.channels[layer]!;
    const w = await this.ckpt.readFloat32(name);
    const gram = await this.store.get(layer, e);
    const key = layer * E + e;
    let dense = this.energy.get(key);
    if (dense === undefined) this.energy.set(key, (dense = outputEnergy(w, H, I, gram)));
    const entry = (r: Omit<LayerRefitReport, 'layer' | 'expert'>): LayerRefitReport => (spec.moe ? { layer, expert: e, ...r } : { layer, ...r });
    if (spec.moe && !hasPositions(gram, I)) {
      // The solve would fall back too (G = 0 is not positive definite); say why in plain words.
      this.#entries.set(key, entry({ loss_plain: 0, loss_refit: 0, fallback: 'no calibration position was routed to this expert' }));
      return null;
    }
    const r = refitDown(w, H, I, gram, channels, this.ridge, dense);
    this.#entries.set(key, entry({ loss_plain: r.lossPlain, loss_refit: r.lossRefit, fallback: r.fallback }));
    return r.weight;
  };

  report(): RefitReport {
    const layers = [...this.#entries].sort((a, b) => a[0] - b[0]).map(([, v]) => v);
    return { ridge: this.ridge, gram_positions: 'all', layers };
  }
}

/** "layer 3", or "layer 3 expert 5" for a MoE's entry. */
export function refitUnit(l: LayerRefitReport): string {
  return l.expert === undefined ? `layer ${l.layer}` : `layer ${l.layer} expert ${l.expert}`;
}

/** What the entries count: "layers", or "experts" for a MoE. */
export function refitUnits(r: RefitReport): string {
  return r.layers.some((l) => l.expert !== undefined) ? 'experts' : 'layers';
}

/** Whether any position reached this G: its trace Σ_t ‖x_t‖² is positive. */
function hasPositions(gram: Float64Array, I: number): boolean {
  for (let i = 0; i < I; i++) if (gram[i * I + i]! > 0) return true;
  return false;
}
