/**
 * What a model folder holds, by the paper's formulas and cross-checked against the tensors on
 * disk, with an optional what-if of a (V′, I′) cut. The library's `inspectModel`; the command's
 * table is cli/inspect.ts.
 */
import { openCheckpoint } from '../io/safetensors.ts';
import { readModelConfig } from '../families/model-config.ts';
import { countParams, countTensors, reduction, type ParamBreakdown } from '../report/params.ts';
import { UsageError } from '../errors.ts';
import type { ModelSpec } from '../families/types.ts';

export interface InspectReport {
  model: string;
  family: string;
  architecture: string;
  dtype: string | null;
  hidden_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  head_dim: number;
  intermediate_size: number;
  vocab_size: number;
  tie_word_embeddings: boolean;
  total_params: number;
  embedding_params: number;
  attention_params: number;
  ffn_params: number;
  norm_params: number;
  embedding_share: number;
  ffn_share: number;
  attention_share: number;
  checkpoint_bytes: number;
  /**
   * A MoE: experts per layer and per token, the parameters of one expert (all layers), of the
   * routers, and those one token goes through (active: top-k experts of each layer).
   */
  moe?: { experts: number; experts_per_token: number; params_per_expert: number; router_params: number; active_params: number };
  /** Counts summed from the tensors on disk; `agrees` says whether they match the formulas. */
  checkpoint: { total_params: number; embedding_params: number; attention_params: number; ffn_params: number; norm_params: number; other_params: number; agrees: boolean; disagreements: string[] };
  what_if?: { vocab_size: number; intermediate_size: number; after: ParamBreakdown; reduction: number };
}

export async function inspectModel(dir: string, whatIf?: { vocab?: number; ffn?: number }): Promise<InspectReport> {
  const { spec } = readModelConfig(dir);
  const ckpt = await openCheckpoint(dir);
  try {
    const infos = ckpt.names().map((n) => ckpt.info(n));
    const formula = countParams(spec);
    const actual = countTensors(spec, infos);
    const disagreements: string[] = [];
    const pairs: Array<[string, number, number]> = [
      ['embedding', formula.embedding_params, actual.embedding],
      ['attention', formula.attention_params, actual.attention],
      ['ffn', formula.ffn_params, actual.ffn],
      ['norm', formula.norm_params, actual.norm],
    ];
    for (const [k, f, a] of pairs) if (f !== a) disagreements.push(`${k}: config says ${f}, tensors hold ${a}`);
    if (actual.other) disagreements.push(`tensors outside the family's template: ${actual.other} params`);
    const report: InspectReport = {
      model: dir,
      family: spec.family.name,
      architecture: spec.architecture,
      dtype: dominantDtype(infos) ?? spec.dtype,
      hidden_size: spec.hidden,
      num_hidden_layers: spec.layers,
      num_attention_heads: spec.heads,
      num_key_value_heads: spec.kvHeads,
      head_dim: spec.headDim,
      intermediate_size: spec.intermediate,
      vocab_size: spec.vocabSize,
      tie_word_embeddings: spec.tied,
      total_params: formula.total_params,
      embedding_params: formula.embedding_params,
      attention_params: formula.attention_params,
      ffn_params: formula.ffn_params,
      norm_params: formula.norm_params,
      embedding_share: formula.embedding_params / formula.total_params,
      ffn_share: formula.ffn_params / formula.total_params,
      attention_share: formula.attention_params / formula.total_params,
      checkpoint_bytes: infos.reduce((a, t) => a + t.byteLength, 0),
      ...(formula.moe
        ? {
            moe: {
              experts: formula.moe.experts,
              experts_per_token: formula.moe.experts_per_token,
              params_per_expert: formula.moe.expert_params,
              router_params: formula.moe.router_params,
              active_params: formula.moe.active_params,
            },
          }
        : {}),
      checkpoint: {
        total_params: actual.total,
        embedding_params: actual.embedding,
        attention_params: actual.attention,
        ffn_params: actual.ffn,
        norm_params: actual.norm,
        other_params: actual.other,
        agrees: disagreements.length === 0,
        disagreements,
      },
    };
    if (whatIf && (whatIf.vocab !== undefined || whatIf.ffn !== undefined)) {
      report.what_if = whatIfCounts(spec, formula, whatIf.vocab ?? spec.vocabSize, whatIf.ffn ?? spec.intermediate);
    }
    return report;
  } finally {
    await ckpt.close();
  }
}

function whatIfCounts(spec: ModelSpec, before: ParamBreakdown, vocab: number, ffn: number) {
  if (!Number.isInteger(vocab) || vocab < 1 || vocab > spec.vocabSize) {
    throw new UsageError(`--vocab must be an integer in [1, ${spec.vocabSize}], got ${vocab}`);
  }
  if (!Number.isInteger(ffn) || ffn < 1 || ffn > spec.intermediate) {
    throw new UsageError(`--ffn must be an integer in [1, ${spec.intermediate}], got ${ffn}`);
  }
  const after = countParams(spec, { vocab, intermediate: ffn });
  return { vocab_size: vocab, intermediate_size: ffn, after, reduction: reduction(before, after) };
}

function dominantDtype(infos: Array<{ dtype: string; byteLength: number }>): string | null {
  const bytes = new Map<string, number>();
  for (const t of infos) bytes.set(t.dtype, (bytes.get(t.dtype) ?? 0) + t.byteLength);
  let best: string | null = null;
  for (const [d, b] of bytes) if (best === null || b > bytes.get(best)!) best = d;
  return best;
}
