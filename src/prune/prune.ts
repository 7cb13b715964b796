import { createHash } from 'node:crypto';
import { chmod, copyFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { CompactError, UsageError } from '../errors.ts';
import { patchJsonText, readJsonObjectText, type JsonPath } from '../json-text.ts';
import { readModelConfig } from '../families/model-config.ts';
import type { ModelSpec } from '../families/types.ts';
import { openCheckpoint, type Checkpoint } from '../io/safetensors.ts';
import { writeCheckpoint } from '../io/safetensors-writer.ts';
import { withWriteProgress } from './write-progress.ts';
import { withOutputDir } from '../io/atomic-dir.ts';
import { resolveModel } from '../io/hub/resolve-model.ts';
import type { HubOptions } from '../io/hub/hub-settings.ts';
import type { HubSource } from '../io/hub/snapshot.ts';
import type { ResolvedModel } from '../io/hub/resolve-model.ts';
import { readTokenizerFile, serializeTokenizerJson, type JsonObject, type TokenizerFile } from '../tokenizer/tokenizer-file.ts';
import { mandatoryIds, selectKeptIds, type SelectOptions } from '../tokenizer/vocab-select.ts';
import { pruneTokenizer, type PrunedTokenizer } from '../tokenizer/tokenizer-prune.ts';
import { referencedIds, remapSpecialIds } from '../tokenizer/special-ids.ts';
import { loadTokenizer, type TextTokenizer } from '../tokenizer/tokenize.ts';
import { countParams, reduction, type ParamBreakdown } from '../report/params.ts';
import { peakRssBytes } from '../report/progress.ts';
import { ProgressReporter, type OnProgress } from '../report/progress-events.ts';
import { corpusCounts, sameFileAs } from './corpus-counts.ts';
import { defaultCalibrationText, DEFAULT_CALIBRATION_NAME, readCalibrationText } from './calibration-text.ts';
import { selectChannels } from './channel-select.ts';
import { slicedEntries } from './slice.ts';
import { act2Needed, magnitudeScores, parseCriterion, randomScores, wandaSpScores, type FfnCriterion } from './criteria.ts';
import { achievedRatio, candidateSplits, defaultFfnMultiple, layersToDrop, splitForFfn, splitForShare, splitForVocab, type Split, type VocabLimits } from './budget.ts';
import { calibrate, calibrationData, maskOf, MIN_CALIB_TOKENS, type CalibrationData, type CalibrationResult } from './calibrate.ts';
import { checkPrunePaths } from './preflight.ts';
import { checkFormatSupport } from '../export/support.ts';
import { Gemm } from '../engine/gemm.ts';
import { GramStore } from './gram-store.ts';
import { CutRefit, refitUnit, refitUnits, type RefitReport } from './down-refit.ts';
import { DEFAULT_REFIT_RIDGE } from './refit.ts';
import { expertCount } from '../families/templates.ts';
import { planSplit, PLANNER_OBJECTIVES, PLANNER_SEARCHES, type CandidateModel, type PlannerObjective, type PlannerReport, type PlannerSearch, type PlannerTextInput } from './planner.ts';
import { referenceText, REFERENCE_TEXT_NAME } from './reference-text.ts';
import { scoreVariants } from '../engine/candidate-pass.ts';
import { createTokenizer } from '../tokenizer/tokenize.ts';
import { blockInfluence, layerConfigChanges, lowestInfluence, renumberLayers } from './shortgpt.ts';
import { dominantDtype, keptEnergyShare, measureQuality, readEvalText, vocabCoverage } from './card-data.ts';
import { writeModelCard, type CardQuality } from '../report/model-card.ts';
import { manifestOf, type WrittenFile } from '../report/file-manifest.ts';
import { toolVersion } from '../report/tool-version.ts';

export type { FfnCriterion } from './criteria.ts';
export { FFN_CRITERIA } from './criteria.ts';

export const PRUNE_METHODS = ['compact', 'vocab-only', 'ffn-only', 'shortgpt'] as const;
export type PruneMethod = (typeof PRUNE_METHODS)[number];

export interface PruneOptions {
  /** A model folder, or a hub id (`org/name`, `org/name@revision`; see resolveModel). */
  model: string;
  /** Revision, endpoint, token, cache and download progress of a hub model. */
  hub?: HubOptions;
  out: string;
  force?: boolean;
  /** The GGUF the caller writes after the prune (--export gguf): checked with the other paths before any work. */
  exportPath?: string;
  /**
   * compact (default): vocabulary + FFN; with --ratio and neither --vocab nor --ffn the split is
   * planned. vocab-only / ffn-only: one axis takes the whole --ratio. shortgpt: drop whole layers.
   */
  method?: PruneMethod;
  /** Target total-parameter reduction in (0, 1). */
  ratio?: number;
  /** Tokens kept (V′, everything counted), or the kept fraction of the tokenizer's vocabulary. */
  vocab?: number;
  vocabRatio?: number;
  vocabPolicy?: 'id' | 'freq';
  vocabCorpus?: string;
  /** freq policy: strength of the merge-order prior (default FREQ_PRIOR_STRENGTH; 0 = raw counts). */
  vocabPriorStrength?: number;
  /** FFN channels kept per layer (I′), or the kept fraction of intermediate_size. */
  ffn?: number;
  ffnRatio?: number;
  ffnCriterion?: FfnCriterion;
  /** Seed of the random criterion. */
  seed?: number;
  /**
   * Refit each layer's down_proj by ridge least squares on the calibration activations after the
   * FFN cut (refit.ts); the planner then scores candidates with the refit too.
   */
  reconstruct?: boolean;
  /** λ of the refit's ridge toward the plain slice (ρ = λ · mean diag G[S,S]). */
  reconstructRidge?: number;
  /** Round every I′ solved from --ratio to a multiple of this (llama.cpp's x86 kernels want 32). */
  ffnMultiple?: number;
  /** Planner: step of the vocabulary's share of the removed parameters (default 0.05). */
  plannerStep?: number;
  /** Planner: fraction of the calibration tokens held out to score candidates (default 0.15). */
  holdout?: number;
  /**
   * Planner: tokens each candidate is scored on per text, at most (default: the whole held-out
   * tail): the tail's first ones, the reference text's last ones, each --planner-text's first.
   * Scoring is the planner's whole cost, but fewer tokens bias it: a vocabulary cut costs on rare
   * tokens, which a short sample under-counts (README, "Choosing the split").
   */
  plannerTokens?: number;
  calib?: string;
  calibTokens?: number;
  /**
   * Arithmetic of the calibration pass (default f32): int8 runs its projections on int8 weights
   * and activations (engine/int8-weights.ts): ×1.70 the f32 tokens/s at the Qwen2.5-0.5B shape,
   * ×2.48 at the Llama-3.1-8B shape (docs/performance.md §1d), CPU only. The planner's scoring and
   * --eval-text stay f32.
   */
  calibPrecision?: CalibPrecision;
  seqLen?: number;
  allowShortCalib?: boolean;
  device?: 'cpu' | 'webgpu';
  threads?: number;
  outputDtype?: 'F32' | 'F16' | 'BF16';
  maxShardBytes?: number;
  /** Progress events (calibration steps, the planner's lines); the library prints nothing itself. */
  onProgress?: OnProgress;
  /** No progress events even with `onProgress`. */
  quiet?: boolean;
  /** Planner: what the pick minimises (default robust; calib = the calibration tail alone). */
  plannerObjective?: PlannerObjective;
  /** Planner: more held-out texts of the user's (files: plain text or JSON lines). */
  plannerTexts?: string[];
  /** Planner: coarse-to-fine (default) or every grid point. */
  plannerSearch?: PlannerSearch;
  /**
   * Planner: texts every scored candidate is also scored on, only to report (the experiments
   * check the pick on evaluation text this way); they never influence the choice.
   */
  plannerCheckTexts?: Array<{ name: string; text: string }>;
  /** A text to score the dense and the pruned model on (bits per byte), into the report and card. */
  evalText?: string;
  /** The command that rebuilds this output, for the model card (the CLI passes it). */
  command?: string;
  /** The command line exactly as typed (a figure of the run). */
  commandLine?: string;
}

export interface PruneReport {
  tool: string;
  tool_version: string;
  method: PruneMethod;
  /** The input folder, absolute; for a hub model the id as given (the snapshot is `hub`). */
  input: string;
  /** The hub repository and exact commit the input came from; null for a local folder. */
  hub: HubSource | null;
  command: string | null;
  output: string;
  flags: Record<string, unknown>;
  family: string;
  /** Storage dtype of the written weights. */
  weights_dtype: string;
  vocab: {
    policy: 'id' | 'freq';
    tokenizer_size_before: number;
    embedding_rows_before: number;
    kept: number;
    kept_ids_sha256: string;
  };
  ffn: {
    criterion: FfnCriterion | null;
    intermediate_before: number;
    intermediate_after: number;
    kept_channels_sha256: string | null;
    /** --reconstruct: the ridge and every layer's calibration objective, plain slice vs refit. */
    refit?: RefitReport | null;
    /** Per layer, the share of calibration act² (under the criterion's token weighting) the kept channels hold. */
    kept_energy_share: number[] | null;
  };
  /** ShortGPT: the layers dropped (old indices) and every layer's block influence. */
  layers: { before: number; after: number; dropped: number[]; block_influence: number[] } | null;
  calibration: {
    source: string;
    tokens: number;
    sequences: number;
    seq_len: number;
    /** Arithmetic of the pass (--calib-precision). */
    precision: CalibPrecision;
    common_token_share: number;
    /** Share of calibration positions a vocabulary of each size V′ keeps (the card's coverage plot). */
    vocab_coverage: { vocab: number[]; share: number[] } | null;
  } | null;
  /** --ratio with a planned split: every candidate with its held-out score. */
  planner: PlannerReport | null;
  params: { before: ParamBreakdown; after: ParamBreakdown; reduction: number };
  /** --eval-text: dense and pruned bits per byte on that text. */
  quality: CardQuality | null;
  dropped_files: string[];
  /** Every file in the output folder but this report (and files written after it, e.g. --export), with size and SHA-256. */
  files: WrittenFile[];
  /** Figures of this run: they differ between runs, everything else in the folder does not. */
  run: { command_line: string | null; wall_seconds: number; calibration_seconds: number; calibration_tokens_per_second: number | null; peak_rss_bytes: number; threads: number | null; device: string };
}

export const DEFAULT_CALIB_TOKENS = 32768;
export const DEFAULT_SEQ_LEN = 2048;
/** --calib-precision: the calibration pass's arithmetic (engine/int8-weights.ts for int8). */
export const CALIB_PRECISIONS = ['f32', 'int8'] as const;
export type CalibPrecision = (typeof CALIB_PRECISIONS)[number];
export const DEFAULT_PLANNER_STEP = 0.05;
export const DEFAULT_HOLDOUT = 0.15;

export const DEFAULT_SEED = 0;

/** Files whose contents pruning changes, written from scratch rather than copied. */
const REWRITTEN = new Set(['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors.index.json', 'compact-report.json', 'README.md']);
/**
 * Files that would describe the dense model after pruning (slow-tokenizer vocabularies, other
 * weight formats): copying them would leave a folder that contradicts itself, so they are dropped
 * and listed in the report.
 */
const STALE = [/\.safetensors$/, /\.bin$/, /\.pt$/, /\.pth$/, /\.ckpt$/, /\.gguf$/, /\.onnx(_data)?$/, /\.msgpack$/, /\.h5$/, /^tokenizer\.model$/, /^vocab\.json$/, /^merges\.txt$/, /^vocab\.txt$/,
  // Records of the original model's training (its parameter count, loss curve): not this model's.
  /^training_stats\.json$/, /^train(ing)?_?log\.(txt|json|jsonl)$/i, /^trainer_state\.json$/, /^training_args\.json$/, /^(all|train|eval|test)_results\.json$/, /\.log$/, /^events\.out\.tfevents/];

/** What to build: V′ and I′ (or a planned split, or ShortGPT's layer cut). */
type Plan =
  | { kind: 'fixed'; vocab: number; ffn: number; split: Split | null }
  | { kind: 'planned'; splits: Split[] }
  | { kind: 'layers'; vocab: number; drop: number; ratio: number };

function checkFraction(name: string, r: number | undefined): number | undefined {
  if (r !== undefined && !(r > 0 && r < 1)) throw new UsageError(`--${name} must be in (0, 1), got ${r}`);
  return r;
}

/** Sizes the user gave (absolute or as fractions), validated; undefined where not given. */
function givenSizes(opts: PruneOptions, spec: ModelSpec, tok: TokenizerFile, minVocab: number): { vocab?: number; ffn?: number } {
  if (opts.vocab !== undefined && opts.vocabRatio !== undefined) throw new UsageError('give --vocab or --vocab-ratio, not both');
  if (opts.ffn !== undefined && opts.ffnRatio !== undefined) throw new UsageError('give --ffn or --ffn-ratio, not both');
  const vr = checkFraction('vocab-ratio', opts.vocabRatio);
  const fr = checkFraction('ffn-ratio', opts.ffnRatio);
  const vocab = opts.vocab ?? (vr !== undefined ? Math.round(vr * tok.size) : undefined);
  const ffn = opts.ffn ?? (fr !== undefined ? Math.max(1, Math.round(fr * spec.intermediate)) : undefined);
  if (vocab !== undefined && (!Number.isInteger(vocab) || vocab < minVocab || vocab > tok.size)) {
    // The same bounds whichever side is crossed: the tokens every cut keeps, and the tokenizer's size.
    throw new UsageError(`--vocab must be an integer in [${minVocab}, ${tok.size}] (the tokens every cut keeps: added/special tokens, byte alphabet, ids the configs name; up to the tokenizer's size), got ${vocab}`);
  }
  if (ffn !== undefined && (!Number.isInteger(ffn) || ffn < 1 || ffn > spec.intermediate)) {
    throw new UsageError(`--ffn must be an integer in [1, ${spec.intermediate}] (intermediate_size), got ${ffn}`);
  }
  return { vocab, ffn };
}

function feasible(s: Split, what: string): Split {
  if (s.infeasible) throw new UsageError(`${what}: ${s.infeasible}`);
  return s;
}

function resolvePlan(opts: PruneOptions, method: PruneMethod, spec: ModelSpec, tok: TokenizerFile, limits: VocabLimits): Plan {
  const given = givenSizes(opts, spec, tok, limits.minVocab);
  const ratio = checkFraction('ratio', opts.ratio);
  const what = `--ratio ${ratio}`;
  if (method === 'shortgpt') {
    if (given.vocab !== undefined || given.ffn !== undefined) throw new UsageError('--method shortgpt removes whole layers: it takes --ratio, not --vocab/--ffn');
    if (ratio === undefined) throw new UsageError('--method shortgpt needs --ratio R (the layers to drop are chosen to remove R of the parameters)');
    if (spec.layers < 2) throw new UsageError(`--method shortgpt: the model has ${spec.layers} layer; nothing can be dropped`);
    const { drop, ratio: achieved } = layersToDrop(spec, ratio, limits.tokenizerSize);
    return { kind: 'layers', vocab: limits.tokenizerSize, drop, ratio: achieved };
  }
  if (method === 'vocab-only' && given.ffn !== undefined) throw new UsageError('--method vocab-only keeps every FFN channel: drop --ffn/--ffn-ratio');
  if (method === 'ffn-only' && given.vocab !== undefined) throw new UsageError('--method ffn-only keeps the whole vocabulary: drop --vocab/--vocab-ratio');
  if (ratio === undefined && given.vocab === undefined && given.ffn === undefined && method === 'compact') {
    // Without one the output would be a copy less its padding rows: never what was meant.
    throw new UsageError('compact prune needs a budget: --ratio R, or --vocab V\' / --vocab-ratio r and/or --ffn I\' / --ffn-ratio r');
  }
  if (ratio === undefined) {
    const vocab = given.vocab ?? tok.size;
    const ffn = given.ffn ?? spec.intermediate;
    if (method === 'vocab-only' && given.vocab === undefined) throw new UsageError('--method vocab-only needs --vocab, --vocab-ratio or --ratio');
    if (method === 'ffn-only' && given.ffn === undefined) throw new UsageError('--method ffn-only needs --ffn, --ffn-ratio or --ratio');
    return { kind: 'fixed', vocab, ffn, split: null };
  }
  if (given.vocab !== undefined && given.ffn !== undefined) throw new UsageError('with --ratio give at most one of --vocab and --ffn (the other is solved for)');
  if (method === 'vocab-only') return fixed(feasible(splitForShare(spec, ratio, 1, limits), `${what} from the vocabulary alone`));
  if (method === 'ffn-only') return fixed(feasible(splitForShare(spec, ratio, 0, limits), `${what} from the FFN alone`));
  if (given.vocab !== undefined) return fixed(feasible(splitForVocab(spec, ratio, given.vocab, limits), `${what} with --vocab ${given.vocab}`));
  if (given.ffn !== undefined) return fixed(feasible(splitForFfn(spec, ratio, given.ffn, limits), `${what} with --ffn ${given.ffn}`));
  const step = opts.plannerStep ?? DEFAULT_PLANNER_STEP;
  if (!(step > 0 && step <= 0.5)) throw new UsageError(`--planner-step must be in (0, 0.5], got ${step}`);
  const splits = candidateSplits(spec, ratio, step, limits);
  if (splits.every((s) => s.infeasible)) throw new UsageError(`${what}: no split of the vocabulary and FFN reaches it (${splits[splits.length - 1]!.infeasible})`);
  return { kind: 'planned', splits };
}

function fixed(s: Split): Plan {
  return { kind: 'fixed', vocab: s.vocab, ffn: s.ffn, split: s };
}

function sha256(arrays: ArrayBufferView[]): string {
  const h = createHash('sha256');
  for (const a of arrays) h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  return h.digest('hex');
}

/** Leaf-level differences between two JSON values, as edits for `patchJsonText`. */
function jsonEdits(a: unknown, b: unknown, path: string[] = []): Array<{ path: JsonPath; value: unknown }> {
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const out: Array<{ path: JsonPath; value: unknown }> = [];
    for (const k of Object.keys(b)) out.push(...jsonEdits((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], [...path, k]));
    return out;
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ path, value: b }];
}

async function readJsonFile(path: string): Promise<{ text: string; obj: Record<string, unknown> } | null> {
  return existsSync(path) ? readJsonObjectText(path) : null;
}

/** The input model, read once and shared by every folder this run writes (candidates and output). */
interface Source {
  dir: string;
  spec: ModelSpec;
  configText: string;
  configRaw: Record<string, unknown>;
  tok: TokenizerFile;
  genConfig: { text: string; obj: Record<string, unknown> } | null;
  ckpt: Checkpoint;
  select: SelectOptions;
}

/** One pruned model: the kept vocabulary, FFN channels and layers. */
interface Cut {
  pruned: PrunedTokenizer;
  vocab: number;
  /** Per layer kept channels, or null for all. */
  channels: Int32Array[] | null;
  ffn: number;
  /** Kept layers (old indices), or null for all. */
  layers: number[] | null;
  /** The down_proj refit of this cut (--reconstruct), or null for the plain slice. */
  refit?: CutRefit | null;
  /** The V′ asked for, whose token mask weighted act² (calibration results are keyed by it). */
  maskVocab?: number;
}

/** Writes a complete checkpoint folder for `cut` (weights, tokenizer, configs). */
async function writeFolder(src: Source, cut: Cut, dir: string, opts: PruneOptions, progress = false): Promise<void> {
  let entries = slicedEntries(src.ckpt, src.spec, { vocabRows: cut.pruned.newToOld, ffnChannels: cut.channels, outputDtype: opts.outputDtype ?? null, downRefit: cut.refit?.weights ?? null });
  if (cut.layers) entries = renumberLayers(entries, src.spec, cut.layers);
  if (progress) entries = withWriteProgress(entries, opts.quiet ? undefined : opts.onProgress);
  await writeCheckpoint(dir, entries, { maxShardBytes: opts.maxShardBytes });
  await writeFile(join(dir, 'tokenizer.json'), serializeTokenizerJson(cut.pruned.json));
  const layerChanges = cut.layers ? layerConfigChanges(src.configRaw, src.spec, cut.layers) : {};
  await writeConfig(dir, src.configText, src.configRaw, cut.pruned.oldToNew, cut.vocab, cut.ffn, opts.outputDtype, layerChanges);
  if (src.genConfig) {
    const remapped = remapSpecialIds(src.genConfig.obj, cut.pruned.oldToNew, 'generation_config.json');
    await writeFile(join(dir, 'generation_config.json'), patchJsonText(src.genConfig.text, jsonEdits(src.genConfig.obj, remapped)));
  }
  const tc = await readJsonFile(join(src.dir, 'tokenizer_config.json'));
  if (tc) await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify(remapSpecialIds(tc.obj, cut.pruned.oldToNew, 'tokenizer_config.json'), null, 2) + '\n');
}

/**
 * Prunes a model and writes a standard checkpoint: COMPACT (rarest tokens by policy, then FFN
 * channels by common-token-weighted activation energy), its vocab-only/ffn-only halves with any
 * FFN criterion, or ShortGPT's layer removal; with --ratio the sizes are solved or planned.
 */
export async function pruneModel(opts: PruneOptions): Promise<PruneReport> {
  const checked = await validate(opts);
  const planned = planRun(checked);
  return await withWeights(planned, async (ctx) => {
    const calibrated = await calibrateRun(ctx);
    return await withOutputDir(opts.out, { force: opts.force, input: ctx.model }, async (tmp) => {
      const chosen = await chooseCut(calibrated);
      return await writeOutput(calibrated, chosen, tmp);
    });
  });
}

/** The options resolved and checked against the input's config and tokenizer; no weight read yet. */
interface Checked {
  opts: PruneOptions;
  t0: number;
  source: ResolvedModel;
  /** The input folder, absolute. */
  model: string;
  spec: ModelSpec;
  configText: string;
  configRaw: Record<string, unknown>;
  tok: TokenizerFile;
  genConfig: { text: string; obj: Record<string, unknown> } | null;
  select: SelectOptions;
  method: PruneMethod;
  policy: 'id' | 'freq';
  criterion: FfnCriterion;
  seed: number;
  holdout: number;
  plannerTokens: number;
  calibPrecision: CalibPrecision;
  seqLen: number;
  plannerObjective: PlannerObjective;
  plannerSearch: PlannerSearch;
  userTexts: Array<{ file: string; text: string }>;
  calibTokens: number;
  ffnMultiple: number;
  limits: VocabLimits;
}

/** What to build, and the last checks: everything `pruneModel` refuses is refused by now. */
interface Planned extends Checked {
  plan: Plan;
  ridge: number;
  reconstruct: boolean;
  /** Whether some cut of the plan removes FFN channels. */
  cutsFfn: boolean;
  evalText: string | null;
}

/** A run with its weights open: the context every later step reads and fills in. */
interface PruneContext extends Planned {
  ckpt: Checkpoint;
  src: Source;
  onProgress: OnProgress | undefined;
  say: ProgressReporter;
  engineOpts: { device: PruneOptions['device']; threads: PruneOptions['threads'] };
  /** --reconstruct: the calibration Grams (closed with the checkpoint). */
  grams: GramStore | null;
  /** --reconstruct: the refit solve's f64 GEMM, shared by every cut (closed with the checkpoint). */
  refitGemm: Gemm<'float64'> | null;
  /** Loaded on first use (loadTokenizer). */
  textTok: TextTokenizer | null;
}

/** The calibration step's results, with the caches the cuts share. */
interface Calibrated extends PruneContext {
  /** One vocabulary cut per distinct V′ of the plan. */
  vocabs: number[];
  data: CalibrationData | null;
  calibText: string | null;
  keptByVocab: Map<number, Int32Array>;
  freqCounts: Uint32Array | null;
  calib: CalibrationResult | null;
  calibration: PruneReport['calibration'];
  magnitude: Float64Array[] | null;
  wanda: Float64Array[] | null;
  outputEnergies: Map<number, number>;
}

/** The cut to write, and what choosing it found (ShortGPT's layers, the planner's candidates). */
interface Chosen {
  cut: Cut;
  planner: PlannerReport | null;
  layers: PruneReport['layers'];
}

/** Step 1: reads the input's config and tokenizer (a hub model's small files only) and checks the options. */
async function validate(opts: PruneOptions): Promise<Checked> {
  const t0 = Date.now();
  // A hub model's small files come now; its weights once every option has been checked.
  const source = await resolveModel(opts.model, { ...opts.hub, weights: false });
  const model = resolve(source.dir);
  const { spec, text: configText, raw: configRaw } = readModelConfig(model);
  const tokPath = join(model, 'tokenizer.json');
  if (!existsSync(tokPath)) throw new CompactError(`${tokPath}: missing (vocabulary pruning needs the model's tokenizer.json)`);
  const tok = readTokenizerFile(tokPath);
  const method = opts.method ?? 'compact';
  if (!(PRUNE_METHODS as readonly string[]).includes(method)) throw new UsageError(`--method must be one of ${PRUNE_METHODS.join(', ')}, got ${String(method)}`);
  const policy = opts.vocabPolicy ?? 'id';
  if (policy === 'freq' && !opts.vocabCorpus) throw new UsageError('--vocab-policy freq needs --vocab-corpus FILE');
  if (policy !== 'id' && policy !== 'freq') throw new UsageError(`--vocab-policy must be id or freq, got ${String(policy)}`);
  const criterion = parseCriterion(opts.ffnCriterion);
  if (method === 'shortgpt' && opts.ffnCriterion !== undefined) throw new UsageError('--method shortgpt removes whole layers: --ffn-criterion does not apply');
  const seed = opts.seed ?? DEFAULT_SEED;
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer, got ${opts.seed}`);
  const holdout = opts.holdout ?? DEFAULT_HOLDOUT;
  if (!(holdout > 0 && holdout < 0.5)) throw new UsageError(`--holdout must be in (0, 0.5), got ${opts.holdout}`);
  const plannerTokens = opts.plannerTokens ?? Infinity;
  if (opts.plannerTokens !== undefined && !(Number.isInteger(plannerTokens) && plannerTokens >= 64)) throw new UsageError(`--planner-tokens must be an integer ≥ 64, got ${opts.plannerTokens}`);
  const calibPrecision = opts.calibPrecision ?? 'f32';
  if (!(CALIB_PRECISIONS as readonly string[]).includes(calibPrecision)) throw new UsageError(`--calib-precision must be one of ${CALIB_PRECISIONS.join(', ')}, got ${String(calibPrecision)}`);
  if (calibPrecision === 'int8' && opts.device === 'webgpu') throw new UsageError('--calib-precision int8 runs on the CPU (onnxruntime\'s DynamicQuantizeMatMul); it does not combine with --device webgpu');
  const seqLen = Math.min(opts.seqLen ?? DEFAULT_SEQ_LEN, spec.maxPositions);
  if (!(Number.isInteger(seqLen) && seqLen >= 2)) throw new UsageError(`--seq-len must be an integer ≥ 2, got ${opts.seqLen}`);
  const plannerObjective = opts.plannerObjective ?? 'robust';
  if (!(PLANNER_OBJECTIVES as readonly string[]).includes(plannerObjective)) throw new UsageError(`--planner-objective must be one of ${PLANNER_OBJECTIVES.join(', ')}, got ${String(plannerObjective)}`);
  const plannerSearch = opts.plannerSearch ?? 'coarse-to-fine';
  if (!(PLANNER_SEARCHES as readonly string[]).includes(plannerSearch)) throw new UsageError(`--planner-search must be one of ${PLANNER_SEARCHES.join(', ')}, got ${String(plannerSearch)}`);
  // Read (and so check) every planner text now, before any long work.
  const userTexts = (opts.plannerTexts ?? []).map((f) => ({ file: f, text: readCalibrationText(f) }));
  for (const u of userTexts) {
    if (opts.vocabCorpus && sameFileAs(u.file, opts.vocabCorpus)) throw new CompactError(`${u.file}: is also the --vocab-corpus; a held-out text the vocabulary was counted on would score it in-sample`);
    if (opts.calib && sameFileAs(u.file, opts.calib)) throw new CompactError(`${u.file}: is also the --calib text; the planner already holds out its tail (--holdout)`);
  }
  const calibTokens = opts.calibTokens ?? DEFAULT_CALIB_TOKENS;
  if (!(Number.isInteger(calibTokens) && calibTokens >= MIN_CALIB_TOKENS)) throw new UsageError(`--calib-tokens must be an integer ≥ ${MIN_CALIB_TOKENS}, got ${opts.calibTokens}`);

  const genConfig = await readJsonFile(join(model, 'generation_config.json'));
  const select: SelectOptions = { modelRows: spec.vocabSize, extraIds: [...referencedIds(configRaw), ...referencedIds(genConfig?.obj)] };
  // The tokens every cut keeps (added tokens, byte alphabet, ids the configs name): the smallest V′.
  const mandatory = new Set<number>(mandatoryIds(tok));
  for (const id of Array.from(select.extraIds ?? [])) if (id >= 0 && id < tok.size && tok.idToToken[id] !== undefined) mandatory.add(id);
  // Default: widths llama.cpp's block quantizers accept (budget.ts defaultFfnMultiple); 1 = the paper's exact sizes.
  const ffnMultiple = opts.ffnMultiple ?? defaultFfnMultiple(spec.intermediate);
  if (!(Number.isInteger(ffnMultiple) && ffnMultiple >= 1 && ffnMultiple <= spec.intermediate)) {
    throw new UsageError(`--ffn-multiple must be an integer in [1, ${spec.intermediate}] (intermediate_size), got ${opts.ffnMultiple}`);
  }
  const limits: VocabLimits = { tokenizerSize: tok.size, minVocab: mandatory.size, ffnMultiple };
  return { opts, t0, source, model, spec, configText, configRaw, tok, genConfig, select, method, policy, criterion, seed, holdout, plannerTokens, calibPrecision, seqLen, plannerObjective, plannerSearch, userTexts, calibTokens, ffnMultiple, limits };
}

/** Step 2: resolves what to build, then the checks that follow it (in this order: errors come in the order the flags are checked). */
function planRun(ctx: Checked): Planned {
  const { opts, method, spec, model } = ctx;
  const plan = resolvePlan(opts, method, spec, ctx.tok, ctx.limits);
  if (plan.kind === 'planned' && spec.moe) {
    throw new UsageError(`--ratio: the streamed planner does not slice routed experts yet (${spec.family.name} has ${spec.moe.experts} per layer); fix the split with --vocab or --ffn`);
  }
  checkPrunePaths({ model, out: opts.out, force: opts.force, exportPath: opts.exportPath, texts: [{ flag: '--calib', file: opts.calib }, { flag: '--vocab-corpus', file: opts.vocabCorpus }, { flag: '--eval-text', file: opts.evalText }] });
  const ridge = opts.reconstructRidge ?? DEFAULT_REFIT_RIDGE;
  if (!(Number.isFinite(ridge) && ridge >= 0)) throw new CompactError(`--reconstruct-ridge must be a number ≥ 0, got ${opts.reconstructRidge}`);
  if (opts.reconstructRidge !== undefined && !opts.reconstruct) throw new CompactError('--reconstruct-ridge needs --reconstruct');
  const cutsFfn = plan.kind === 'planned' ? plan.splits.some((s) => !s.infeasible && s.ffn < spec.intermediate) : plan.kind === 'fixed' && plan.ffn < spec.intermediate;
  if (opts.reconstruct && !cutsFfn) {
    throw new CompactError(`--reconstruct refits down_proj after an FFN cut; this run (${method === 'shortgpt' ? 'method shortgpt' : 'no FFN channel removed'}) cuts none`);
  }
  const reconstruct = !!opts.reconstruct;
  const evalText = opts.evalText !== undefined ? readEvalText(opts.evalText) : null;
  if (opts.exportPath !== undefined) checkFormatSupport(model, 'gguf');
  return { ...ctx, plan, ridge, reconstruct, cutsFfn, evalText };
}

/** Downloads (hub) and opens the weights, runs `steps` on them, and closes them (and the Grams) however it ends. */
async function withWeights<T>(planned: Planned, steps: (ctx: PruneContext) => Promise<T>): Promise<T> {
  await planned.source.complete();
  const ckpt = await openCheckpoint(planned.model);
  const src: Source = { dir: planned.model, spec: planned.spec, configText: planned.configText, configRaw: planned.configRaw, tok: planned.tok, genConfig: planned.genConfig, ckpt, select: planned.select };
  const onProgress = planned.opts.quiet ? undefined : planned.opts.onProgress;
  const say = new ProgressReporter('prune', 1, onProgress);
  const engineOpts = { device: planned.opts.device, threads: planned.opts.threads };
  const ctx: PruneContext = { ...planned, ckpt, src, onProgress, say, engineOpts, grams: null, refitGemm: null, textTok: null };
  try {
    return await steps(ctx);
  } finally {
    await ctx.grams?.close();
    await ctx.refitGemm?.close();
    await ckpt.close();
  }
}

function textTokenizer(ctx: PruneContext): TextTokenizer {
  return (ctx.textTok ??= loadTokenizer(ctx.model));
}

/** Step 3: which cuts need what (vocabulary cuts, one per distinct V′; the calibration statistics), and the calibration pass. */
async function calibrateRun(ctx: PruneContext): Promise<Calibrated> {
  const { opts, plan, spec } = ctx;
  const vocabs = plan.kind === 'planned' ? [...new Set(plan.splits.filter((s) => !s.infeasible).map((s) => s.vocab))] : [plan.vocab];
  const needs = ctx.cutsFfn ? act2Needed(ctx.criterion) : null;
  const calibNeeded = needs !== null || plan.kind !== 'fixed' || ctx.reconstruct;
  let data: CalibrationData | null = null;
  let calibText: string | null = null;
  if (calibNeeded) {
    const label = opts.calib ?? 'built-in calibration text';
    const text = (calibText = opts.calib ? readCalibrationText(opts.calib) : defaultCalibrationText());
    data = calibrationData(textTokenizer(ctx), text, { calibTokens: ctx.calibTokens, seqLen: ctx.seqLen, allowShort: !!opts.allowShortCalib, holdout: plan.kind === 'planned' ? ctx.holdout : 0, label });
  }
  const cal: Calibrated = { ...ctx, vocabs, data, calibText, keptByVocab: new Map(), freqCounts: null, calib: null, calibration: null, magnitude: null, wanda: null, outputEnergies: new Map() };
  // Kept ids of every cut now (the masks need them); the tokenizer surgery only when a cut is built,
  // so a planner over a 128k-token vocabulary holds one pruned tokenizer.json at a time.
  for (const v of vocabs) cal.keptByVocab.set(v, keptIds(cal, v));
  if (!data) return cal;
  const masks = needs === 'common' ? vocabs.map((v) => maskOf(cal.keptByVocab.get(v)!, spec.vocabSize)) : [];
  const all = needs === 'all';
  // Also set on the run's context, which closes it.
  if (ctx.reconstruct) {
    ctx.grams = cal.grams = await GramStore.create(spec.intermediate, expertCount(spec));
    ctx.refitGemm = cal.refitGemm = new Gemm('float64', ctx.engineOpts.threads);
  }
  const gram = cal.grams ?? undefined;
  if (needs !== null || plan.kind === 'layers' || ctx.reconstruct) {
    cal.calib = await calibrate(ctx.model, data.fit, { masks, all, cosine: plan.kind === 'layers', gram }, { ...ctx.engineOpts, precision: ctx.calibPrecision }, ctx.onProgress);
  }
  // The share of calibration positions whose token survives the (final) vocabulary cut is filled in below.
  cal.calibration = {
    source: opts.calib ? basename(opts.calib) : DEFAULT_CALIBRATION_NAME,
    tokens: data.fitTokens,
    sequences: data.fit.length,
    seq_len: ctx.seqLen,
    precision: ctx.calibPrecision,
    common_token_share: 1,
    vocab_coverage: null,
  };
  return cal;
}

/** The token ids a vocabulary of V′ `vocab` keeps, by the policy (freq: corpus counts, computed once). */
function keptIds(cal: Calibrated, vocab: number): Int32Array {
  const { tok, select } = cal;
  if (cal.policy === 'id') return selectKeptIds(tok, { policy: 'id', vocabSize: vocab }, select);
  cal.freqCounts ??= corpusCounts(textTokenizer(cal), readCalibrationText(cal.opts.vocabCorpus!), cal.calibText, cal.data);
  return selectKeptIds(tok, { policy: 'freq', vocabSize: vocab, counts: cal.freqCounts, priorStrength: cal.opts.vocabPriorStrength }, select);
}

function prunedTokenizer(cal: Calibrated, vocab: number): PrunedTokenizer {
  return pruneTokenizer(cal.tok, cal.keptByVocab.get(vocab)!);
}

/** FFN channels of a cut, by the criterion. */
async function channelsFor(cal: Calibrated, vocab: number, ffn: number): Promise<Int32Array[] | null> {
  const { spec, criterion, calib } = cal;
  if (ffn >= spec.intermediate) return null;
  let scores: Float64Array[];
  if (criterion === 'act2-common') scores = calib!.byMask[cal.vocabs.indexOf(vocab)]!;
  else if (criterion === 'act2-all') scores = calib!.all!;
  else if (criterion === 'wanda-sp') scores = cal.wanda ??= await wandaSpScores(cal.ckpt, spec, calib!.all!);
  else if (criterion === 'magnitude') scores = cal.magnitude ??= await magnitudeScores(cal.ckpt, spec);
  else scores = randomScores(spec, cal.seed);
  return scores.map((s) => selectChannels(spec, s, ffn));
}

async function cutFor(cal: Calibrated, vocab: number, ffn: number): Promise<Cut> {
  const pruned = prunedTokenizer(cal, vocab);
  const channels = await channelsFor(cal, vocab, ffn);
  const refit = channels && cal.grams ? new CutRefit(cal.ckpt, cal.spec, cal.grams, channels, cal.ridge, cal.outputEnergies, cal.refitGemm!) : null;
  return { pruned, vocab: pruned.newToOld.length, channels, ffn, layers: null, maskVocab: vocab, refit };
}

/** Step 4: the cut: fixed, planned (every candidate built and scored on the held-out text), or ShortGPT's. */
async function chooseCut(cal: Calibrated): Promise<Chosen> {
  const { plan } = cal;
  if (plan.kind === 'fixed') return { cut: await cutFor(cal, plan.vocab, plan.ffn), planner: null, layers: null };
  if (plan.kind === 'layers') return dropLayers(cal, plan);
  return await planCut(cal, plan);
}

function dropLayers(cal: Calibrated, plan: Extract<Plan, { kind: 'layers' }>): Chosen {
  const { spec } = cal;
  const bi = blockInfluence(cal.calib!.layerCosine!);
  const dropped = lowestInfluence(bi, plan.drop);
  const kept = bi.map((_, i) => i).filter((i) => !dropped.includes(i));
  const pruned = prunedTokenizer(cal, plan.vocab);
  const cut: Cut = { pruned, vocab: pruned.newToOld.length, channels: null, ffn: spec.intermediate, layers: kept };
  const layers = { before: spec.layers, after: kept.length, dropped, block_influence: bi };
  cal.say.message(`shortgpt: block influence ${bi.map((b) => b.toFixed(4)).join(', ')}; dropping layers ${dropped.join(', ')}`);
  return { cut, planner: null, layers };
}

/** Tokens per planner text: the held-out tail's, at most --planner-tokens (no limit by default). */
function scoredTokens(cal: Calibrated, d: CalibrationData): number {
  return Math.min(d.heldoutTokens, cal.plannerTokens);
}

/** The texts the planner scores candidates on: the calibration tail, and (robust) the reference and the user's texts; then the check texts. */
function plannerTexts(cal: Calibrated, d: CalibrationData): PlannerTextInput[] {
  const { opts } = cal;
  const n = scoredTokens(cal, d);
  const tt = textTokenizer(cal);
  // The tail's first n tokens (all of it when it is no longer).
  const heldout = n < d.heldoutTokens ? tt.decode(tt.encodePrefix(d.heldoutText!, n).subarray(0, n)) : d.heldoutText!;
  const texts: PlannerTextInput[] = [{ name: 'calib-heldout', role: 'heldout', text: heldout }];
  if (cal.plannerObjective === 'robust') {
    const calibChars = opts.calib ? null : tt.decode(d.fit.flatMap((x) => [...x]).slice(1)).length + d.heldoutText!.length;
    texts.push({ name: REFERENCE_TEXT_NAME, role: 'reference', text: referenceText(tt, n, calibChars) });
    // A user's text is scored on as many tokens as the calibration tail, from its start.
    const names = new Set(texts.map((t) => t.name));
    for (const u of cal.userTexts) {
      let name = basename(u.file);
      for (let k = 2; names.has(name); k++) name = `${basename(u.file)}#${k}`;
      names.add(name);
      texts.push({ name, role: 'user', text: tt.decode(tt.encodePrefix(u.text, n).subarray(0, n)) });
    }
  }
  for (const c of opts.plannerCheckTexts ?? []) texts.push({ name: c.name, role: 'check', text: c.text });
  return texts;
}

/** A planner candidate (null: the dense model) as the planner scores it. */
async function candidateModel(cal: Calibrated, tokConfig: { obj: Record<string, unknown> } | null, sp: Split | null): Promise<CandidateModel> {
  const { spec } = cal;
  const denseStart = textTokenizer(cal).streamStartId;
  if (sp === null) return { rows: Int32Array.from({ length: spec.vocabSize }, (_, i) => i), channels: null, encode: (t) => textTokenizer(cal).encode(t), startId: denseStart, vocab: spec.vocabSize, ratio: 0 };
  const c = await cutFor(cal, sp.vocab, sp.ffn);
  // As loadTokenizer would read the written folder: its tokenizer_config, generation_config and config.
  const remap = <T,>(o: T, file: string): T => remapSpecialIds(o, c.pruned.oldToNew, file);
  const modelConfig = { ...(cal.genConfig ? remap(cal.genConfig.obj, 'generation_config.json') : {}), ...remap(cal.configRaw, 'config.json') } as JsonObject;
  const tt = createTokenizer(c.pruned.json, tokConfig ? (remap(tokConfig.obj, 'tokenizer_config.json') as JsonObject) : {}, { modelConfig });
  // With --reconstruct each candidate is scored with its own refit down_proj (the optimum moves toward the FFN).
  const refit = c.refit;
  const downProj = refit ? (l: number) => refit.weights(l) : undefined;
  return { rows: c.pruned.newToOld, channels: c.channels, encode: (t) => tt.encode(t), startId: c.pruned.oldToNew[denseStart]!, vocab: c.vocab, ratio: achievedRatio(spec, c.vocab, c.ffn), downProj };
}

async function planCut(cal: Calibrated, plan: Extract<Plan, { kind: 'planned' }>): Promise<Chosen> {
  const { opts, plannerObjective, plannerSearch } = cal;
  const p0 = performance.now();
  const d = cal.data!;
  const texts = plannerTexts(cal, d);
  const tokConfig = await readJsonFile(join(cal.model, 'tokenizer_config.json'));
  const scored = await planSplit({
    splits: plan.splits,
    search: plannerSearch,
    objective: plannerObjective,
    texts,
    seqLen: cal.seqLen,
    model: (sp) => candidateModel(cal, tokConfig, sp),
    score: (variants) => scoreVariants(cal.model, variants, cal.engineOpts),
    maxPassTokens: d.fitTokens,
    say: (line) => cal.say.message(line),
  });
  const best = scored.candidates[scored.chosen]!;
  const cut = await cutFor(cal, plan.splits[scored.chosen]!.vocab, best.ffn);
  const planner: PlannerReport = {
    target_ratio: opts.ratio!,
    share_step: opts.plannerStep ?? DEFAULT_PLANNER_STEP,
    search: plannerSearch,
    objective: plannerObjective,
    fit_tokens: d.fitTokens,
    heldout: { fraction: cal.holdout, tokens: d.heldoutTokens, bytes: Buffer.byteLength(d.heldoutText!, 'utf8'), scored_tokens: scoredTokens(cal, d) },
    texts: scored.texts,
    candidates: scored.candidates,
    chosen: scored.chosen,
    passes: scored.passes,
    candidate_bytes_written: 0,
    seconds: (performance.now() - p0) / 1000,
  };
  cal.say.message(`planner: chose vocab share ${(100 * best.share).toFixed(1)}% (V′ ${best.vocab}, I′ ${best.ffn}), ${plannerObjective} objective ${best.bpb!.toFixed(4)} after ${scored.passes} streamed passes`);
  return { cut, planner, layers: null };
}

/** Step 5: the report, the pruned folder, the copied files, the quality figures and the model card, into `tmp`. */
async function writeOutput(cal: Calibrated, chosen: Chosen, tmp: string): Promise<PruneReport> {
  const { opts, spec, tok, plan, calib, calibration, criterion, policy, say } = cal;
  const { cut } = chosen;
  if (calibration) {
    let kept = 0;
    for (const s of cal.data!.fit) for (const id of s) if (cut.pruned.oldToNew[id]! >= 0) kept++;
    calibration.common_token_share = kept / cal.data!.fitTokens;
    const asked = plan.kind === 'planned' ? plan.splits.filter((s) => !s.infeasible).map((s) => s.vocab) : [];
    calibration.vocab_coverage = vocabCoverage(cal.data!.fit, spec.vocabSize, (v) => keptIds(cal, v), cal.limits.minVocab, tok.size, [cut.vocab, ...asked]);
  }
  const energy = calib && cut.channels ? (criterion === 'act2-common' ? calib.byMask[cal.vocabs.indexOf(cut.maskVocab!)] : calib.all) : null;
  say.message(`vocabulary: keeping ${cut.vocab} of ${tok.size} tokens (${spec.vocabSize} embedding rows) by ${policy} policy`);
  if (cut.channels) say.message(`ffn: keeping ${cut.ffn} of ${spec.intermediate} channels per layer (${criterion}${calibration ? `, ${calibration.tokens} calibration tokens` : ''})`);

  const report = buildReport(cal, chosen, energy);
  await writeFolder(cal.src, cut, tmp, opts, true);
  if (cut.refit) reportRefit(cal, cut.refit, report);
  report.dropped_files = await copyOthers(cal.model, tmp);
  if (cal.evalText !== null) report.quality = await measureQuality(cal.model, tmp, opts.evalText!, cal.evalText, spec.maxPositions, cal.engineOpts, cal.onProgress);
  const inputCard = existsSync(join(cal.model, 'README.md')) ? await readFile(join(cal.model, 'README.md'), 'utf8') : null;
  await writeModelCard(tmp, report, { inputCardText: inputCard, tied: spec.tied });
  report.files = await manifestOf(tmp, new Set(['compact-report.json']));
  report.run.wall_seconds = (Date.now() - cal.t0) / 1000;
  report.run.peak_rss_bytes = peakRssBytes();
  await writeFile(join(tmp, 'compact-report.json'), JSON.stringify(report, null, 2) + '\n');
  return report;
}

/** The report as known before the folder is written (refit, dropped files, quality, files and figures are filled in after). */
function buildReport(cal: Calibrated, chosen: Chosen, energy: Float64Array[] | null | undefined): PruneReport {
  const { opts, spec, tok, method, policy, criterion, calib, calibration } = cal;
  const { cut } = chosen;
  const before = countParams(spec);
  const after = countParams(spec, { vocab: cut.vocab, intermediate: cut.ffn, layers: cut.layers?.length });
  return {
    tool: toolVersion().name,
    tool_version: toolVersion().version,
    method,
    input: cal.source.hub ? opts.model : cal.model,
    hub: cal.source.hub,
    command: opts.command ?? null,
    output: opts.out,
    flags: reportFlags({ ...opts, ffnMultiple: cal.ffnMultiple }, cal, cut),
    family: spec.family.name,
    weights_dtype: opts.outputDtype ?? dominantDtype(cal.ckpt),
    vocab: {
      policy,
      tokenizer_size_before: tok.size,
      embedding_rows_before: spec.vocabSize,
      kept: cut.vocab,
      kept_ids_sha256: sha256([cut.pruned.newToOld]),
    },
    ffn: {
      criterion: cut.channels ? criterion : null,
      intermediate_before: spec.intermediate,
      intermediate_after: cut.ffn,
      kept_channels_sha256: cut.channels ? sha256(cut.channels) : null,
      kept_energy_share: energy && cut.channels ? keptEnergyShare(energy, cut.channels) : null,
      refit: null,
    },
    layers: chosen.layers,
    calibration,
    planner: chosen.planner,
    params: { before, after, reduction: reduction(before, after) },
    quality: null,
    dropped_files: [],
    files: [],
    run: {
      command_line: opts.commandLine ?? null,
      wall_seconds: 0,
      calibration_seconds: calib?.seconds ?? 0,
      calibration_tokens_per_second: calib ? calib.tokens / Math.max(calib.seconds, 1e-9) : null,
      peak_rss_bytes: 0,
      threads: opts.threads ?? null,
      device: opts.device ?? 'cpu',
    },
  };
}

/** --reconstruct: the refit's report, and its lines (layers that kept the plain slice, the loss before and after). */
function reportRefit(cal: Calibrated, cutRefit: CutRefit, report: PruneReport): void {
  const refit = (report.ffn.refit = cutRefit.report());
  const kept = refit.layers.filter((l) => l.fallback);
  for (const l of kept) cal.say.message(`refit: ${refitUnit(l)} keeps the plain slice: ${l.fallback}`);
  const mean = (k: 'loss_plain' | 'loss_refit') => refit.layers.reduce((a, l) => a + l[k], 0) / refit.layers.length;
  cal.say.message(`refit: down_proj of ${refit.layers.length - kept.length}/${refit.layers.length} ${refitUnits(refit)} (λ ${cal.ridge}); calibration loss of the cut ${fmtShare(mean('loss_plain'))} → ${fmtShare(mean('loss_refit'))} of the FFN output energy`);
}

function fmtShare(x: number): string {
  return `${(100 * x).toFixed(2)}%`;
}

async function writeConfig(
  dir: string,
  text: string,
  raw: Record<string, unknown>,
  oldToNew: Int32Array,
  vocab: number,
  ffn: number,
  outputDtype: PruneOptions['outputDtype'],
  extra: Record<string, unknown> = {},
): Promise<void> {
  const target = { ...remapSpecialIds(raw, oldToNew, 'config.json'), vocab_size: vocab, intermediate_size: ffn, ...extra } as Record<string, unknown>;
  if (outputDtype) {
    const name = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[outputDtype];
    if ('dtype' in raw || !('torch_dtype' in raw)) target.dtype = name;
    if ('torch_dtype' in raw) target.torch_dtype = name;
  }
  await writeFile(join(dir, 'config.json'), patchJsonText(text, jsonEdits(raw, target)));
}

/** Copies the files pruning does not change; returns the stale ones it left out. */
async function copyOthers(from: string, to: string): Promise<string[]> {
  const dropped: string[] = [];
  for (const name of (await readdir(from)).sort()) {
    if (REWRITTEN.has(name)) continue;
    const src = join(from, name);
    if (!(await stat(src)).isFile()) continue;
    if (STALE.some((re) => re.test(name))) {
      if (!/\.safetensors$/.test(name)) dropped.push(name);
      continue;
    }
    await copyFile(src, join(to, name));
    // Inputs are often read-only (a shared cache); the output is the user's to edit.
    await chmod(join(to, name), 0o644);
  }
  return dropped;
}

function reportFlags(opts: PruneOptions, cal: Calibrated, cut: Cut): Record<string, unknown> {
  const { method, policy, criterion, seqLen, calibTokens, seed, holdout } = cal;
  const planned = cal.plan.kind === 'planned';
  return {
    method,
    ratio: opts.ratio ?? null,
    vocab: cut.vocab,
    ffn: cut.ffn,
    layers: cut.layers?.length ?? null,
    vocab_policy: policy,
    vocab_corpus: opts.vocabCorpus ? basename(opts.vocabCorpus) : null,
    ffn_criterion: method === 'shortgpt' ? null : criterion,
    seed: criterion === 'random' ? seed : null,
    planner_step: planned ? (opts.plannerStep ?? DEFAULT_PLANNER_STEP) : null,
    planner_objective: planned ? (opts.plannerObjective ?? 'robust') : null,
    planner_search: planned ? (opts.plannerSearch ?? 'coarse-to-fine') : null,
    planner_texts: planned ? (opts.plannerTexts ?? []).map((f) => basename(f)) : null,
    ffn_multiple: opts.ffnMultiple ?? null,
    reconstruct: Boolean(opts.reconstruct),
    reconstruct_ridge: opts.reconstruct ? (opts.reconstructRidge ?? DEFAULT_REFIT_RIDGE) : null,
    holdout: planned ? holdout : null,
    calib: opts.calib ? basename(opts.calib) : null,
    calib_tokens: calibTokens,
    seq_len: seqLen,
    allow_short_calib: Boolean(opts.allowShortCalib),
    output_dtype: opts.outputDtype ?? null,
  };
}
