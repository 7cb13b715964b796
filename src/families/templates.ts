/**
 * Reading a family descriptor: which template a role or a checkpoint name is, what a layer's
 * tensors are called and shaped for a config, and the one place the (1+w) norm convention is
 * turned into plain weights. Every module that needs family knowledge asks here.
 */
import type { FamilyDescriptor, ModelSpec, NormPlace, TensorRole, TensorTemplate } from './types.ts';

/** Tensor name of a template for layer i (and expert e of a per-expert template). */
export function tensorName(t: TensorTemplate, layer?: number, expert?: number): string {
  const n = layer === undefined ? t.name : t.name.replace('{i}', String(layer));
  return expert === undefined ? n : n.replace('{e}', String(expert));
}

/** Experts per layer: the MoE's count, 1 for a dense FFN. */
export function expertCount(spec: ModelSpec): number {
  return spec.moe?.experts ?? 1;
}

/**
 * Width of a layer's FFN channel space: I for a dense FFN, experts·I for a MoE (channel j of
 * expert e at e·I + j). act² vectors and kept-channel lists live in this space.
 */
export function ffnWidth(spec: ModelSpec): number {
  return expertCount(spec) * spec.intermediate;
}

/** The template of a role (layer templates first, then globals), or null when the family has none. */
export function findTemplate(fam: FamilyDescriptor, role: TensorRole): TensorTemplate | null {
  return fam.layer.find((t) => t.role === role) ?? fam.globals.find((t) => t.role === role) ?? null;
}

/** The template of a role the caller knows the family has. */
export function templateFor(fam: FamilyDescriptor, role: TensorRole): TensorTemplate {
  const t = findTemplate(fam, role);
  if (!t) throw new Error(`family ${fam.name} has no template for ${role}`);
  return t;
}

/** Checkpoint name of a role: a global's name, or layer `layer`'s (expert `expert`'s). */
export function roleName(fam: FamilyDescriptor, role: TensorRole, layer?: number, expert?: number): string {
  return tensorName(templateFor(fam, role), layer, expert);
}

export function hasRole(fam: FamilyDescriptor, role: TensorRole): boolean {
  return fam.layer.some((t) => t.role === role);
}

/** The template a checkpoint tensor instantiates, its layer and expert index; null for names the family does not declare. */
export function templateOf(fam: FamilyDescriptor, name: string): { template: TensorTemplate; layer?: number; expert?: number } | null {
  for (const t of fam.globals) if (t.name === name) return { template: t };
  const m = /^model\.layers\.(\d+)\./.exec(name);
  if (!m) return null;
  const generic = name.replace(`model.layers.${m[1]}.`, 'model.layers.{i}.');
  for (const t of fam.layer) if (!t.perExpert && t.name === generic) return { template: t, layer: Number(m[1]) };
  const e = /\.experts\.(\d+)\./.exec(generic);
  if (e) {
    const perExpert = generic.replace(`.experts.${e[1]}.`, '.experts.{e}.');
    for (const t of fam.layer) if (t.perExpert && t.name === perExpert) return { template: t, layer: Number(m[1]), expert: Number(e[1]) };
  }
  return null;
}

/** The layer norm applied at `place`, or null where the family has none. */
export function normAt(fam: FamilyDescriptor, place: NormPlace): TensorRole | null {
  return fam.layer.find((t) => t.place === place)?.role ?? null;
}

export function isNormRole(role: TensorRole): boolean {
  return role.endsWith('_norm');
}

/**
 * Norm weights as the multiplier they are: (1+w) families store offsets from 1, and every
 * consumer (our graphs, llama.cpp, the ONNX export) wants the 1 added, in f32 as transformers
 * adds it. In place; returns `data`.
 */
export function foldNormWeight(fam: FamilyDescriptor, data: Float32Array): Float32Array {
  if (fam.norm === 'rms-plus-one') for (let i = 0; i < data.length; i++) data[i] = data[i]! + 1;
  return data;
}

/** Shape of a layer weight as the graph takes it: per-expert tensors stacked [experts, …]. */
export function stackedShape(spec: ModelSpec, role: TensorRole): number[] {
  const t = templateFor(spec.family, role);
  return t.perExpert ? [expertCount(spec), ...layerShape(spec, role)] : layerShape(spec, role);
}

/** Expected shape of each layer tensor of a config (one expert's, for per-expert tensors), for validation and for graph declarations. */
export function layerShape(spec: ModelSpec, role: TensorRole): number[] {
  const { hidden: D, heads, kvHeads, headDim: H, intermediate: I } = spec;
  const perHead = (spec.family.qkNormScope ?? 'head') === 'head';
  switch (role) {
    case 'input_norm':
    case 'post_attn_norm':
    case 'pre_ffn_norm':
    case 'post_ffn_norm':
    case 'o_bias':
    case 'down_bias':
      return [D];
    case 'q':
      return [heads * H, D];
    case 'k':
    case 'v':
      return [kvHeads * H, D];
    case 'qkv':
      return [(heads + 2 * kvHeads) * H, D];
    case 'o':
      return [D, heads * H];
    case 'q_bias':
      return [heads * H];
    case 'k_bias':
    case 'v_bias':
      return [kvHeads * H];
    case 'q_norm':
      return [perHead ? H : heads * H];
    case 'k_norm':
      return [perHead ? H : kvHeads * H];
    case 'gate':
    case 'up':
    case 'expert_gate':
    case 'expert_up':
      return [I, D];
    case 'router':
      return [expertCount(spec), D];
    case 'gate_up':
      return [2 * I, D];
    case 'down':
    case 'expert_down':
      return [D, I];
    case 'gate_bias':
    case 'up_bias':
      return [I];
    default:
      throw new Error(`${role} is not a layer tensor`);
  }
}
