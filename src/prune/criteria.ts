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

/** Per layer, the L2 norms of one FFN tensor's rows (`axis` 0) or columns (`axis` 1), in float64. */
export async function ffnNorms(ckpt: Checkpoint, spec: ModelSpec, role: TensorRole, layer: number): Promise<Float64Array> {
  const t = layerPlan(spec, layer).find((p) => p.role === role);
  if (!t) throw new Error(`no ${role} tensor in layer ${layer}`);
  const data = await ckpt.readFloat32(t.name);
  const I = spec.intermediate;
  const out = new Float64Array(I);
  if (role === 'down') {
    // [D, I]: channel j is column j.
    const D = t.shape[0]!;
    for (let r = 0; r < D; r++) {
      const o = r * I;
      for (let j = 0; j < I; j++) out[j]! += data[o + j]! * data[o + j]!;
    }
  } else {
    // gate/up [I, D]: channel j is row j.
    const D = t.shape[1]!;
    for (let j = 0; j < I; j++) {
      let s = 0;
      for (let i = j * D; i < (j + 1) * D; i++) s += data[i]! * data[i]!;
      out[j] = s;
    }
  }
  for (let j = 0; j < I; j++) out[j] = Math.sqrt(out[j]!);
  return out;
}

/** magnitude: ‖gate row‖·‖up row‖·‖down column‖ per channel, per layer. */
export async function magnitudeScores(ckpt: Checkpoint, spec: ModelSpec): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (let l = 0; l < spec.layers; l++) {
    const g = await ffnNorms(ckpt, spec, 'gate', l);
    const u = await ffnNorms(ckpt, spec, 'up', l);
    const d = await ffnNorms(ckpt, spec, 'down', l);
    out.push(g.map((x, j) => x * u[j]! * d[j]!));
  }
  return out;
}

/** wanda-sp: ‖W_down[:, j]‖₂ · sqrt(Σ_t a_tj²), from act² over all calibration tokens. */
export async function wandaSpScores(ckpt: Checkpoint, spec: ModelSpec, act2All: Float64Array[]): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (let l = 0; l < spec.layers; l++) {
    const d = await ffnNorms(ckpt, spec, 'down', l);
    out.push(d.map((x, j) => x * Math.sqrt(act2All[l]![j]!)));
  }
  return out;
}

/** random: uniform scores in [0, 1), layer after layer from one seeded stream. */
export function randomScores(spec: ModelSpec, seed: number): Float64Array[] {
  if (!Number.isInteger(seed)) throw new CompactError(`--seed must be an integer, got ${seed}`);
  const next = mulberry32(seed);
  return Array.from({ length: spec.layers }, () => Float64Array.from({ length: spec.intermediate }, next));
}
