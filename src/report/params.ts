import { hasRole, layerShape, templateOf } from '../families/templates.ts';
import type { ModelSpec, TensorGroup } from '../families/types.ts';

/** Parameter counts by group, as the paper splits them (vocab 2VD or VD tied, FFN 3LDI, attention). */
export interface ParamBreakdown {
  total_params: number;
  embedding_params: number;
  attention_params: number;
  ffn_params: number;
  norm_params: number;
  vocab_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  /**
   * A MoE (Mixtral): experts per layer, experts per token, and the parameters one token goes
   * through (the router and top-k experts of each layer, everything outside the FFN). Every
   * expert counts toward total_params, so a reduction R is a share of all experts' parameters.
   */
  moe?: { experts: number; experts_per_token: number; expert_params: number; router_params: number; active_params: number };
}

export interface Shape {
  vocab?: number;
  intermediate?: number;
  layers?: number;
}

/** Counts from the config alone, by formula: what a checkpoint of this spec (optionally reshaped) holds. */
export function countParams(spec: ModelSpec, shape: Shape = {}): ParamBreakdown {
  const V = shape.vocab ?? spec.vocabSize;
  const I = shape.intermediate ?? spec.intermediate;
  const L = shape.layers ?? spec.layers;
  const D = spec.hidden;
  const q = spec.heads * spec.headDim;
  const kv = spec.kvHeads * spec.headDim;
  const embedding = V * D * (spec.tied ? 1 : 2);
  // The paper's 2LD²(1+1/H) assumes head_dim = D/H and a particular KV sharing; counting q, k, v, o
  // and their biases from the real head_dim and KV heads is exact for every family.
  const attnPerLayer = 2 * D * q + 2 * D * kv + (spec.biases.qkv ? q + 2 * kv : 0) + (spec.biases.o ? D : 0);
  const E = spec.moe?.experts ?? 1;
  const perExpert = 3 * D * I + (spec.biases.mlp ? 2 * I + D : 0);
  const routerPerLayer = spec.moe ? E * D : 0;
  const ffnPerLayer = E * perExpert + routerPerLayer;
  const normsPerLayer = spec.family.layer.filter((t) => t.place).length * D
    + (hasRole(spec.family, 'q_norm') ? layerShape(spec, 'q_norm')[0]! + layerShape(spec, 'k_norm')[0]! : 0);
  const attention = L * attnPerLayer;
  const ffn = L * ffnPerLayer;
  const norm = L * normsPerLayer + D;
  const total = embedding + attention + ffn + norm;
  const moe = spec.moe && {
    experts: E,
    experts_per_token: spec.moe.topK,
    expert_params: L * perExpert,
    router_params: L * routerPerLayer,
    active_params: total - L * (E - spec.moe.topK) * perExpert,
  };
  return {
    total_params: total,
    embedding_params: embedding,
    attention_params: attention,
    ffn_params: ffn,
    norm_params: norm,
    vocab_size: V,
    intermediate_size: I,
    num_hidden_layers: L,
    ...(moe ? { moe } : {}),
  };
}

/** Group of a tensor name by the family's templates, or 'other' for names it does not declare. */
export function groupOf(spec: ModelSpec, name: string): TensorGroup | 'other' {
  return templateOf(spec.family, name)?.template.group ?? 'other';
}

export interface TensorCount { name: string; shape: number[] }

/** Counts from the checkpoint's actual tensors, grouped the same way, to cross-check the formulas. */
export function countTensors(spec: ModelSpec, tensors: TensorCount[]): Record<TensorGroup | 'other', number> & { total: number } {
  const out = { embedding: 0, attention: 0, ffn: 0, norm: 0, other: 0, total: 0 };
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    out[groupOf(spec, t.name)] += n;
    out.total += n;
  }
  return out;
}

export function reduction(before: ParamBreakdown, after: ParamBreakdown): number {
  return 1 - after.total_params / before.total_params;
}
