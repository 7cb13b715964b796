/**
 * Hugging Face checkpoint folder → a folder transformers.js loads from disk:
 *
 *   <out>/onnx/model.onnx          decoder with KV cache, f32 weights as initializers
 *   <out>/onnx/model.onnx_data     (external data only) the initializers of ≥ 1 KB, 4096-aligned
 *   <out>/config.json, generation_config.json, tokenizer.json, tokenizer_config.json
 *
 * Protobuf caps a message at 2 GiB, so an inline model (weights inside model.onnx) is limited to
 * that. Larger models, or any model with `externalData: true`, are written with ONNX external
 * data: each initializer of at least 1 KB goes to `model.onnx_data` as it is built (tensor by
 * tensor, at offsets aligned to 4096 bytes for mmap, zero padding between), and its TensorProto
 * names the file, offset and length. config.json then gets
 * `"transformers.js_config": {"use_external_data_format": {"model.onnx": true}}`, which makes
 * transformers.js fetch the side file (in a browser; in Node onnxruntime reads it beside the
 * model) with no extra option.
 *
 * The folder is built in a temporary sibling and renamed into place when complete (withOutputDir).
 */
import { copyFile, writeFile, mkdir, readFile } from 'node:fs/promises';
import { closeSync, existsSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { CompactError } from '../errors.ts';
import { readModelConfig } from '../families/model-config.ts';
import type { TensorRole } from '../families/types.ts';
import { foldNormWeight, isNormRole, roleName } from '../families/templates.ts';
import { validateCheckpoint } from '../engine/weights.ts';
import { openCheckpoint } from '../io/safetensors.ts';
import { withOutputDir } from '../io/atomic-dir.ts';

/** The export's record in its folder (not listed in `files`: it is not part of the model). */
export const EXPORT_RECORD = 'compact-export.json';
import { EXTERNAL_DATA_THRESHOLD, type ExternalDataSink, type ExternalRef } from '../engine/onnx-proto.ts';
import { isJsonObject, patchJsonText } from '../json-text.ts';
import { buildDecoderGraph, ropeTableBytes } from './onnx-decoder.ts';
import { checkFormatSupport, formatSupport } from './support.ts';

/** Families the ONNX export writes (transformers.js model types). */
export const ONNX_SUPPORT = formatSupport('onnx');

/** Protobuf caps a message at 2 GiB; leave room for the graph itself. */
const MAX_INLINE_BYTES = 2 ** 31 - 64 * 2 ** 20;
/** Rotary tables beyond this many positions cost memory for contexts nobody runs in a browser/Node demo. */
const MAX_ROPE_POSITIONS = 131072;

/** The external-data file, beside model.onnx (the name transformers.js looks for). */
export const ONNX_DATA_FILE = 'model.onnx_data';
/** Offsets of external tensors are multiples of this (the page size onnxruntime and onnx-ir align large tensors to, for mmap). */
export const ONNX_DATA_ALIGNMENT = 4096;

export interface OnnxExportOptions {
  force?: boolean;
  /**
   * Store the weights in `onnx/model.onnx_data` (ONNX external data): `true` always, `false`
   * never (models over 2 GiB are then refused), `'auto'` (default) when the inline model would
   * exceed protobuf's 2 GiB.
   */
  externalData?: boolean | 'auto';
}

export interface OnnxExportReport {
  input: string;
  output: string;
  modelType: string;
  /** Bytes of model.onnx plus model.onnx_data. */
  bytes: number;
  /** Whether the weights are in onnx/model.onnx_data. */
  externalData: boolean;
  files: string[];
}

export async function exportOnnx(modelDir: string, out: string, opts: OnnxExportOptions = {}): Promise<OnnxExportReport> {
  checkFormatSupport(modelDir, 'onnx');
  const { spec, raw, file } = readModelConfig(modelDir);
  const format = spec.family.formats.onnx!;
  const modelType = format.modelType;
  if (raw.model_type !== modelType) {
    throw new CompactError(`${file}: model_type ${JSON.stringify(raw.model_type)}: transformers.js loads ${spec.family.architectures.join('/')} models as "${modelType}"`);
  }
  const tokenizer = join(modelDir, 'tokenizer.json');
  if (!existsSync(tokenizer)) throw new CompactError(`${tokenizer}: missing (transformers.js needs the tokenizer beside the model)`);
  const ckpt = await openCheckpoint(modelDir);
  try {
    validateCheckpoint(spec, ckpt);
    let params = 0;
    for (const name of ckpt.names()) params += ckpt.info(name).shape.reduce((a, b) => a * b, 1);
    const ropePositions = Math.min(spec.maxPositions, MAX_ROPE_POSITIONS);
    const inlineBytes = params * 4 + ropeTableBytes(spec, ropePositions);
    const mode = opts.externalData ?? 'auto';
    const external = mode === 'auto' ? inlineBytes > MAX_INLINE_BYTES : mode;
    if (!external && inlineBytes > MAX_INLINE_BYTES) {
      throw new CompactError(`${modelDir}: ${(inlineBytes / 2 ** 30).toFixed(1)} GiB of f32 weights exceed the 2 GiB an ONNX file can hold inline; allow external data (--external-data) to write them to onnx/${ONNX_DATA_FILE}`);
    }
    const read = async (role: TensorRole, layer?: number): Promise<Float32Array> => {
      const v = await ckpt.readFloat32(roleName(spec.family, role, layer));
      return isNormRole(role) ? foldNormWeight(spec.family, v) : v;
    };
    const weights = {
      embed: await read('embed'),
      finalNorm: await read('final_norm'),
      lmHead: spec.tied ? null : await read('lm_head'),
      async layer(l: number) {
        const m = new Map<TensorRole, Float32Array>();
        for (const role of spec.layerRoles) m.set(role, await read(role, l));
        return m;
      },
    };
    const graphOpts = { ropePositions, oneBasedPositions: format.oneBasedPositions === true };

    const files: string[] = [];
    let bytes = 0;
    await withOutputDir(out, { force: opts.force, input: modelDir }, async (tmp) => {
      await mkdir(join(tmp, 'onnx'));
      // With external data the weights stream into model.onnx_data while the graph is built.
      const data = external ? new ExternalDataFile(join(tmp, 'onnx', ONNX_DATA_FILE), ONNX_DATA_FILE) : null;
      let model: Uint8Array;
      try {
        model = await buildDecoderGraph(spec, weights, data ? { ...graphOpts, external: data } : graphOpts);
        data?.finish();
      } finally {
        data?.close();
      }
      await writeFile(join(tmp, 'onnx', 'model.onnx'), model);
      files.push('onnx/model.onnx', ...(data ? [`onnx/${ONNX_DATA_FILE}`] : []));
      bytes = model.length + (data?.size ?? 0);
      for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) {
        if (!existsSync(join(modelDir, f))) continue;
        if (f === 'config.json') {
          await writeFile(join(tmp, f), await exportedConfig(join(modelDir, f), raw, external));
        } else {
          await copyFile(join(modelDir, f), join(tmp, f));
        }
        files.push(f);
      }
      // transformers.js needs a generation config and a tokenizer config; write neutral ones
      // (ids from config.json) for checkpoints saved without them.
      if (!existsSync(join(modelDir, 'generation_config.json'))) {
        const gen: Record<string, unknown> = {};
        if (raw.bos_token_id !== undefined) gen.bos_token_id = raw.bos_token_id;
        if (raw.eos_token_id !== undefined) gen.eos_token_id = raw.eos_token_id;
        await writeFile(join(tmp, 'generation_config.json'), `${JSON.stringify(gen, null, 2)}\n`);
        files.push('generation_config.json');
      }
      if (!existsSync(join(modelDir, 'tokenizer_config.json'))) {
        await writeFile(join(tmp, 'tokenizer_config.json'), `${JSON.stringify({ model_max_length: spec.maxPositions }, null, 2)}\n`);
        files.push('tokenizer_config.json');
      }
      // Marks the folder as compact's, so a later --force may replace it (io/output-guard.ts).
      await writeFile(join(tmp, EXPORT_RECORD), `${JSON.stringify({ tool: 'compact', format: 'onnx', input: modelDir, model_type: modelType, external_data: external, files }, null, 2)}\n`);
    });
    return { input: modelDir, output: out, modelType, bytes, externalData: external, files };
  } finally {
    await ckpt.close();
  }
}

/**
 * config.json as exported: the checkpoint's bytes, except that with external data
 * `transformers.js_config.use_external_data_format` names model.onnx (transformers.js then loads
 * model.onnx_data with no option), and an inline export clears a stale setting that would make
 * it look for a side file that is not there. Every other key and its spelling is kept.
 */
async function exportedConfig(file: string, raw: Record<string, unknown>, external: boolean): Promise<Uint8Array | string> {
  const bytes = await readFile(file);
  const tjs = raw['transformers.js_config'];
  const tjsObject = isJsonObject(tjs) ? tjs : null;
  if (!external) {
    if (!tjsObject?.use_external_data_format) return bytes;
    return patchJsonText(bytes.toString('utf8'), [{ path: ['transformers.js_config', 'use_external_data_format'], value: false }]);
  }
  const value = { 'model.onnx': true };
  const edit = tjsObject
    ? { path: ['transformers.js_config', 'use_external_data_format'], value }
    : { path: ['transformers.js_config'], value: { use_external_data_format: value } };
  return patchJsonText(bytes.toString('utf8'), [edit]);
}

/**
 * model.onnx_data written tensor by tensor: each tensor starts at the next multiple of
 * ONNX_DATA_ALIGNMENT (zeros in between), as onnx/onnxruntime align external data for mmap.
 */
class ExternalDataFile implements ExternalDataSink {
  readonly threshold = EXTERNAL_DATA_THRESHOLD;
  size = 0;
  private fd: number | null;

  constructor(
    private readonly path: string,
    private readonly location: string,
  ) {
    this.fd = openSync(path, 'wx');
  }

  append(raw: Uint8Array): ExternalRef {
    const offset = Math.ceil(this.size / ONNX_DATA_ALIGNMENT) * ONNX_DATA_ALIGNMENT;
    if (offset > this.size) this.write(new Uint8Array(offset - this.size), this.size);
    this.write(raw, offset);
    this.size = offset + raw.length;
    return { location: this.location, offset, length: raw.length };
  }

  private write(data: Uint8Array, position: number): void {
    if (this.fd === null) throw new Error(`${this.path}: already closed`);
    // One write(2) moves at most ~2 GiB; loop over chunks (and short writes).
    for (let done = 0; done < data.length; ) {
      const n = writeSync(this.fd, data, done, Math.min(data.length - done, 1 << 30), position + done);
      done += n;
    }
  }

  finish(): void {
    if (this.fd !== null) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
