import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { UsageError } from '../errors.ts';
import { parseMaxShardSize } from '../io/safetensors-writer.ts';
import { pruneModel, DEFAULT_CALIB_TOKENS, DEFAULT_HOLDOUT, DEFAULT_PLANNER_STEP, DEFAULT_SEED, DEFAULT_SEQ_LEN, type PruneOptions, type PruneReport } from '../prune/prune.ts';
import { fmtBytes, fmtDuration, fmtInt, fmtPct, table } from '../report/format.ts';
import { DEFAULT_CALIBRATION_NAME } from '../prune/calibration-text.ts';
import { DEFAULT_REFIT_RIDGE } from '../prune/refit.ts';
import { refitUnit, refitUnits } from '../prune/down-refit.ts';
import { bool, num, parseArgs, str } from './args.ts';
import { exportGguf } from '../export/gguf-export.ts';
import { formatExportReport, ggufTypeOption } from './export.ts';
import { progressPrinter } from '../report/progress-events.ts';
import { checkAddressSpace } from './address-space.ts';
import { readModelConfig } from '../families/model-config.ts';
import { setInterruptNote } from '../io/interrupt-note.ts';
import { recordWrittenFiles } from '../report/file-manifest.ts';
import { shellCommand, withoutFlags } from './shell-words.ts';
import { HUB_FLAGS, HUB_USAGE, hubOptions, push, pushTarget, PUSH_FLAGS, PUSH_USAGE } from './hub-flags.ts';

export const PRUNE_USAGE = `usage: compact prune <model-dir> --out <dir> [flags]

budget (kept sizes; default: keep everything on that axis):
  --ratio R               remove R of all parameters, in (0, 1). Alone (method compact): the vocab/FFN
                          split is planned: candidates taking a share of the budget from the vocabulary
                          (coarse-to-fine over 0%, 5%, … 100%) are scored in memory on held-out text,
                          the best kept. With --vocab or --ffn, the other is solved for R
  --vocab V'              tokens kept, counting added/special tokens and the byte alphabet
  --vocab-ratio r         kept fraction of the tokenizer's vocabulary, in (0, 1)
  --ffn I'                FFN channels kept in every layer
  --ffn-ratio r           kept fraction of intermediate_size, in (0, 1)
method:
  --method M              compact (default) | vocab-only | ffn-only (with --ratio: one axis takes it all)
                          | shortgpt (drop the whole layers of lowest block influence; needs --ratio)
  --vocab-policy id|freq  id: keep ids < V' (BPE merge order; the paper). freq: most frequent in --vocab-corpus
  --vocab-corpus FILE     text (or JSON lines with "text") counted by the freq policy
  --ffn-criterion C       act2-common (default: Σ act² over tokens that survive the vocab cut) | act2-all
                          | magnitude (‖gate row‖·‖up row‖·‖down column‖) | wanda-sp (‖down column‖·sqrt(Σ act²))
                          | random
  --seed N                seed of --ffn-criterion random (default ${DEFAULT_SEED})
  --ffn-multiple N        with --ratio: round the solved I' to a multiple of N; V' is re-solved to keep R.
                          Default: 256, or the largest of 128/64/32 leaving ≥ 8 widths when I < 2048
                          (1 when I < 256): widths llama.cpp's block quantizers take without falling back
                          (rows not a multiple of 32 become F16 in a Q4_K_M GGUF). 1 = the paper's exact sizes
  --reconstruct           refit each layer's down_proj by least squares on the calibration activations so the
                          kept channels reproduce the dense FFN output (training-free; planned splits are
                          scored with the refit; a mixture of experts refits each expert's down_proj over
                          the tokens routed to it)
  --reconstruct-ridge λ   ridge of the refit toward the plain slice, ρ = λ·mean diag G[S,S] (default ${DEFAULT_REFIT_RIDGE})
  --planner-step s        share step of the planned split (default ${DEFAULT_PLANNER_STEP})
  --holdout f             calibration tokens held out to score planned splits (default ${DEFAULT_HOLDOUT})
  --planner-tokens N      score candidates on at most N tokens of each planner text (default: the whole
                          held-out tail): cheaper, but a short sample under-counts the rare tokens a
                          vocabulary cut costs (1,024 or 2,048 tokens misjudged wiki-28m at R = 0.35)
  --planner-objective O   robust (default): smallest worst-case relative bits/byte increase over the dense
                          model across the calibration tail, the built-in reference text and every
                          --planner-text | calib: bits/byte on the calibration tail alone
  --planner-text FILE     another held-out text the robust objective covers (repeatable; scored on as
                          many tokens as the calibration tail, from its start)
  --planner-search S      coarse-to-fine (default) | grid (every --planner-step point)
calibration:
  --calib FILE            plain text or JSON lines with a "text" field (default: ${DEFAULT_CALIBRATION_NAME})
  --calib-tokens N        tokens of calibration (default ${DEFAULT_CALIB_TOKENS})
  --calib-precision P     f32 (default) | int8: the calibration pass's projections on int8 weights and
                          activations (CPU only; ×1.7 the tokens/s at the Qwen2.5-0.5B shape). On wiki-28m
                          it kept 99.3–99.8% of f32's channels (docs/performance.md §1d); scoring and
                          --eval-text stay f32
  --seq-len N             tokens per sequence (default ${DEFAULT_SEQ_LEN}, capped by max_position_embeddings)
  --allow-short-calib     use a calibration text shorter than --calib-tokens (it still needs ≥ 64 tokens)
engine and output:
  --device cpu|webgpu     (default cpu)    --threads N (default: all cores)
  --output-dtype f32|f16|bf16  (default: the input's)
  --max-shard-size SIZE   e.g. 5GB (default), 500MB
  --export gguf[:TYPE]    also write <out>/model.gguf for llama.cpp after pruning (see compact export);
                          TYPE as export's --dtype, e.g. gguf:q4_k_m
  --export-path FILE      where that GGUF goes instead
  --eval-text FILE        score the dense and the pruned model on FILE (bits per byte), into the report
                          and the model card
  --force                 replace an existing --out (only one compact wrote, with its compact-report.json,
                          or an empty folder; anything else is refused)
  --json                  print the report as JSON      --quiet  no progress on stderr
${HUB_USAGE}
${PUSH_USAGE}`;

const DTYPES: Record<string, PruneOptions['outputDtype']> = { f32: 'F32', float32: 'F32', f16: 'F16', float16: 'F16', bf16: 'BF16', bfloat16: 'BF16' };

export async function pruneCommand(argv: string[]): Promise<number> {
  // --planner-text is repeatable: collected here, the rest parsed as usual.
  const plannerTexts: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i]!;
    if (x === '--planner-text') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError('compact prune: --planner-text needs a value');
      plannerTexts.push(v);
    } else if (x.startsWith('--planner-text=')) plannerTexts.push(x.slice('--planner-text='.length));
    else rest.push(x);
  }
  const a = parseArgs(
    rest,
    {
      out: 'string', force: 'boolean', method: 'string', ratio: 'number', seed: 'integer', 'planner-step': 'number', 'planner-objective': 'string', 'planner-search': 'string', 'ffn-multiple': 'integer', reconstruct: 'boolean', 'reconstruct-ridge': 'number', holdout: 'number', 'planner-tokens': 'integer', vocab: 'integer', 'vocab-ratio': 'number', ffn: 'integer', 'ffn-ratio': 'number',
      'vocab-policy': 'string', 'vocab-corpus': 'string', 'ffn-criterion': 'string', calib: 'string', 'calib-tokens': 'integer', 'calib-precision': 'string',
      'seq-len': 'integer', 'allow-short-calib': 'boolean', device: 'string', threads: 'integer', 'output-dtype': 'string',
      'max-shard-size': 'string', export: 'string', 'export-path': 'string', 'eval-text': 'string', json: 'boolean', quiet: 'boolean', help: 'boolean',
      ...HUB_FLAGS, ...PUSH_FLAGS,
    },
    'prune',
  );
  if (bool(a, 'help')) {
    console.log(PRUNE_USAGE);
    return 0;
  }
  if (a.positional.length !== 1) throw new UsageError(a.positional.length === 0 ? 'compact prune: give the model folder (compact prune <model-dir> --out <dir> …; see compact prune --help)' : `compact prune: one model folder, got ${a.positional.length}: ${a.positional.join(' ')}`);
  if (!str(a, 'out')) throw new UsageError('compact prune: --out <dir> is required (the folder the pruned checkpoint is written to)');
  const device = str(a, 'device');
  if (device !== undefined && device !== 'cpu' && device !== 'webgpu') throw new UsageError(`--device must be cpu or webgpu, got ${device}`);
  const dt = str(a, 'output-dtype');
  if (dt !== undefined && !DTYPES[dt.toLowerCase()]) throw new UsageError(`--output-dtype must be f32, f16 or bf16, got ${dt}`);
  const exportFormat = str(a, 'export');
  const [exportKind, exportType] = exportFormat === undefined ? [undefined, undefined] : exportFormat.split(/:(.*)/s, 2);
  if (exportFormat !== undefined && exportKind !== 'gguf') throw new UsageError(`--export must be gguf or gguf:TYPE, got ${exportFormat} (for ONNX run compact export --format onnx)`);
  const exportOpts = exportType !== undefined ? ggufTypeOption(exportType, '--export gguf:TYPE') : {};
  if (str(a, 'export-path') !== undefined && exportFormat === undefined) throw new UsageError('--export-path needs --export gguf');
  // Checked with the other paths before any weight is read (prune/preflight.ts, called by pruneModel).
  const exportPath = exportFormat ? (str(a, 'export-path') ?? join(str(a, 'out')!, 'model.gguf')) : undefined;
  // A local folder is checked before any work; a hub id once downloaded (pruneModel) is not.
  if (existsSync(join(a.positional[0]!, 'config.json'))) checkAddressSpace(readModelConfig(a.positional[0]!).spec, num(a, 'threads'));
  const pushRepo = await pushTarget(a);
  const report = await pruneModel({
    model: a.positional[0]!,
    hub: hubOptions(a),
    out: str(a, 'out')!,
    exportPath,
    force: bool(a, 'force'),
    method: str(a, 'method') as PruneOptions['method'],
    ratio: num(a, 'ratio'),
    seed: num(a, 'seed'),
    plannerStep: num(a, 'planner-step'),
    plannerObjective: str(a, 'planner-objective') as PruneOptions['plannerObjective'],
    plannerSearch: str(a, 'planner-search') as PruneOptions['plannerSearch'],
    plannerTexts: plannerTexts.length ? plannerTexts : undefined,
    ffnMultiple: num(a, 'ffn-multiple'),
    reconstruct: bool(a, 'reconstruct'),
    reconstructRidge: num(a, 'reconstruct-ridge'),
    holdout: num(a, 'holdout'),
    plannerTokens: num(a, 'planner-tokens'),
    vocab: num(a, 'vocab'),
    vocabRatio: num(a, 'vocab-ratio'),
    vocabPolicy: str(a, 'vocab-policy') as PruneOptions['vocabPolicy'],
    vocabCorpus: str(a, 'vocab-corpus'),
    ffn: num(a, 'ffn'),
    ffnRatio: num(a, 'ffn-ratio'),
    ffnCriterion: str(a, 'ffn-criterion') as PruneOptions['ffnCriterion'],
    calib: str(a, 'calib'),
    calibTokens: num(a, 'calib-tokens'),
    calibPrecision: str(a, 'calib-precision') as PruneOptions['calibPrecision'],
    seqLen: num(a, 'seq-len'),
    allowShortCalib: bool(a, 'allow-short-calib'),
    device: device as PruneOptions['device'],
    threads: num(a, 'threads'),
    outputDtype: dt ? DTYPES[dt.toLowerCase()] : undefined,
    maxShardBytes: str(a, 'max-shard-size') ? parseMaxShardSize(str(a, 'max-shard-size')!) : undefined,
    onProgress: bool(a, 'quiet') ? undefined : progressPrinter(),
    quiet: bool(a, 'quiet'),
    evalText: str(a, 'eval-text'),
    // The card shows how to rebuild the folder: flags that cannot change a byte of it are left out
    // (the exact command line is in the report's run figures).
    command: shellCommand(['compact', 'prune', ...withoutFlags(argv, ['threads', 'push-to-hub'], ['quiet', 'json', 'force', 'private'])]),
    commandLine: shellCommand(['compact', 'prune', ...argv]),
  });
  let exported = null;
  if (exportPath !== undefined) {
    setInterruptNote(`the pruned checkpoint is complete in ${report.output}; the GGUF ${exportPath} was not written`);
    exported = await exportGguf(report.output, exportPath, { ...exportOpts, force: bool(a, 'force'), inputs: [report.input], flag: '--export-path' });
    setInterruptNote(null);
  }
  if (exported) report.files = await recordWrittenFiles(report.output, [exported.output]);
  const pushed = pushRepo ? await push(report.output, pushRepo, a, `compact prune of ${report.hub ? `${report.hub.repo}@${report.hub.commit}` : basename(resolve(report.input))}`) : null;
  if (bool(a, 'json')) console.log(JSON.stringify({ ...report, ...(exported ? { export: exported } : {}), ...(pushed ? { push: pushed } : {}) }, null, 2));
  else console.log(formatPruneReport(report) + (exported ? `\n${formatExportReport(exported)}` : '') + (pushed ? `\npushed to ${pushed.repo}: ${pushed.url}` : ''));
  return 0;
}

export function formatPruneReport(r: PruneReport): string {
  const b = r.params.before;
  const f = r.params.after;
  return [
    `pruned ${r.input}${r.hub ? ` (commit ${r.hub.commit})` : ''} → ${r.output} (${r.family})`,
    `  vocabulary ${fmtInt(r.vocab.embedding_rows_before)} rows → ${fmtInt(r.vocab.kept)} (${r.vocab.policy} policy; tokenizer had ${fmtInt(r.vocab.tokenizer_size_before)})`,
    `  ffn ${fmtInt(r.ffn.intermediate_before)} → ${fmtInt(r.ffn.intermediate_after)} channels per layer${r.ffn.criterion ? ` (${r.ffn.criterion})` : ''}`,
    ...(r.ffn.refit ? [formatRefit(r.ffn.refit)] : []),
    ...(r.layers ? [`  layers ${r.layers.before} → ${r.layers.after} (shortgpt: dropped ${r.layers.dropped.join(', ')}; block influence ${r.layers.block_influence.map((b) => b.toFixed(4)).join(', ')})`] : []),
    r.calibration ? `  calibration: ${fmtInt(r.calibration.tokens)} tokens of ${r.calibration.source}, ${fmtPct(r.calibration.common_token_share)} on kept tokens` : '  calibration: none needed',
    ...(r.planner ? ['', formatPlanner(r)] : []),
    '',
    table(
      ['group', 'before', 'after'],
      [
        ['embedding', fmtInt(b.embedding_params), fmtInt(f.embedding_params)],
        ['attention', fmtInt(b.attention_params), fmtInt(f.attention_params)],
        ['ffn', fmtInt(b.ffn_params), fmtInt(f.ffn_params)],
        ['norm', fmtInt(b.norm_params), fmtInt(f.norm_params)],
        ['total', fmtInt(b.total_params), fmtInt(f.total_params)],
      ],
    ),
    ...(r.quality ? [`  bits/byte on ${r.quality.text}: dense ${r.quality.dense.bpb.toFixed(4)} → pruned ${r.quality.pruned.bpb.toFixed(4)}`] : []),
    '',
    `  ${fmtPct(r.params.reduction)} fewer parameters; took ${fmtDuration(r.run.wall_seconds)}, peak RSS ${fmtBytes(r.run.peak_rss_bytes)}`,
    `  model card: ${join(r.output, 'README.md')}${r.files.some((f) => f.path.endsWith('.svg')) ? ` (plots: ${r.files.filter((f) => f.path.endsWith('.svg')).map((f) => f.path).join(', ')})` : ''}`,
    r.dropped_files.length ? `  dropped stale files: ${r.dropped_files.join(', ')}` : '',
  ].filter((l, i, all) => l !== '' || i < all.length - 1).join('\n');
}

/** The planner's candidates as a table, the chosen one marked. */
function formatPlanner(r: PruneReport): string {
  const p = r.planner!;
  const what = p.objective === 'robust' ? 'worst relative increase over dense' : 'held-out bits/byte';
  return [
    `  planner: target ${fmtPct(p.target_ratio)}; ${fmtInt(p.fit_tokens)} calibration tokens for importance, ${fmtInt(p.heldout.tokens)} held out (${fmtInt(p.heldout.bytes)} bytes), ${fmtInt(p.heldout.scored_tokens)} tokens of each planner text scored; ${p.search} search in ${p.passes} streamed passes, ${p.objective} objective`,
    `  dense bits/byte: ${p.texts.map((t) => `${t.name} ${t.dense_bpb === null ? '—' : t.dense_bpb.toFixed(4)}`).join(', ')}`,
    table(
      ['', 'vocab share', "V'", "I'", 'reduction', ...p.texts.map((t) => t.name), what],
      p.candidates.map((c, i) => [
        i === p.chosen ? '*' : '',
        fmtPct(c.share),
        fmtInt(c.vocab),
        fmtInt(c.ffn),
        c.ratio === null ? '—' : fmtPct(c.ratio),
        ...p.texts.map((t) => (c.scores ? c.scores[t.name]!.toFixed(4) : '')),
        c.bpb === null ? `skipped: ${c.skipped}` : p.objective === 'robust' ? fmtPct(c.bpb) : c.bpb.toFixed(4),
      ]),
    ),
  ].join('\n');
}

/** One line: how many layers were refit, the mean calibration loss of the cut before and after. */
function formatRefit(f: NonNullable<PruneReport['ffn']['refit']>): string {
  const n = f.layers.length;
  const fellBack = f.layers.filter((l) => l.fallback);
  const mean = (k: 'loss_plain' | 'loss_refit') => f.layers.reduce((a, l) => a + l[k], 0) / Math.max(n, 1);
  const pc = (x: number) => `${(100 * x).toFixed(2)}%`;
  const units = refitUnits(f);
  // A dense model lists its layers ("layers 1, 4"); a MoE names each expert ("layer 1 expert 3, …").
  const kept = units === 'layers' ? `layer${fellBack.length > 1 ? 's' : ''} ${fellBack.map((l) => l.layer).join(', ')}` : fellBack.map(refitUnit).join(', ');
  return `  down_proj refit (λ ${f.ridge}): ${n - fellBack.length}/${n} ${units}; calibration loss of the cut ${pc(mean('loss_plain'))} → ${pc(mean('loss_refit'))} of the FFN output energy${fellBack.length ? `; plain slice kept in ${kept}` : ''}`;
}
