/**
 * Which tensors the engine needs, their expected shapes, and loading them as onnxruntime tensors.
 *
 * Everything is resolved from the family descriptor's templates and the spec's flags, and checked
 * once at open time so a bad checkpoint fails before any compute with a message naming the file
 * and tensor.
 */
import ort from './ort.ts';
import { CompactError } from '../errors.ts';
import { expertCount, foldNormWeight, isNormRole, layerShape, roleName, stackedShape, templateFor } from '../families/templates.ts';
import type { ModelSpec, TensorRole } from '../families/types.ts';
import { bf16ToF32Bits, f16ToF32Bits, f32ToF16, isFloatDType, toFloat32, viewAs16, viewAsF32, type DType } from '../io/dtype.ts';
import type { Checkpoint } from '../io/safetensors.ts';
import type { Precision } from './layer-graph.ts';
import { int8Shapes, int8WeightMax, isInt8Role, quantizeTransposed } from './int8-weights.ts';

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
 * Streams layer weights through one reused set of f32 buffers (the layer being computed) and one
 * reused set of raw buffers in the checkpoint's own dtype (the layer being read ahead). `prefetch`
 * reads the next layer's bytes while the current layer computes; `load` widens them into the f32
 * set once the current layer is done with it. For a bf16 checkpoint that is 1.5 f32 layers of
 * weight memory instead of the 2 that two f32 sets cost, the read-ahead (the slow part when the
 * checkpoint is not in the page cache) still overlaps the compute, and the widening is exact
 * (bf16/f16 → f32), so the tensors hold the same values as a fresh read. Nothing is allocated
 * after the first layer, so the GC never has freed layers to catch up with.
 *
 * Contract: the tensors `load(l)` returns are valid until the next `load`: they share buffers.
 */
export class LayerLoader {
  readonly #f32 = new Map<TensorRole, Float32Array>();
  /** int8 precision: the projections quantized [in, out] and their per-row scales (int8-weights.ts). */
  readonly #q = new Map<TensorRole, { q: Int8Array; scale: Float32Array }>();
  /** int8 precision: the scales of the last `load`, by role (graph inputs int8-weights.scaleInput). */
  readonly scales = new Map<TensorRole, ort.Tensor>();
  /** Raw bytes per checkpoint tensor slot ("role" or "role:expert"). */
  readonly #raw = new Map<string, Uint8Array>();
  #ahead: { layer: number; read: Promise<void> } | null = null;

  constructor(
    readonly spec: ModelSpec,
    readonly ckpt: Checkpoint,
    readonly precision: Precision,
  ) {}

  /** Starts reading `layer`'s bytes into the raw set; a failure surfaces from `load(layer)`. */
  prefetch(layer: number): void {
    if (this.#ahead) throw new Error(`LayerLoader.prefetch(${layer}) while layer ${this.#ahead.layer} is still ahead`);
    const read = this.#readRaw(layer);
    read.catch(() => {});
    this.#ahead = { layer, read };
  }

  async load(layer: number): Promise<Map<TensorRole, ort.Tensor>> {
    const ahead = this.#ahead;
    this.#ahead = null;
    if (ahead && ahead.layer !== layer) {
      await ahead.read.catch(() => {});
      throw new Error(`LayerLoader.load(${layer}) after prefetch(${ahead.layer})`);
    }
    await (ahead ? ahead.read : this.#readRaw(layer));
    const out = new Map<TensorRole, ort.Tensor>();
    this.scales.clear();
    for (const t of layerPlan(this.spec, layer)) {
      if (this.precision === 'int8' && isInt8Role(this.spec, t.role)) {
        out.set(t.role, this.#quantize(t));
        continue;
      }
      const n = t.shape.reduce((a, b) => a * b, 1);
      let buf = this.#f32.get(t.role);
      if (!buf || buf.length !== n) this.#f32.set(t.role, (buf = new Float32Array(n)));
      const parts = checkpointTensors(t);
      const n1 = n / parts.length;
      parts.forEach((p, e) => widen(this.ckpt.info(p.name).dtype, this.#raw.get(slot(t, e))!, buf.subarray(e * n1, (e + 1) * n1)));
      const norm = isNormRole(t.role);
      if (norm) foldNormWeight(this.spec.family, buf);
      // f16 compute gets its own copy per layer (the f32 set is rewritten by the next load).
      out.set(t.role, this.precision === 'f16' && !norm ? new ort.Tensor('float16', f32ToF16(buf), t.shape) : new ort.Tensor('float32', buf, t.shape));
    }
    return out;
  }

  /** A projection for int8 precision: quantized tile by tile from the raw bytes, no f32 copy of it. */
  #quantize(t: PlannedTensor): ort.Tensor {
    const shapes = int8Shapes(t.shape);
    const n = t.shape.reduce((a, b) => a * b, 1);
    let q = this.#q.get(t.role);
    if (!q || q.q.length !== n) this.#q.set(t.role, (q = { q: new Int8Array(n), scale: new Float32Array(shapes.scale.reduce((a, b) => a * b, 1)) }));
    const [batch, rows, cols] = (t.shape.length === 3 ? t.shape : [1, ...t.shape]) as [number, number, number];
    const parts = checkpointTensors(t);
    const dtypes = parts.map((p) => this.ckpt.info(p.name).dtype);
    const raws = parts.map((_, e) => this.#raw.get(slot(t, e))!);
    const rowBytes = raws.map((r) => r.length / rows);
    quantizeTransposed(
      (b, r0, k, dst) => widen(dtypes[b]!, raws[b]!.subarray(r0 * rowBytes[b]!, (r0 + k) * rowBytes[b]!), dst.subarray(0, k * cols)),
      batch, rows, cols, q.q, q.scale, int8WeightMax(),
    );
    this.scales.set(t.role, new ort.Tensor('float32', q.scale, shapes.scale));
    return new ort.Tensor('int8', q.q, shapes.q);
  }

  async #readRaw(layer: number): Promise<void> {
    for (const t of layerPlan(this.spec, layer)) {
      const parts = checkpointTensors(t);
      for (let e = 0; e < parts.length; e++) {
        const bytes = this.ckpt.info(parts[e]!.name).byteLength;
        const key = slot(t, e);
        let raw = this.#raw.get(key);
        // Own ArrayBuffer at offset 0: the 16/32-bit views over it are aligned.
        if (!raw || raw.length !== bytes) this.#raw.set(key, (raw = new Uint8Array(new ArrayBuffer(bytes))));
        await this.ckpt.readBytesInto(parts[e]!.name, raw);
      }
    }
  }
}

function slot(t: PlannedTensor, expert: number): string {
  return t.parts ? `${t.role}:${expert}` : t.role;
}

/** Stored bytes → f32 values in `dst` (exact for every float dtype but F64, which rounds as toFloat32 does). */
function widen(dtype: DType, bytes: Uint8Array, dst: Float32Array): void {
  const bits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
  if (dtype === 'BF16') bf16ToF32Bits(viewAs16(bytes), bits, dst.length);
  else if (dtype === 'F16') f16ToF32Bits(viewAs16(bytes), bits, dst.length);
  else if (dtype === 'F32') dst.set(viewAsF32(bytes));
  else dst.set(toFloat32(bytes, dtype));
}
