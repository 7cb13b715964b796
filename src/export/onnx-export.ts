/**
 * Hugging Face checkpoint folder → a folder transformers.js loads from disk:
 *
 *   <out>/onnx/model.onnx          decoder with KV cache, f32 weights as initializers
 *   <out>/config.json, generation_config.json, tokenizer.json, tokenizer_config.json
 *
 * The folder is built in a temporary sibling and renamed into place when complete (withOutputDir).
 * The model is one protobuf message, so it is assembled in memory and limited to 2 GB (protobuf's
 * message limit); larger models would need ONNX external data (`model.onnx_data`), which is not
 * written yet — refused with a clear message rather than a corrupt file.
 */
import { copyFile, writeFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CompactError } from '../errors.ts';
import { readModelConfig } from '../families/model-config.ts';
import { tensorName } from '../families/registry.ts';
import type { TensorRole } from '../families/types.ts';
import { isNormRole, layerRoles } from '../engine/layer-graph.ts';
import { validateCheckpoint } from '../engine/weights.ts';
import { openCheckpoint } from '../io/safetensors.ts';
import { withOutputDir } from '../io/atomic-dir.ts';
import { buildDecoderGraph } from './onnx-decoder.ts';
import { checkFormatSupport, FORMAT_SUPPORT } from './support.ts';

/** Families the ONNX export writes (transformers.js model types). */
export const ONNX_SUPPORT = FORMAT_SUPPORT.onnx;

/** Protobuf caps a message at 2 GiB; leave room for the graph itself. */
const MAX_INLINE_BYTES = 2 ** 31 - 64 * 2 ** 20;
/** Rotary tables beyond this many positions cost memory for contexts nobody runs in a browser/Node demo. */
const MAX_ROPE_POSITIONS = 131072;

export interface OnnxExportOptions {
  force?: boolean;
}

export interface OnnxExportReport {
  input: string;
  output: string;
  modelType: string;
  bytes: number;
  files: string[];
}

export async function exportOnnx(modelDir: string, out: string, opts: OnnxExportOptions = {}): Promise<OnnxExportReport> {
  checkFormatSupport(modelDir, 'onnx');
  const { spec, raw, file } = readModelConfig(modelDir);
  const modelType = ONNX_SUPPORT[spec.family.name]!;
  if (spec.family.name === 'gemma3' && raw.model_type !== 'gemma3_text') {
    throw new CompactError(`${file}: model_type ${JSON.stringify(raw.model_type)}: transformers.js loads Gemma 3 text models as "gemma3_text"`);
  }
  const tokenizer = join(modelDir, 'tokenizer.json');
  if (!existsSync(tokenizer)) throw new CompactError(`${tokenizer}: missing (transformers.js needs the tokenizer beside the model)`);
  const ckpt = await openCheckpoint(modelDir);
  try {
    validateCheckpoint(spec, ckpt);
    let params = 0;
    for (const name of ckpt.names()) params += ckpt.info(name).shape.reduce((a, b) => a * b, 1);
    if (params * 4 > MAX_INLINE_BYTES) {
      throw new CompactError(`${modelDir}: ${(params * 4 / 2 ** 30).toFixed(1)} GiB of f32 weights exceed the 2 GiB an ONNX file can hold inline; external data is not supported yet`);
    }
    const plusOne = spec.family.norm === 'rms-plus-one';
    const read = async (name: string, norm: boolean): Promise<Float32Array> => {
      const v = await ckpt.readFloat32(name);
      // (1+w) norms: fold the 1 in, as the engine does at load time.
      if (norm && plusOne) for (let i = 0; i < v.length; i++) v[i] = v[i]! + 1;
      return v;
    };
    const global = (role: TensorRole): string => spec.family.globals.find((t) => t.role === role)!.name;
    const layerT = (role: TensorRole, l: number): string => tensorName(spec.family.layer.find((t) => t.role === role)!, l);

    const model = await buildDecoderGraph(
      spec,
      {
        embed: await read(global('embed'), false),
        finalNorm: await read(global('final_norm'), true),
        lmHead: spec.tied ? null : await read(global('lm_head'), false),
        async layer(l) {
          const m = new Map<TensorRole, Float32Array>();
          for (const role of layerRoles(spec)) m.set(role, await read(layerT(role, l), isNormRole(role)));
          return m;
        },
      },
      { ropePositions: Math.min(spec.maxPositions, MAX_ROPE_POSITIONS), oneBasedPositions: modelType === 'gemma3_text' },
    );

    const files: string[] = [];
    await withOutputDir(out, { force: opts.force, input: modelDir }, async (tmp) => {
      await mkdir(join(tmp, 'onnx'));
      await writeFile(join(tmp, 'onnx', 'model.onnx'), model);
      files.push('onnx/model.onnx');
      for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) {
        if (existsSync(join(modelDir, f))) {
          await copyFile(join(modelDir, f), join(tmp, f));
          files.push(f);
        }
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
    });
    return { input: modelDir, output: out, modelType, bytes: model.length, files };
  } finally {
    await ckpt.close();
  }
}
