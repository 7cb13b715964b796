/**
 * FFN channel importance criteria: COMPACT's act²-common and the baselines it is compared with.
 * Every criterion returns, per layer, one score per channel (higher = keep); `topChannels` then
 * keeps the I′ best, so all criteria produce the same kind of standard, sliced checkpoint.
 *
 *  - act2-common  Σ_t m_t·a_tj² where a = act(gate)·up (the input of down_proj) and m_t = 1 iff
 *                 token t survives the vocabulary cut (COMPACT, arXiv 2509.06836).
 *  - act2-all     Σ_t a_tj² over every calibration token (no common-token weighting).
 *  - magnitude    ‖W_gate[j, :]‖₂ · ‖W_up[j, :]‖₂ · ‖W_down[:, j]‖₂: data-free, the product of
 *                 the norms of the three weight vectors that exist only for channel j.
 *  - wanda-sp     ‖W_down[:, j]‖₂ · sqrt(Σ_t a_tj²) (over every calibration token): Wanda's
 *                 |W|·‖X‖ score for the structured unit "input column j of down_proj", as FLAP
 *                 and Wanda-sp score FFN channels.
 *  - random       uniform scores from a seeded generator: the floor any criterion must beat.
 */
import { CompactError } from '../errors.ts';
import type { ModelSpec, TensorRole } from '../families/types.ts';
import type { Checkpoint } from '../io/safetensors.ts';
import { ffnWidth, templateFor } from '../families/templates.ts';
import { layerPlan } from '../engine/weights.ts';
import { mulberry32 } from '../random.ts';

export const FFN_CRITERIA = ['act2-common', 'act2-all', 'magnitude', 'wanda-sp', 'random'] as const;
export type FfnCriterion = (typeof FFN_CRITERIA)[number];

export function parseCriterion(value: string | undefined): FfnCriterion {
  const c = value ?? 'act2-common';
  if (!(FFN_CRITERIA as readonly string[]).includes(c)) throw new CompactError(`--ffn-criterion must be one of ${FFN_CRITERIA.join(', ')}, got ${c}`);
  return c as FfnCriterion;
}

/** Which act² statistic a criterion needs from the calibration pass, if any. */
export function act2Needed(c: FfnCriterion): 'common' | 'all' | null {
  if (c === 'act2-common') return 'common';
  if (c === 'act2-all' || c === 'wanda-sp') return 'all';
  return null;
}

/**
 * The L2 norm of each slice of one FFN tensor along its declared FFN axis (rows of gate/up,
 * columns of down), in float64: `ffnBlocks · I` values, block after block (Phi-3's gate_up_proj:
 * the gate rows' norms, then the up rows').
 */
export async function ffnNorms(ckpt: Checkpoint, spec: ModelSpec, role: TensorRole, layer: number): Promise<Float64Array> {
  const t = layerPlan(spec, layer).find((p) => p.role === role);
  const axis = templateFor(spec.family, role).ffnAxis;
  if (!t || axis === undefined) throw new Error(`no FFN tensor ${role} in layer ${layer}`);
  // Per-expert tensors: expert after expert, the FFN channel space's order (e·I + j).
  if (t.parts) {
    const each: Float64Array[] = [];
    for (const name of t.parts) each.push(await tensorNorms(ckpt, name, t.partShape as [number, number], axis));
    const out = new Float64Array(each.reduce((n, a) => n + a.length, 0));
    each.forEach((a, e) => out.set(a, e * a.length));
    return out;
  }
  return tensorNorms(ckpt, t.name, t.shape as [number, number], axis);
}

async function tensorNorms(ckpt: Checkpoint, name: string, shape: [number, number], axis: number): Promise<Float64Array> {
  const data = await ckpt.readFloat32(name);
  const [rows, cols] = shape;
  const out = new Float64Array(axis === 0 ? rows : cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    if (axis === 0) {
      let s = 0;
      for (let c = 0; c < cols; c++) s += data[o + c]! * data[o + c]!;
      out[r] = s;
    } else {
      for (let c = 0; c < cols; c++) out[c]! += data[o + c]! * data[o + c]!;
    }
  }
  for (let j = 0; j < out.length; j++) out[j] = Math.sqrt(out[j]!);
  return out;
}

/** The FFN weight matrices of a layer (each indexed by channel on its FFN axis). */
function ffnMatrices(spec: ModelSpec): TensorRole[] {
  return spec.layerRoles.filter((r) => !r.endsWith('_bias') && templateFor(spec.family, r).ffnAxis !== undefined);
}

/** magnitude: per channel, the product of the norms of every weight vector that exists only for it (gate row, up row, down column). */
export async function magnitudeScores(ckpt: Checkpoint, spec: ModelSpec): Promise<Float64Array[]> {
  const I = ffnWidth(spec);
  const out: Float64Array[] = [];
  for (let l = 0; l < spec.layers; l++) {
    const score = new Float64Array(I).fill(1);
    for (const role of ffnMatrices(spec)) {
      const n = await ffnNorms(ckpt, spec, role, l);
      for (let k = 0; k < n.length; k++) score[k % I]! *= n[k]!;
    }
    out.push(score);
  }
  return out;
}

/** wanda-sp: ‖W_down[:, j]‖₂ · sqrt(Σ_t a_tj²), from act² over all calibration tokens. */
export async function wandaSpScores(ckpt: Checkpoint, spec: ModelSpec, act2All: Float64Array[]): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (let l = 0; l < spec.layers; l++) {
    const d = await ffnNorms(ckpt, spec, spec.moe ? 'expert_down' : 'down', l);
    out.push(d.map((x, j) => x * Math.sqrt(act2All[l]![j]!)));
  }
  return out;
}

/** random: uniform scores in [0, 1), layer after layer from one seeded stream. */
export function randomScores(spec: ModelSpec, seed: number): Float64Array[] {
  if (!Number.isInteger(seed)) throw new CompactError(`--seed must be an integer, got ${seed}`);
  const next = mulberry32(seed);
  return Array.from({ length: spec.layers }, () => Float64Array.from({ length: ffnWidth(spec) }, next));
}
