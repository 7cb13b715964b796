/**
 * The model card (README.md) of a pruned folder, as Hugging Face model cards are written: YAML
 * front matter the hub reads (base_model, library_name, pipeline_tag, tags, license), then in
 * plain words what was removed and why, the command, the parameter table, calibration, quality
 * and the plots (SVG files beside the card).
 *
 * It reads the run's report through the structural `CardReport` below (report/ sits under
 * prune/, so it cannot import PruneReport; PruneReport satisfies this shape).
 */
import { writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ParamBreakdown } from './params.ts';
import { fmtInt, fmtPct } from './format.ts';
import { coveragePlot, energyPlot, plannerCaption, plannerPlot, PLOT_FILES } from './card-plots.ts';

export interface CardPlanner {
  target_ratio: number;
  heldout: { tokens: number; bytes: number; scored_tokens?: number };
  candidates: Array<{ share: number; vocab: number; ffn: number; ratio: number | null; bpb: number | null; skipped: string | null; scores?: Record<string, number> | null }>;
  chosen: number;
  /** What `bpb` holds: held-out bits/byte (`calib`) or the worst relative increase over dense (`robust`). */
  objective?: string;
}

export interface CardQuality {
  text: string;
  bytes: number;
  seq_len: number;
  dense: { bpb: number; tokens: number };
  pruned: { bpb: number; tokens: number };
}

export interface CardReport {
  tool: string;
  tool_version: string;
  method: string;
  /** The input folder (absolute), or the hub id it was downloaded from when `hub` is set. */
  input: string;
  /** The hub repository and commit of a downloaded input (absent or null for a local folder). */
  hub?: { repo: string; commit: string } | null;
  command: string | null;
  output: string;
  family: string;
  weights_dtype: string;
  vocab: { policy: string; tokenizer_size_before: number; embedding_rows_before: number; kept: number };
  ffn: { criterion: string | null; intermediate_before: number; intermediate_after: number; kept_energy_share: number[] | null };
  layers: { before: number; after: number; dropped: number[] } | null;
  calibration: { source: string; tokens: number; sequences: number; seq_len: number; precision?: 'f32' | 'int8'; common_token_share: number; vocab_coverage: { vocab: number[]; share: number[] } | null } | null;
  planner: CardPlanner | null;
  params: { before: ParamBreakdown; after: ParamBreakdown; reduction: number };
  quality: CardQuality | null;
  dropped_files: string[];
  flags: Record<string, unknown>;
}

/** What the input's own card says that a derived card carries over (license terms). */
export interface InputCard {
  license: string | null;
  license_name: string | null;
  license_link: string | null;
}

/**
 * Reads `license`, `license_name` and `license_link` from a README.md's YAML front matter (top-level
 * scalar keys only: that is how the hub writes them); anything else in it is left alone.
 */
export function readInputCard(text: string | null): InputCard {
  const none: InputCard = { license: null, license_name: null, license_link: null };
  if (!text) return none;
  const m = /^\uFEFF?---\r?\n([\s\S]*?)\r?\n---\s*(\r?\n|$)/.exec(text);
  if (!m) return none;
  const get = (key: string): string | null => {
    const line = new RegExp(`^${key}:[ \\t]*(.*?)[ \\t]*$`, 'm').exec(m[1]!);
    if (!line) return null;
    let v = line[1]!.replace(/\s+#.*$/, '');
    if (/^(["']).*\1$/.test(v)) v = v.slice(1, -1);
    // Only plain identifiers and URLs are carried: a list or a block scalar is not a license id.
    return /^[A-Za-z0-9][A-Za-z0-9._+:/?=&%-]*$/.test(v) ? v : null;
  };
  return { license: get('license'), license_name: get('license_name'), license_link: get('license_link') };
}

/** A YAML scalar that parses back to exactly `s` (a JSON string is a valid YAML double-quoted scalar). */
function yamlString(s: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(s) && !/^(true|false|null|yes|no|on|off|~)$/i.test(s) && !/^[\d.+-]/.test(s) ? s : JSON.stringify(s);
}

export function baseModelName(r: CardReport): string {
  return r.hub?.repo ?? basename(r.input);
}

export function cardTags(r: CardReport): string[] {
  const tags = ['compact', 'pruned'];
  if (r.vocab.kept < r.vocab.tokenizer_size_before) tags.push('vocabulary-pruning');
  if (r.ffn.intermediate_after < r.ffn.intermediate_before) tags.push('ffn-pruning');
  if (r.layers) tags.push('layer-pruning');
  tags.push(r.family);
  return [...new Set(tags.map((t) => t.toLowerCase().replace(/[^a-z0-9._-]+/g, '-')))];
}

export function frontMatter(r: CardReport, input: InputCard): string {
  const lines = ['---', `base_model: ${yamlString(baseModelName(r))}`, 'library_name: transformers', 'pipeline_tag: text-generation'];
  if (input.license) lines.push(`license: ${yamlString(input.license)}`);
  if (input.license_name) lines.push(`license_name: ${yamlString(input.license_name)}`);
  if (input.license_link) lines.push(`license_link: ${yamlString(input.license_link)}`);
  lines.push('tags:', ...cardTags(r).map((t) => `- ${yamlString(t)}`), '---');
  return lines.join('\n') + '\n';
}

const BYTES_PER_PARAM: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2 };
const DTYPE_NAME: Record<string, string> = { F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

function fmtMB(bytes: number): string {
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

function change(before: number, after: number): string {
  if (before === after) return '—';
  return `−${fmtPct((before - after) / before)}`;
}

function paramTable(r: CardReport, tied: boolean): string {
  const b = r.params.before;
  const a = r.params.after;
  const bpp = BYTES_PER_PARAM[r.weights_dtype];
  const rows: Array<[string, number, number]> = [
    [tied ? 'vocabulary (embedding, shared with lm_head)' : 'vocabulary (embedding + lm_head)', b.embedding_params, a.embedding_params],
    ['FFN (gate, up, down)', b.ffn_params, a.ffn_params],
    ['attention (q, k, v, o)', b.attention_params, a.attention_params],
    ['norms', b.norm_params, a.norm_params],
  ];
  const out = ['| part | before | after | change |', '| --- | ---: | ---: | ---: |'];
  for (const [name, x, y] of rows) out.push(`| ${name} | ${fmtInt(x)} | ${fmtInt(y)} | ${change(x, y)} |`);
  out.push(`| **total** | **${fmtInt(b.total_params)}** | **${fmtInt(a.total_params)}** | **${change(b.total_params, a.total_params)}** |`);
  if (bpp) out.push(`| memory of the weights (${DTYPE_NAME[r.weights_dtype]}, ${bpp} bytes/parameter) | ${fmtMB(b.total_params * bpp)} | ${fmtMB(a.total_params * bpp)} | ${change(b.total_params, a.total_params)} |`);
  return out.join('\n');
}

function removedSection(r: CardReport, tied: boolean): string[] {
  const out: string[] = [];
  const v = r.vocab;
  const cal = r.calibration;
  if (v.kept === v.tokenizer_size_before && v.kept < v.embedding_rows_before) {
    out.push(`- **Vocabulary: all ${fmtInt(v.kept)} tokens kept.** Only the ${fmtInt(v.embedding_rows_before - v.kept)} padding rows of the embedding beyond the tokenizer were removed (no token can produce them).`);
  } else if (v.kept < v.embedding_rows_before) {
    const how =
      v.policy === 'id'
        ? 'the tokens with the highest ids — the last merges byte-level BPE learned, hence the rarest — were removed'
        : 'the tokens least frequent in the vocabulary corpus were removed';
    out.push(
      `- **Vocabulary: ${fmtInt(v.kept)} of ${fmtInt(v.tokenizer_size_before)} tokens kept (V′ = ${fmtInt(v.kept)}).** ${how[0]!.toUpperCase()}${how.slice(1)}, ` +
        `with their rows of the embedding${tied ? ' (shared with the output layer)' : ' and of the output layer (lm_head)'}` +
        `${v.embedding_rows_before > v.tokenizer_size_before ? ` and the ${fmtInt(v.embedding_rows_before - v.tokenizer_size_before)} padding rows beyond the tokenizer` : ''}. ` +
        'Special tokens and the byte alphabet are always kept, so every text still tokenizes: a removed word is spelled with shorter tokens, and a text takes a few more tokens. ' +
        (cal ? `${fmtPct(cal.common_token_share)} of the calibration tokens are kept tokens. ` : '') +
        'Why: rare tokens cost a full row of parameters each and are seldom used; for a small model they are a large share of its size.',
    );
  }
  const f = r.ffn;
  if (f.intermediate_after < f.intermediate_before) {
    const crit: Record<string, string> = {
      'act2-common': 'activation energy Σ (act(gate)·up)² over the calibration positions whose token survives the vocabulary cut (COMPACT\'s common-token weighting)',
      'act2-all': 'activation energy Σ (act(gate)·up)² over every calibration position',
      magnitude: 'weight magnitude (‖gate row‖·‖up row‖·‖down column‖), no calibration',
      'wanda-sp': 'Wanda-SP (‖down column‖·sqrt(Σ act²))',
      random: `a seeded random ranking (seed ${String(r.flags.seed)}), a baseline`,
    };
    const energy = f.kept_energy_share;
    const mean = energy && energy.length ? energy.reduce((x, y) => x + y, 0) / energy.length : null;
    out.push(
      `- **FFN: ${fmtInt(f.intermediate_after)} of ${fmtInt(f.intermediate_before)} channels kept in every layer (I′ = ${fmtInt(f.intermediate_after)}).** ` +
        `Channels were ranked by ${crit[f.criterion ?? ''] ?? f.criterion}, and the top I′ of each layer kept (the rows of gate_proj and up_proj and the columns of down_proj). ` +
        (mean !== null ? `The kept channels hold ${fmtPct(mean)} of the activation energy on average (${fmtPct(Math.min(...energy!))} in the worst layer). ` : '') +
        'Why: most of an FFN\'s output comes from a minority of its channels; the rest can go with little loss.',
    );
  }
  if (r.layers) {
    out.push(`- **Layers: ${r.layers.after} of ${r.layers.before} kept.** ShortGPT: the layers whose output is most similar to their input (lowest block influence) were removed: ${r.layers.dropped.join(', ')}.`);
  }
  if (r.planner) {
    const c = r.planner.candidates[r.planner.chosen]!;
    out.push(
      `- **The split was planned.** To remove ${fmtPct(r.planner.target_ratio)} of the parameters, ${r.planner.candidates.filter((x) => x.bpb !== null).length} splits between vocabulary and FFN were built and scored on ${fmtInt(r.planner.heldout.scored_tokens ?? r.planner.heldout.tokens)} held-out calibration tokens${c.scores && Object.keys(c.scores).length > 1 ? ' and other held-out texts' : ''}; ` +
        `the best takes ${fmtPct(c.share)} of the removed parameters from the vocabulary (${(c.scores?.['calib-heldout'] ?? c.bpb!).toFixed(4)} bits/byte on the held-out calibration tokens).`,
    );
  }
  if (out.length === 0) out.push('- Nothing: this folder is a re-written copy of the input.');
  return out;
}

export interface WriteCardOptions {
  /** The input folder's README.md text, for its license. */
  inputCardText: string | null;
  tied: boolean;
}

/** Writes README.md and the plots into `dir`; returns the files written (names in `dir`). */
export async function writeModelCard(dir: string, r: CardReport, opts: WriteCardOptions): Promise<string[]> {
  const written: string[] = [];
  const plots: Array<{ file: string; alt: string; caption: string }> = [];
  const put = async (file: string, svg: string | null, alt: string, caption: string) => {
    if (svg === null) return;
    await writeFile(join(dir, file), svg);
    written.push(file);
    plots.push({ file, alt, caption });
  };
  if (r.planner) {
    await put(PLOT_FILES.planner, plannerPlot(r.planner)?.svg ?? null, 'planner candidates', plannerCaption(r.planner.objective));
  }
  if (r.ffn.kept_energy_share && r.ffn.intermediate_after < r.ffn.intermediate_before) {
    await put(PLOT_FILES.energy, energyPlot(r.ffn.kept_energy_share, r.ffn.intermediate_after, r.ffn.intermediate_before)?.svg ?? null, 'activation energy kept per layer', 'Share of each layer\'s FFN activation energy (on the calibration text) that the kept channels hold.');
  }
  if (r.calibration?.vocab_coverage) {
    await put(PLOT_FILES.coverage, coveragePlot(r.calibration.vocab_coverage, r.vocab.kept, r.calibration.common_token_share)?.svg ?? null, 'calibration tokens kept against V′', 'Share of the calibration text\'s tokens that a vocabulary of V′ tokens keeps; the circle is this model\'s V′.');
  }

  const input = readInputCard(opts.inputCardText);
  const base = baseModelName(r);
  const hubLink = r.hub ? `[${r.hub.repo}](https://huggingface.co/${r.hub.repo}) (commit \`${r.hub.commit.slice(0, 12)}\`)` : `\`${base}\``;
  const cal = r.calibration;
  const q = r.quality;
  const lines: string[] = [
    frontMatter(r, input),
    `# ${basename(r.output)}`,
    '',
    `A smaller copy of ${hubLink}, made without training by [compact](https://www.npmjs.com/package/compact-llm) ${r.tool_version} ` +
      `(COMPACT, Kwek & Yin, [arXiv 2509.06836](https://arxiv.org/abs/2509.06836)): ${fmtPct(r.params.reduction)} fewer parameters ` +
      `(${fmtInt(r.params.before.total_params)} → ${fmtInt(r.params.after.total_params)}). The architecture (${r.family}) is unchanged, ` +
      'only `vocab_size` and `intermediate_size`' + (r.layers ? ' and `num_hidden_layers`' : '') + ' are smaller, so it loads in transformers, vLLM and llama.cpp converters with no custom code.',
    '',
    '## What was removed, and why',
    '',
    ...removedSection(r, opts.tied),
    '',
    '## How it was made',
    '',
    '```sh',
    r.command ?? `# through the API: pruneModel(${JSON.stringify(r.flags)})`,
    '```',
    '',
    '## Parameters',
    '',
    paramTable(r, opts.tied),
    '',
    `V′ = ${fmtInt(r.vocab.kept)} tokens (was ${fmtInt(r.vocab.embedding_rows_before)} embedding rows), I′ = ${fmtInt(r.ffn.intermediate_after)} FFN channels per layer (was ${fmtInt(r.ffn.intermediate_before)})` +
      (r.layers ? `, ${r.layers.after} layers (was ${r.layers.before})` : '') + '.',
    '',
    '## Calibration',
    '',
    cal
      ? `${fmtInt(cal.tokens)} tokens of ${cal.source}, in ${fmtInt(cal.sequences)} sequences of up to ${fmtInt(cal.seq_len)} tokens${r.planner ? `, plus ${fmtInt(r.planner.heldout.tokens)} held out to score the planner's candidates` : ''}. ` +
        `${fmtPct(cal.common_token_share)} of them are tokens the pruned vocabulary keeps.` +
        (cal.precision === 'int8' ? ' The calibration pass ran its projections in int8 (`--calib-precision int8`: int8 weights per output channel, activations quantized per run); the statistics it ranks channels by stay f32.' : '')
      : 'None: nothing this run removed needed activation statistics.',
    '',
    '## Quality',
    '',
    ...(q
      ? [
          `Bits per byte (lower is better; comparable across vocabularies) on \`${q.text}\` (${fmtInt(q.bytes)} bytes, windows of ${q.seq_len} tokens):`,
          '',
          '| model | tokens | bits/byte |',
          '| --- | ---: | ---: |',
          `| dense (${base}) | ${fmtInt(q.dense.tokens)} | ${q.dense.bpb.toFixed(4)} |`,
          `| pruned (this model) | ${fmtInt(q.pruned.tokens)} | ${q.pruned.bpb.toFixed(4)} (${q.pruned.bpb >= q.dense.bpb ? '+' : ''}${(q.pruned.bpb - q.dense.bpb).toFixed(4)}) |`,
        ]
      : ['Not measured in this run. `compact prune … --eval-text FILE` adds it here; `compact compare DENSE PRUNED --text FILE --tasks …` puts both models side by side.']),
    '',
  ];
  if (plots.length) {
    lines.push('## Plots', '');
    for (const p of plots) lines.push(`![${p.alt}](${p.file})`, '', p.caption, '');
  }
  lines.push(
    '## Files',
    '',
    'Weights as safetensors, `config.json`, the rewritten `tokenizer.json` (and `tokenizer_config.json`, `generation_config.json` with remapped token ids), `compact-report.json` (every figure above, and each file\'s SHA-256)' +
      (r.dropped_files.length ? `. Not carried over from the input, as they describe the original model: ${r.dropped_files.map((f) => `\`${f}\``).join(', ')}.` : '.'),
    '',
    '## Use',
    '',
    '```python',
    'from transformers import AutoModelForCausalLM, AutoTokenizer',
    `tok = AutoTokenizer.from_pretrained("${basename(r.output)}")`,
    `model = AutoModelForCausalLM.from_pretrained("${basename(r.output)}")`,
    '```',
    '',
  );
  await writeFile(join(dir, 'README.md'), lines.join('\n'));
  written.push('README.md');
  return written.sort();
}
