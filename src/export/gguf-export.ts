/**
 * Hugging Face checkpoint folder → one GGUF file for llama.cpp, written atomically and streamed
 * tensor by tensor.
 *
 * Metadata follows convert_hf_to_gguf.py (TextModel.set_gguf_parameters plus each model class's
 * overrides, which are data here: the descriptor's `formats.gguf`). Where llama.cpp cannot express
 * a config value directly, the export either folds it into the weights so llama.cpp computes the
 * same function, or refuses with a CompactError — it never writes a file that silently differs:
 * - llama3 rope scaling → a `rope_freqs` tensor of per-frequency divisors (as the converter does);
 * - sliding-window attention on an arch without `slidingPattern` (Mistral as `llama`): llama.cpp
 *   has no window there, so `context_length` is capped at the window — within it, full and
 *   sliding attention are the same function;
 * - `fixedAttnScale` (Gemma): llama.cpp hard-codes the attention scale (1/sqrt(head_dim), or
 *   1/sqrt(hidden/heads) for the 62-layer 27B); a different `query_pre_attn_scalar` is folded
 *   into q_norm;
 * - `slidingPattern`: sliding layers must follow a period p (layer i slides iff i mod p < p − 1),
 *   which `attention.sliding_window_pattern` expresses.
 */
import { basename, resolve } from 'node:path';
import { CompactError } from '../errors.ts';
import { readModelConfig } from '../families/model-config.ts';
import { inverseFrequencies } from '../families/rope.ts';
import { roleName } from '../families/templates.ts';
import type { ModelSpec } from '../families/types.ts';
import { validateCheckpoint } from '../engine/weights.ts';
import { openCheckpoint } from '../io/safetensors.ts';
import { writeFileAtomic } from '../io/atomic-dir.ts';
import { guardOutput } from '../io/output-guard.ts';
import { ggufTokenizer } from './gguf-tokenizer.ts';
import { checkFormatSupport, supportedText } from './support.ts';
import { planTensors } from './gguf-tensors.ts';
import { encodeHeader, GGUF_MAGIC, ggufChunks, kv, type GgmlTypeName, type GgufValue } from './gguf-writer.ts';

/** The architectures this exporter writes, and the families that map to each, for help texts. */
export const GGUF_SUPPORT_TEXT = supportedText('gguf');

/** gguf-py LlamaFileType of each tensor type. */
const FILE_TYPE: Record<GgmlTypeName, number> = { F32: 0, F16: 1, BF16: 32 };

export interface GgufExportOptions {
  /** Type of 2-D tensors; default: the checkpoint's storage type (F64 → F32). */
  dtype?: GgmlTypeName;
  /** Replace an existing file (only a GGUF file or an empty one: see io/output-guard.ts). */
  force?: boolean;
  /** Folders the file may not be in or replace a file of (default: the model folder itself). */
  inputs?: string[];
  /** The flag that named the file, for messages (default --out). */
  flag?: string;
}

export interface GgufExportReport {
  input: string;
  output: string;
  architecture: string;
  dtype: GgmlTypeName;
  tensors: number;
  bytes: number;
  vocab: number;
  tokenizer: { model: string; pre: string | null };
  /** Adjustments made so llama.cpp computes what transformers computes (empty when none). */
  notes: string[];
}

/** Sliding period p with is_swa(i) = i mod p < p − 1 (llama.cpp's set_swa_pattern), or null. */
export function slidingPeriod(kinds: readonly string[]): number | null {
  const n = kinds.length;
  for (let p = 2; p <= n + 1; p++) {
    if (kinds.every((k, i) => (k === 'sliding') === (i % p < p - 1))) return p;
  }
  return null;
}

/** llama3 rope: divisor of each inverse frequency (convert_hf_to_gguf's rope_factors). */
function ropeFreqFactors(spec: ModelSpec): Float32Array | null {
  const rope = spec.rope.full;
  if (rope.type !== 'llama3') return null;
  const scaled = inverseFrequencies(rope, spec.headDim);
  const plain = inverseFrequencies({ theta: rope.theta, type: 'default' }, spec.headDim);
  return Float32Array.from(plain, (f, j) => f / scaled[j]!);
}

export async function exportGguf(modelDir: string, out: string, opts: GgufExportOptions = {}): Promise<GgufExportReport> {
  const guard = { force: opts.force, inputs: opts.inputs ?? [modelDir], magic: GGUF_MAGIC, flag: opts.flag };
  guardOutput(out, { kind: 'file', ...guard });
  checkFormatSupport(modelDir, 'gguf');
  const { raw, spec, file } = readModelConfig(modelDir);
  const fmt = spec.family.formats.gguf!;
  const arch = fmt.arch;
  const notes: string[] = [];
  const md: Array<[string, GgufValue]> = [];
  const a = (key: string, v: GgufValue): void => void md.push([`${arch}.${key}`, v]);

  // --- what llama.cpp can and cannot express, checked before anything is read or written
  if (spec.attnSoftcap != null && !fmt.attnSoftcap) throw new CompactError(`${file}: attn_logit_softcapping is not supported by llama.cpp's ${arch} architecture`);
  if (spec.finalLogitSoftcap != null && !fmt.finalSoftcap) throw new CompactError(`${file}: final_logit_softcapping is not supported by llama.cpp's ${arch} architecture`);
  const multiplied = spec.residualMultiplier !== 1 || spec.logitMultiplier !== 1 || (spec.embedMultiplier !== 1 && spec.family.embedScale !== 'sqrt-hidden');
  if (multiplied && !fmt.multipliers) throw new CompactError(`${file}: embedding/residual/logits multipliers are not supported by llama.cpp's ${arch} architecture`);
  if (spec.rotaryDim !== spec.headDim && !fmt.partialRotary) throw new CompactError(`${file}: partial_rotary_factor is not supported by llama.cpp's ${arch} architecture`);
  const rope = spec.rope.full;
  if (rope.type === 'llama3' && !fmt.ropeFreqs) throw new CompactError(`${file}: llama3 rope scaling is only expressible for the llama architecture in GGUF`);
  const sliding = spec.layerTypes.some((k) => k === 'sliding');
  let contextLength = spec.maxPositions;
  let period: number | null = null;
  if (sliding && fmt.slidingPattern) {
    period = slidingPeriod(spec.layerTypes);
    if (period === null) {
      throw new CompactError(`${file}: layer_types [${spec.layerTypes.join(', ')}] is not periodic (layer i slides iff i mod p < p-1), which is all llama.cpp's gemma3 can express`);
    }
  } else if (sliding) {
    if (spec.rope.sliding.theta !== rope.theta || spec.rope.sliding.type !== rope.type) {
      throw new CompactError(`${file}: sliding layers with their own rope are not expressible for llama.cpp's ${arch} architecture`);
    }
    contextLength = Math.min(contextLength, spec.slidingWindow!);
    notes.push(`llama.cpp's ${arch} has no sliding-window attention: context_length capped at the window (${contextLength}), where full and sliding attention agree`);
  }
  let qNormScale = 1;
  if (fmt.fixedAttnScale) {
    // llama.cpp: f_attention_scale = 1/sqrt(n_embd/n_head) for the 62-layer 27B, else 1/sqrt(head_dim).
    const llamaScale = spec.layers === fmt.fixedAttnScale ? (spec.hidden / spec.heads) ** -0.5 : spec.headDim ** -0.5;
    qNormScale = spec.attnScale / llamaScale;
    if (Math.abs(qNormScale - 1) <= 1e-7) qNormScale = 1;
    else if (!spec.layerRoles.includes('q_norm')) throw new CompactError(`${file}: query_pre_attn_scalar gives attention scale ${spec.attnScale}, but llama.cpp's ${arch} fixes it at ${llamaScale}`);
    else notes.push(`query_pre_attn_scalar folded into attn_q_norm (×${qNormScale.toPrecision(6)}): llama.cpp fixes the ${arch} attention scale`);
  }

  const ckpt = await openCheckpoint(modelDir);
  try {
    validateCheckpoint(spec, ckpt);
    const embedInfo = ckpt.info(roleName(spec.family, 'embed'));
    const dtype: GgmlTypeName = opts.dtype ?? (embedInfo.dtype === 'F16' ? 'F16' : embedInfo.dtype === 'BF16' ? 'BF16' : 'F32');

    // --- tokenizer first: it fixes the vocabulary size (Gemma drops rows beyond the tokenizer)
    let rows = spec.vocabSize;
    let tok = ggufTokenizer(modelDir, rows, raw);
    if (fmt.trimVocab) {
      const real = tokenizerSize(tok);
      if (real < rows) {
        rows = real;
        tok = ggufTokenizer(modelDir, rows, raw);
        notes.push(`embedding rows beyond the tokenizer dropped (${spec.vocabSize} → ${rows}), as convert_hf_to_gguf does for ${arch}`);
      }
    }

    // --- metadata, in the converter's order
    md.push(['general.architecture', kv.str(arch)]);
    md.push(['general.type', kv.str('model')]);
    md.push(['general.name', kv.str(basename(resolve(modelDir)))]);
    a('block_count', kv.u32(spec.layers));
    a('context_length', kv.u32(contextLength));
    a('embedding_length', kv.u32(spec.hidden));
    a('feed_forward_length', kv.u32(spec.intermediate));
    a('attention.head_count', kv.u32(spec.heads));
    a('attention.head_count_kv', kv.u32(spec.kvHeads));
    a('rope.freq_base', kv.f32(rope.theta));
    a('attention.layer_norm_rms_epsilon', kv.f32(spec.rmsEps));
    a('attention.key_length', kv.u32(spec.headDim));
    a('attention.value_length', kv.u32(spec.headDim));
    md.push(['general.file_type', kv.u32(FILE_TYPE[dtype])]);
    if (fmt.vocabSizeKey) a('vocab_size', kv.u32(rows));
    if (spec.moe) {
      if (!fmt.experts) throw new CompactError(`${file}: routed experts are not supported by llama.cpp's ${arch} architecture`);
      a('expert_count', kv.u32(spec.moe.experts));
      a('expert_used_count', kv.u32(spec.moe.topK));
    }
    if (fmt.ropeDimensionCount) a('rope.dimension_count', kv.u32(spec.rotaryDim));
    if (rope.type === 'linear') {
      a('rope.scaling.type', kv.str('linear'));
      a('rope.scaling.factor', kv.f32(rope.factor!));
    }
    if (fmt.multipliers) {
      // convert_hf_to_gguf's GraniteModel: llama.cpp divides the logits by logit_scale.
      a('attention.scale', kv.f32(spec.attnScale));
      a('embedding_scale', kv.f32(spec.embedMultiplier));
      a('residual_scale', kv.f32(spec.residualMultiplier));
      a('logit_scale', kv.f32(1 / spec.logitMultiplier));
    }
    if (spec.attnSoftcap != null) a('attn_logit_softcapping', kv.f32(spec.attnSoftcap));
    if (spec.finalLogitSoftcap != null) a('final_logit_softcapping', kv.f32(spec.finalLogitSoftcap));
    if (period !== null) {
      a('attention.sliding_window', kv.u32(spec.slidingWindow!));
      a('attention.sliding_window_pattern', kv.u32(period));
      a('rope.freq_base_swa', kv.f32(spec.rope.sliding.theta));
      if (spec.rope.sliding.type !== 'default') throw new CompactError(`${file}: rope scaling on sliding layers is not expressible in GGUF`);
    }
    md.push(['general.quantization_version', kv.u32(2)]);
    md.push(...tok.metadata);

    const tensors = planTensors(spec, ckpt, () => spec.layerRoles, { dtype, rows, qNormScale, ropeFreqs: ropeFreqFactors(spec) });
    const { header, dataBytes } = encodeHeader(md, tensors);

    try {
      await writeFileAtomic(out, ggufChunks(md, tensors), guard);
    } catch (e) {
      if (e instanceof CompactError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code) throw new CompactError(`${out}: cannot write (${code}: ${(e as Error).message})`);
      throw e;
    }
    const model = md.find(([k]) => k === 'tokenizer.ggml.model')![1];
    const pre = md.find(([k]) => k === 'tokenizer.ggml.pre')?.[1];
    return {
      input: modelDir,
      output: out,
      architecture: arch,
      dtype,
      tensors: tensors.length,
      bytes: header.length + dataBytes,
      vocab: rows,
      tokenizer: { model: String((model as { value: string }).value), pre: pre ? String((pre as { value: string }).value) : null },
      notes,
    };
  } finally {
    await ckpt.close();
  }
}

/** Tokens before the `[PAD…]` padding rows. */
function tokenizerSize(tok: { metadata: Array<[string, GgufValue]> }): number {
  const entry = tok.metadata.find(([k]) => k === 'tokenizer.ggml.tokens')![1] as { items: readonly string[] };
  let n = entry.items.length;
  while (n > 0 && /^\[PAD\d+\]$/.test(entry.items[n - 1]!)) n--;
  return n;
}
