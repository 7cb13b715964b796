/**
 * Which tensors the engine needs, their expected shapes, and loading them as onnxruntime tensors.
 *
 * Everything is resolved from the family descriptor's templates and the spec's flags, and checked
 * once at open time so a bad checkpoint fails before any compute with a message naming the file
 * and tensor.
 */
import ort from 'onnxruntime-node';
import { CompactError } from '../errors.ts';
import { expertCount, foldNormWeight, isNormRole, layerShape, roleName, stackedShape, templateFor } from '../families/templates.ts';
import type { ModelSpec, TensorRole } from '../families/types.ts';
import { bf16ToF32Bits, f16ToF32Bits, f32ToF16, isFloatDType, toFloat32, viewAs16, viewAsF32 } from '../io/dtype.ts';
import type { Checkpoint } from '../io/safetensors.ts';
import type { Precision } from './layer-graph.ts';

export interface PlannedTensor {
  role: TensorRole;
  /** The checkpoint tensor (the first expert's, for a stacked one). */
  name: string;
  /** Shape as the graph takes it ([experts, …] when stacked). */
  shape: number[];
  /** Per-expert tensors stacked along a new leading axis, expert by expert; each of `partShape`. */
  parts?: string[];
  partShape?: number[];
}

/** The tensors of decoder layer `layer` the graph takes, with their names and expected shapes. */
export function layerPlan(spec: ModelSpec, layer: number): PlannedTensor[] {
  return spec.layerRoles.map((role) => {
    if (!templateFor(spec.family, role).perExpert) return { role, name: roleName(spec.family, role, layer), shape: layerShape(spec, role) };
    const parts = Array.from({ length: expertCount(spec) }, (_, e) => roleName(spec.family, role, layer, e));
    return { role, name: parts[0]!, shape: stackedShape(spec, role), parts, partShape: layerShape(spec, role) };
  });
}

/** The checkpoint tensors behind a planned one: itself, or each expert's. */
function checkpointTensors(t: PlannedTensor): PlannedTensor[] {
  return t.parts ? t.parts.map((name) => ({ role: t.role, name, shape: t.partShape! })) : [t];
}

export interface GlobalPlan {
  embed: PlannedTensor;
  finalNorm: PlannedTensor;
  /** The output projection: `lm_head.weight`, or the embedding when tied. */
  lmHead: PlannedTensor;
}

export function globalPlan(spec: ModelSpec): GlobalPlan {
  const { hidden: D, vocabSize: V } = spec;
  const embed = { role: 'embed' as const, name: roleName(spec.family, 'embed'), shape: [V, D] };
  return {
    embed,
    finalNorm: { role: 'final_norm', name: roleName(spec.family, 'final_norm'), shape: [D] },
    lmHead: spec.tied ? embed : { role: 'lm_head', name: roleName(spec.family, 'lm_head'), shape: [V, D] },
  };
}

/** Checks that every tensor the engine will read exists with the expected shape and a float dtype. */
export function validateCheckpoint(spec: ModelSpec, ckpt: Checkpoint): void {
  const g = globalPlan(spec);
  const all: PlannedTensor[] = [g.embed, g.finalNorm];
  if (!spec.tied) all.push(g.lmHead);
  for (let l = 0; l < spec.layers; l++) all.push(...layerPlan(spec, l).flatMap(checkpointTensors));
  for (const t of all) {
    if (!ckpt.has(t.name)) {
      const why = t.role === 'lm_head' ? ' (config.json says tie_word_embeddings is false)' : '';
      throw new CompactError(`${ckpt.dir}: tensor "${t.name}" is missing${why}`);
    }
    const info = ckpt.info(t.name);
    const same = info.shape.length === t.shape.length && info.shape.every((d, i) => d === t.shape[i]);
    if (!same) {
      throw new CompactError(
        `${info.file}: tensor "${t.name}" has shape [${info.shape.join(', ')}], expected [${t.shape.join(', ')}] from config.json`,
      );
    }
    if (!isFloatDType(info.dtype)) {
      throw new CompactError(`${info.file}: tensor "${t.name}" has dtype ${info.dtype}; expected F32, F16, BF16 or F64`);
    }
  }
}

/**
 * Reads one tensor as an ORT tensor: f32, or f16 when `precision` is 'f16' and the role is not a
 * norm. Norm weights of (1+w) families get the 1 added here, in f32, as transformers does.
 */
export async function loadTensor(spec: ModelSpec, ckpt: Checkpoint, t: PlannedTensor, precision: Precision): Promise<ort.Tensor> {
  const data = t.parts ? await readStacked(ckpt, t.parts) : await ckpt.readFloat32(t.name);
  const norm = isNormRole(t.role);
  if (norm) foldNormWeight(spec.family, data);
  if (precision === 'f16' && !norm) return new ort.Tensor('float16', f32ToF16(data), t.shape);
  return new ort.Tensor('float32', data, t.shape);
}

async function readStacked(ckpt: Checkpoint, parts: string[]): Promise<Float32Array> {
  const each = await Promise.all(parts.map((p) => ckpt.readFloat32(p)));
  const out = new Float32Array(each.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of each) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

/**
 * Loads layer weights into two reused sets of f32 buffers (layer l uses set l % 2): the layer being
 * computed and the one being prefetched never share a set, and streaming a deep model allocates
 * no new weight memory after the first two layers (the GC would otherwise let freed layers pile up).
 */
export class LayerLoader {
  readonly #pools: Map<TensorRole, Float32Array>[] = [new Map(), new Map()];

  constructor(
    readonly spec: ModelSpec,
    readonly ckpt: Checkpoint,
    readonly precision: Precision,
  ) {}

  async load(layer: number): Promise<Map<TensorRole, ort.Tensor>> {
    const pool = this.#pools[layer % 2]!;
    const out = new Map<TensorRole, ort.Tensor>();
    for (const t of layerPlan(this.spec, layer)) {
      if (this.precision === 'f16' && !isNormRole(t.role)) {
        out.set(t.role, await loadTensor(this.spec, this.ckpt, t, this.precision));
        continue;
      }
      const n = t.shape.reduce((a, b) => a * b, 1);
      let buf = pool.get(t.role);
      if (!buf || buf.length !== n) pool.set(t.role, (buf = new Float32Array(n)));
      if (t.parts) {
        const n1 = n / t.parts.length;
        for (let e = 0; e < t.parts.length; e++) await this.#readInto(t.parts[e]!, buf.subarray(e * n1, (e + 1) * n1));
      } else await this.#readInto(t.name, buf);
      if (isNormRole(t.role)) foldNormWeight(this.spec.family, buf);
      out.set(t.role, new ort.Tensor('float32', buf, t.shape));
    }
    return out;
  }

  async #readInto(name: string, dst: Float32Array): Promise<void> {
    const info = this.ckpt.info(name);
    const bytes = await this.ckpt.readBytes(name);
    const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
    if (info.dtype === 'BF16') bf16ToF32Bits(viewAs16(bytes), bits, dst.length);
    else if (info.dtype === 'F16') f16ToF32Bits(viewAs16(bytes), bits, dst.length);
    else if (info.dtype === 'F32') dst.set(viewAsF32(bytes));
    else dst.set(toFloat32(bytes, info.dtype));
  }
}
