import { CompactError } from '../errors.ts';
import { templateOf } from '../families/templates.ts';
import type { ModelSpec } from '../families/types.ts';
import { DTYPE_SIZE, fromFloat32, isFloatDType, toFloat32, viewAs16, viewAs32, type DType } from '../io/dtype.ts';
import type { Checkpoint, TensorInfo } from '../io/safetensors.ts';
import type { WriteEntry } from '../io/safetensors-writer.ts';
import { expertChannels } from './channel-select.ts';

/** What to keep: rows of the vocabulary axis and channels of the FFN axis (per layer). */
export interface SlicePlan {
  /** New id → old embedding row; null keeps every row. */
  vocabRows: Int32Array | null;
  /** Per layer, the kept FFN channels in ascending order; null keeps all. */
  ffnChannels: Int32Array[] | null;
  /** Float tensors are written in this dtype; null keeps each tensor's own. */
  outputDtype: 'F32' | 'F16' | 'BF16' | null;
  /**
   * Per layer (a MoE: per layer and expert), refit down_proj columns ([H × I′] f32, the kept
   * channels' order) that replace the sliced ones, or null for the plain slice (see refit.ts).
   * Called when that tensor is written.
   */
  downRefit?: ((layer: number, expert?: number) => Promise<Float32Array | null>) | null;
}

/**
 * The write entries of the pruned checkpoint: every tensor of the input, sliced along the axes its
 * family template declares. Bytes are produced lazily, one tensor at a time, so memory stays at
 * the largest single tensor whatever the model's size.
 */
export function slicedEntries(ckpt: Checkpoint, spec: ModelSpec, plan: SlicePlan): WriteEntry[] {
  return ckpt.names().map((name) => {
    const info = ckpt.info(name);
    const found = templateOf(spec.family, name);
    if (!found) {
      throw new CompactError(`${info.file}: tensor "${name}" is not part of the ${spec.family.name} family's layout; refusing to guess how to prune it`);
    }
    const { template, layer, expert } = found;
    let axis: number | null = null;
    let indices: Int32Array | null = null;
    if (template.vocabAxis !== undefined && plan.vocabRows) {
      axis = template.vocabAxis;
      indices = plan.vocabRows;
      if (info.shape[axis] !== spec.vocabSize) {
        throw new CompactError(`${info.file}: tensor "${name}" has ${info.shape[axis]} rows, config.json says vocab_size ${spec.vocabSize}`);
      }
    } else if (template.ffnAxis !== undefined && plan.ffnChannels) {
      axis = template.ffnAxis;
      const blocks = template.ffnBlocks ?? 1;
      const kept = expert === undefined ? plan.ffnChannels[layer!]! : expertChannels(plan.ffnChannels[layer!]!, expert, spec.intermediate);
      indices = blockIndices(kept, blocks, spec.intermediate);
      if (info.shape[axis] !== spec.intermediate * blocks) {
        const what = blocks === 1 ? '' : ` (${blocks} blocks of intermediate_size)`;
        throw new CompactError(`${info.file}: tensor "${name}" has ${info.shape[axis]} FFN channels, config.json says intermediate_size ${spec.intermediate}${what}`);
      }
    }
    const shape = info.shape.slice();
    if (axis !== null) shape[axis] = indices!.length;
    const dtype: DType = plan.outputDtype && isFloatDType(info.dtype) ? plan.outputDtype : info.dtype;
    const isDown = template.role === 'down' || template.role === 'expert_down';
    const refit = isDown && axis === template.ffnAxis && plan.downRefit ? plan.downRefit : null;
    return {
      name,
      dtype,
      shape,
      bytes: async () => {
        const w = refit ? await refit(layer!, expert) : null;
        if (w) {
          if (w.length !== shape.reduce((a, b) => a * b, 1)) throw new Error(`refit of ${name} has ${w.length} elements for shape [${shape.join(', ')}]`);
          return dtype === 'F32' ? new Uint8Array(w.buffer, w.byteOffset, w.byteLength) : fromFloat32(w, dtype as 'F16' | 'BF16');
        }
        return convert(await readSliced(ckpt, info, axis, indices), info.dtype, dtype);
      },
    };
  });
}

/** Kept channels in each of `blocks` stacked blocks of I (channel j at b·I + j): one index list, block after block. */
function blockIndices(kept: Int32Array, blocks: number, I: number): Int32Array {
  if (blocks === 1) return kept;
  const out = new Int32Array(kept.length * blocks);
  for (let b = 0; b < blocks; b++) for (let j = 0; j < kept.length; j++) out[b * kept.length + j] = b * I + kept[j]!;
  return out;
}

async function readSliced(ckpt: Checkpoint, info: TensorInfo, axis: number | null, indices: Int32Array | null): Promise<Uint8Array> {
  if (axis === null || indices === null) return ckpt.readBytes(info.name);
  // Rows of axis 0 are contiguous: positioned reads of just those rows (a 128k-row embedding is
  // never read whole).
  if (axis === 0) return ckpt.readRowsBytes(info.name, indices);
  return gatherAxis(await ckpt.readBytes(info.name), info.shape, axis, indices, DTYPE_SIZE[info.dtype]);
}

/** Gathers `indices` along `axis` of a row-major tensor of `elemSize`-byte elements. */
export function gatherAxis(bytes: Uint8Array, shape: number[], axis: number, indices: ArrayLike<number>, elemSize: number): Uint8Array {
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1) * elemSize;
  const n = shape[axis]!;
  const out = new Uint8Array(outer * indices.length * inner);
  if (inner === 2 || inner === 4) {
    // The common case (down_proj columns): one element per index; typed views avoid byte loops.
    const src = inner === 2 ? viewAs16(bytes) : viewAs32(bytes);
    const dst = inner === 2 ? new Uint16Array(out.buffer) : new Uint32Array(out.buffer);
    const k = indices.length;
    for (let o = 0; o < outer; o++) {
      const s = o * n;
      const d = o * k;
      for (let j = 0; j < k; j++) dst[d + j] = src[s + indices[j]!]!;
    }
    return out;
  }
  let w = 0;
  for (let o = 0; o < outer; o++) {
    const base = o * n * inner;
    for (let j = 0; j < indices.length; j++) {
      const s = base + indices[j]! * inner;
      out.set(bytes.subarray(s, s + inner), w);
      w += inner;
    }
  }
  return out;
}

function convert(bytes: Uint8Array, from: DType, to: DType): Uint8Array {
  if (from === to) return bytes;
  return fromFloat32(toFloat32(bytes, from), to as 'F32' | 'F16' | 'BF16');
}
