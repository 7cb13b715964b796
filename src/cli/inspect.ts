/** `compact inspect`'s table for an InspectReport (prune/inspect-model.ts). */
import { dtypeSize } from '../io/dtype.ts';
import { fmtBytes, fmtInt, fmtPct, table } from '../report/format.ts';
import type { InspectReport } from '../prune/inspect-model.ts';

export { inspectModel, type InspectReport } from '../prune/inspect-model.ts';

export function formatInspect(r: InspectReport): string {
  const share = (n: number) => fmtPct(n / r.total_params);
  const bytesPerParam = r.dtype ? dtypeSize(r.dtype as never) : 2;
  const lines = [
    `${r.model}`,
    `  family ${r.family} (${r.architecture}), ${r.dtype ?? 'unknown dtype'}, ${r.tie_word_embeddings ? 'tied' : 'untied'} embeddings`,
    `  hidden ${r.hidden_size}, layers ${r.num_hidden_layers}, heads ${r.num_attention_heads}/${r.num_key_value_heads} kv, head_dim ${r.head_dim}, ffn ${r.intermediate_size}, vocab ${r.vocab_size}`,
    '',
    table(
      ['group', 'params', 'share'],
      [
        ['embedding', fmtInt(r.embedding_params), share(r.embedding_params)],
        ['attention', fmtInt(r.attention_params), share(r.attention_params)],
        ['ffn', fmtInt(r.ffn_params), share(r.ffn_params)],
        ...(r.moe
          ? [
              [`  per expert (× ${r.moe.experts})`, fmtInt(r.moe.params_per_expert), share(r.moe.params_per_expert)],
              ['  routers', fmtInt(r.moe.router_params), share(r.moe.router_params)],
            ]
          : []),
        ['norm', fmtInt(r.norm_params), share(r.norm_params)],
        ['total', fmtInt(r.total_params), '100.0%'],
      ],
    ),
    ...(r.moe ? [`  active per token (${r.moe.experts_per_token} of ${r.moe.experts} experts per layer): ${fmtInt(r.moe.active_params)} (${share(r.moe.active_params)})`] : []),
    '',
    `  on disk: ${fmtBytes(r.checkpoint_bytes)}; ` +
      (r.checkpoint.agrees ? 'tensor sizes agree with the config' : `tensor sizes DISAGREE with the config: ${r.checkpoint.disagreements.join('; ')}`),
  ];
  if (r.what_if) {
    const a = r.what_if.after;
    lines.push(
      '',
      `what if vocab ${r.what_if.vocab_size}, ffn ${r.what_if.intermediate_size}:`,
      table(
        ['group', 'before', 'after'],
        [
          ['embedding', fmtInt(r.embedding_params), fmtInt(a.embedding_params)],
          ['attention', fmtInt(r.attention_params), fmtInt(a.attention_params)],
          ['ffn', fmtInt(r.ffn_params), fmtInt(a.ffn_params)],
          ['norm', fmtInt(r.norm_params), fmtInt(a.norm_params)],
          ['total', fmtInt(r.total_params), fmtInt(a.total_params)],
        ],
      ),
      `  reduction ${fmtPct(r.what_if.reduction)} of parameters; ${fmtBytes(a.total_params * bytesPerParam)} at ${r.dtype ?? 'the same dtype'}`,
    );
  }
  return lines.join('\n');
}
