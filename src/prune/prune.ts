import { createHash } from 'node:crypto';
import { chmod, copyFile, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { CompactError } from '../errors.ts';
import { patchJsonText, parseJson, type JsonPath } from '../json-text.ts';
import { readModelConfig } from '../families/model-config.ts';
import type { ModelSpec } from '../families/types.ts';
import { openCheckpoint } from '../io/safetensors.ts';
import { writeCheckpoint } from '../io/safetensors-writer.ts';
import { withOutputDir } from '../io/atomic-dir.ts';
import { readTokenizerFile, serializeTokenizerJson, type TokenizerFile } from '../tokenizer/tokenizer-file.ts';
import { countTokens, selectKeptIds } from '../tokenizer/vocab-select.ts';
import { pruneTokenizer } from '../tokenizer/tokenizer-prune.ts';
import { referencedIds, remapSpecialIds } from '../tokenizer/special-ids.ts';
import { loadTokenizer, type TextTokenizer } from '../tokenizer/tokenize.ts';
import { Engine } from '../engine/runner.ts';
import { countParams, reduction, type ParamBreakdown } from '../report/params.ts';
import { peakRssBytes, Progress } from '../report/progress.ts';
import { cutSequences, defaultCalibrationText, DEFAULT_CALIBRATION_NAME, readCalibrationText } from './calibration-text.ts';
import { topChannels } from './channel-select.ts';
import { slicedEntries } from './slice.ts';

export type FfnCriterion = 'act2-common' | 'act2-all';

export interface PruneOptions {
  model: string;
  out: string;
  force?: boolean;
  /** Tokens kept (V′, everything counted), or the kept fraction of the tokenizer's vocabulary. */
  vocab?: number;
  vocabRatio?: number;
  vocabPolicy?: 'id' | 'freq';
  vocabCorpus?: string;
  /** FFN channels kept per layer (I′), or the kept fraction of intermediate_size. */
  ffn?: number;
  ffnRatio?: number;
  ffnCriterion?: FfnCriterion;
  calib?: string;
  calibTokens?: number;
  seqLen?: number;
  allowShortCalib?: boolean;
  device?: 'cpu' | 'webgpu';
  threads?: number;
  outputDtype?: 'F32' | 'F16' | 'BF16';
  maxShardBytes?: number;
  quiet?: boolean;
}

export interface PruneReport {
  tool: string;
  method: 'compact';
  input: string;
  output: string;
  flags: Record<string, unknown>;
  family: string;
  vocab: {
    policy: 'id' | 'freq';
    tokenizer_size_before: number;
    embedding_rows_before: number;
    kept: number;
    kept_ids_sha256: string;
  };
  ffn: { criterion: FfnCriterion | null; intermediate_before: number; intermediate_after: number; kept_channels_sha256: string | null };
  calibration: { source: string; tokens: number; sequences: number; seq_len: number; common_token_share: number } | null;
  params: { before: ParamBreakdown; after: ParamBreakdown; reduction: number };
  dropped_files: string[];
  /** Figures of this run: they differ between runs, everything else in the folder does not. */
  run: { wall_seconds: number; calibration_seconds: number; calibration_tokens_per_second: number | null; peak_rss_bytes: number; threads: number | null; device: string };
}

export const DEFAULT_CALIB_TOKENS = 32768;
export const DEFAULT_SEQ_LEN = 2048;

/** Files whose contents pruning changes, written from scratch rather than copied. */
const REWRITTEN = new Set(['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'model.safetensors.index.json', 'compact-report.json']);
/**
 * Files that would describe the dense model after pruning (slow-tokenizer vocabularies, other
 * weight formats): copying them would leave a folder that contradicts itself, so they are dropped
 * and listed in the report.
 */
const STALE = [/\.safetensors$/, /\.bin$/, /\.pt$/, /\.pth$/, /\.ckpt$/, /\.gguf$/, /\.onnx(_data)?$/, /\.msgpack$/, /\.h5$/, /^tokenizer\.model$/, /^vocab\.json$/, /^merges\.txt$/, /^vocab\.txt$/];

interface Budget {
  vocab: number;
  ffn: number;
}

function resolveBudget(opts: PruneOptions, spec: ModelSpec, tok: TokenizerFile): Budget {
  const ratio = (name: string, r: number | undefined) => {
    if (r !== undefined && !(r > 0 && r < 1)) throw new CompactError(`--${name} must be in (0, 1), got ${r}`);
    return r;
  };
  if (opts.vocab !== undefined && opts.vocabRatio !== undefined) throw new CompactError('give --vocab or --vocab-ratio, not both');
  if (opts.ffn !== undefined && opts.ffnRatio !== undefined) throw new CompactError('give --ffn or --ffn-ratio, not both');
  const vr = ratio('vocab-ratio', opts.vocabRatio);
  const fr = ratio('ffn-ratio', opts.ffnRatio);
  const vocab = opts.vocab ?? (vr !== undefined ? Math.round(vr * tok.size) : tok.size);
  const ffn = opts.ffn ?? (fr !== undefined ? Math.max(1, Math.round(fr * spec.intermediate)) : spec.intermediate);
  if (!Number.isInteger(vocab) || vocab < 1 || vocab > tok.size) {
    throw new CompactError(`--vocab must be an integer in [1, ${tok.size}] (the tokenizer's size), got ${vocab}`);
  }
  if (!Number.isInteger(ffn) || ffn < 1 || ffn > spec.intermediate) {
    throw new CompactError(`--ffn must be an integer in [1, ${spec.intermediate}] (intermediate_size), got ${ffn}`);
  }
  return { vocab, ffn };
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
  if (!existsSync(path)) return null;
  const text = await readFile(path, 'utf8');
  return { text, obj: parseJson(text, path) as Record<string, unknown> };
}

/**
 * COMPACT: prune the vocabulary (rarest tokens by policy), then the FFN channels by
 * common-token-weighted activation energy, and write a standard checkpoint.
 */
export async function pruneModel(opts: PruneOptions): Promise<PruneReport> {
  const t0 = Date.now();
  const model = resolve(opts.model);
  const { spec, text: configText, raw: configRaw } = readModelConfig(model);
  const tokPath = join(model, 'tokenizer.json');
  if (!existsSync(tokPath)) throw new CompactError(`${tokPath}: missing (vocabulary pruning needs the model's tokenizer.json)`);
  const tok = readTokenizerFile(tokPath);
  const budget = resolveBudget(opts, spec, tok);
  const policy = opts.vocabPolicy ?? 'id';
  if (policy === 'freq' && !opts.vocabCorpus) throw new CompactError('--vocab-policy freq needs --vocab-corpus FILE');
  if (policy !== 'id' && policy !== 'freq') throw new CompactError(`--vocab-policy must be id or freq, got ${String(policy)}`);
  const criterion: FfnCriterion = opts.ffnCriterion ?? 'act2-common';
  if (criterion !== 'act2-common' && criterion !== 'act2-all') throw new CompactError(`--ffn-criterion must be act2-common or act2-all, got ${String(criterion)}`);
  const seqLen = Math.min(opts.seqLen ?? DEFAULT_SEQ_LEN, spec.maxPositions);
  if (!(Number.isInteger(seqLen) && seqLen >= 2)) throw new CompactError(`--seq-len must be an integer ≥ 2, got ${opts.seqLen}`);
  const calibTokens = opts.calibTokens ?? DEFAULT_CALIB_TOKENS;
  if (!(Number.isInteger(calibTokens) && calibTokens >= 1)) throw new CompactError(`--calib-tokens must be a positive integer, got ${opts.calibTokens}`);

  const ckpt = await openCheckpoint(model);
  const say = new Progress('prune', 1, 'tokens', process.stderr, opts.quiet);
  try {
    // 1. Vocabulary: choose the kept ids, cut the tokenizer, remap ids everywhere.
    let textTok: TextTokenizer | null = null;
    const textTokenizer = () => (textTok ??= loadTokenizer(model));
    const genConfig = await readJsonFile(join(model, 'generation_config.json'));
    const select = { modelRows: spec.vocabSize, extraIds: [...referencedIds(configRaw), ...referencedIds(genConfig?.obj)] };
    let kept: Int32Array;
    if (policy === 'id') {
      kept = selectKeptIds(tok, { policy: 'id', vocabSize: budget.vocab }, select);
    } else {
      const counts = countTokens(textTokenizer(), readCalibrationText(opts.vocabCorpus!));
      kept = selectKeptIds(tok, { policy: 'freq', vocabSize: budget.vocab, counts }, select);
    }
    const pruned = pruneTokenizer(tok, kept);
    say.message(`vocabulary: keeping ${kept.length} of ${tok.size} tokens (${spec.vocabSize} embedding rows) by ${policy} policy`);

    // 2. FFN: calibrate and rank channels, unless every channel stays.
    let channels: Int32Array[] | null = null;
    let calibration: PruneReport['calibration'] = null;
    let calibSeconds = 0;
    let calibRate: number | null = null;
    if (budget.ffn < spec.intermediate) {
      const source = opts.calib ?? DEFAULT_CALIBRATION_NAME;
      const text = opts.calib ? readCalibrationText(opts.calib) : defaultCalibrationText();
      const tt = textTokenizer();
      const ids = tt.encode(text);
      const stream = new Int32Array(ids.length + 1);
      stream[0] = tt.streamStartId;
      stream.set(ids, 1);
      if (stream.length < calibTokens && !opts.allowShortCalib) {
        throw new CompactError(`${opts.calib ?? 'built-in calibration text'}: has ${stream.length} tokens, fewer than --calib-tokens ${calibTokens}; pass --allow-short-calib to use them all`);
      }
      const seqs = cutSequences(stream, seqLen, calibTokens);
      const weights = seqs.map((s) => {
        const w = new Float32Array(s.length);
        for (let i = 0; i < s.length; i++) w[i] = criterion === 'act2-all' || pruned.oldToNew[s[i]!]! >= 0 ? 1 : 0;
        return w;
      });
      const tokens = seqs.reduce((a, s) => a + s.length, 0);
      const common = weights.reduce((a, w) => a + w.reduce((x, y) => x + y, 0), 0);
      const engine = await Engine.open(model, { device: opts.device, threads: opts.threads });
      try {
        // The rate is whole-model tokens/s: after d of L layers, d/L of a pass over the tokens is done.
        const bar = new Progress('calibrate', spec.layers, 'tokens', process.stderr, opts.quiet);
        const res = await engine.forward(seqs, { act2: true, tokenWeights: weights, lastLayer: spec.layers - 1 }, (p) =>
          bar.update(p.layer + 1, (p.tokens * (p.layer + 1)) / p.layers, `layer ${p.layer + 1}/${p.layers}`),
        );
        calibSeconds = res.seconds;
        calibRate = res.tokens / Math.max(res.seconds, 1e-9);
        channels = res.act2!.map((scores) => topChannels(scores, budget.ffn));
      } finally {
        await engine.close();
      }
      calibration = { source: opts.calib ? basename(opts.calib) : source, tokens, sequences: seqs.length, seq_len: seqLen, common_token_share: common / tokens };
      say.message(`ffn: keeping ${budget.ffn} of ${spec.intermediate} channels per layer (${criterion}, ${tokens} calibration tokens)`);
    }

    // 3. Write the standard checkpoint into a temporary folder, renamed into place when complete.
    const before = countParams(spec);
    const after = countParams(spec, { vocab: kept.length, intermediate: budget.ffn });
    const report: PruneReport = {
      tool: 'compact',
      method: 'compact',
      input: opts.model,
      output: opts.out,
      flags: reportFlags(opts, budget, policy, criterion, seqLen, calibTokens),
      family: spec.family.name,
      vocab: {
        policy,
        tokenizer_size_before: tok.size,
        embedding_rows_before: spec.vocabSize,
        kept: kept.length,
        kept_ids_sha256: sha256([pruned.newToOld]),
      },
      ffn: {
        criterion: channels ? criterion : null,
        intermediate_before: spec.intermediate,
        intermediate_after: budget.ffn,
        kept_channels_sha256: channels ? sha256(channels) : null,
      },
      calibration,
      params: { before, after, reduction: reduction(before, after) },
      dropped_files: [],
      run: { wall_seconds: 0, calibration_seconds: calibSeconds, calibration_tokens_per_second: calibRate, peak_rss_bytes: 0, threads: opts.threads ?? null, device: opts.device ?? 'cpu' },
    };

    await withOutputDir(opts.out, { force: opts.force, input: model }, async (tmp) => {
      await writeCheckpoint(
        tmp,
        slicedEntries(ckpt, spec, { vocabRows: pruned.newToOld, ffnChannels: channels, outputDtype: opts.outputDtype ?? null }),
        { maxShardBytes: opts.maxShardBytes },
      );
      await writeFile(join(tmp, 'tokenizer.json'), serializeTokenizerJson(pruned.json));
      await writeConfig(tmp, configText, configRaw, pruned.oldToNew, kept.length, budget.ffn, opts.outputDtype);
      if (genConfig) {
        const remapped = remapSpecialIds(genConfig.obj, pruned.oldToNew, 'generation_config.json');
        await writeFile(join(tmp, 'generation_config.json'), patchJsonText(genConfig.text, jsonEdits(genConfig.obj, remapped)));
      }
      const tc = await readJsonFile(join(model, 'tokenizer_config.json'));
      if (tc) await writeFile(join(tmp, 'tokenizer_config.json'), JSON.stringify(remapSpecialIds(tc.obj, pruned.oldToNew, 'tokenizer_config.json'), null, 2) + '\n');
      report.dropped_files = await copyOthers(model, tmp);
      report.run.wall_seconds = (Date.now() - t0) / 1000;
      report.run.peak_rss_bytes = peakRssBytes();
      await writeFile(join(tmp, 'compact-report.json'), JSON.stringify(report, null, 2) + '\n');
    });
    return report;
  } finally {
    await ckpt.close();
  }
}

async function writeConfig(
  dir: string,
  text: string,
  raw: Record<string, unknown>,
  oldToNew: Int32Array,
  vocab: number,
  ffn: number,
  outputDtype: PruneOptions['outputDtype'],
): Promise<void> {
  const target = { ...remapSpecialIds(raw, oldToNew, 'config.json'), vocab_size: vocab, intermediate_size: ffn } as Record<string, unknown>;
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

function reportFlags(opts: PruneOptions, b: Budget, policy: string, criterion: string, seqLen: number, calibTokens: number): Record<string, unknown> {
  return {
    vocab: b.vocab,
    ffn: b.ffn,
    vocab_policy: policy,
    vocab_corpus: opts.vocabCorpus ? basename(opts.vocabCorpus) : null,
    ffn_criterion: criterion,
    calib: opts.calib ? basename(opts.calib) : null,
    calib_tokens: calibTokens,
    seq_len: seqLen,
    allow_short_calib: Boolean(opts.allowShortCalib),
    output_dtype: opts.outputDtype ?? null,
  };
}
