/**
 * Weights for `--calib-precision int8`: the projections run as com.microsoft:DynamicQuantizeMatMul
 * (activations quantized to u8 per run, weights s8 per output channel: MLAS's integer GEMM,
 * ×2.0–2.5 the f32 rate on a VNNI CPU, bench/int8-kernels.ts). The norms, residual stream,
 * attention scores and the act² / Gram statistics stay f32.
 *
 * Weights are symmetric per output row (scale = max|w| / qmax, zero point 0) and stored
 * transposed, [in, out], because the op has no transB. qmax is 127 where the integer dot product
 * cannot saturate (x86 with VNNI, ARM) and 63 elsewhere: on x86 without VNNI, MLAS multiplies
 * u8×s8 with VPMADDUBSW, whose int16 pair sums saturate at full 8-bit ranges (onnxruntime's
 * quantization guide calls the fix "reduce_range"). 7-bit weights have half the resolution, so
 * they rank channels less faithfully; the figures in docs/performance.md §1d are for 8 bits.
 */
import { readFileSync } from 'node:fs';
import { arch } from 'node:os';
import type { ModelSpec, TensorRole } from '../families/types.ts';

/** 127 when this CPU's u8×s8 dot product cannot saturate, else 63 (see above). */
export function int8WeightMax(cpu?: { arch: string; flags: Set<string> }): 127 | 63 {
  if (!cpu) return (thisCpu ??= int8WeightMax({ arch: arch(), flags: x86Flags() }));
  if (cpu.arch !== 'x64' && cpu.arch !== 'ia32') return 127;
  return cpu.flags.has('avx512_vnni') || cpu.flags.has('avx_vnni') ? 127 : 63;
}
/** This machine's answer, read from /proc/cpuinfo once. */
let thisCpu: 127 | 63 | undefined;

function x86Flags(): Set<string> {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').match(/^flags\s*:(.*)$/m);
    return new Set(line ? line[1]!.trim().split(/\s+/) : []);
  } catch {
    return new Set(); // not Linux: assume no VNNI, the safe width
  }
}

/** The layer roles that run in int8: every projection but the MoE router (routing is discrete). */
const INT8_ROLES: ReadonlySet<TensorRole> = new Set<TensorRole>(['q', 'k', 'v', 'o', 'qkv', 'gate', 'up', 'gate_up', 'down', 'expert_gate', 'expert_up', 'expert_down']);

export function isInt8Role(spec: ModelSpec, role: TensorRole): boolean {
  return INT8_ROLES.has(role) && spec.layerRoles.includes(role);
}

/** Graph input name of a weight's per-row scales. */
export const scaleInput = (role: TensorRole): string => `s_${role}`;

/**
 * The [in, out] int8 shape and the scale shape of a weight stored [out, in] (or stacked
 * [experts, out, in]): scales are [out], or [experts, 1, out] so they broadcast per expert.
 */
export function int8Shapes(shape: readonly number[]): { q: number[]; scale: number[] } {
  if (shape.length === 2) return { q: [shape[1]!, shape[0]!], scale: [shape[0]!] };
  if (shape.length === 3) return { q: [shape[0]!, shape[2]!, shape[1]!], scale: [shape[0]!, 1, shape[1]!] };
  throw new Error(`int8 weights: unsupported rank ${shape.length}`);
}

/**
 * Fills `dst` ([n, cols] row-major f32) with rows r0 … r0+n−1 of batch b of the weight.
 */
export type RowReader = (b: number, r0: number, n: number, dst: Float32Array) => void;

/**
 * The weight [batch, rows, cols] (rows = out, cols = in, per batch; read through `read`) →
 * q [batch, cols, rows] and scale [batch·rows], rounding with Math.round and clamping to ±qmax.
 * In tiles of TILE rows: each tile is read as f32 (the loader widens it straight from the
 * checkpoint's bytes, so a layer's projections never exist as one f32 set: 832 MiB at the 8B
 * shape), quantized row by row (contiguous reads), then transposed into q (contiguous writes of
 * TILE bytes per column); one strided pass over the f32 weights cost 3× as much.
 */
export function quantizeTransposed(read: RowReader, batch: number, rows: number, cols: number, q: Int8Array, scale: Float32Array, qmax: number): void {
  if (q.length !== batch * rows * cols || scale.length !== batch * rows) throw new Error('int8 weights: buffer sizes do not match the shape');
  const TILE = 64;
  const w = new Float32Array(TILE * cols);
  const tile = new Int8Array(TILE * cols);
  for (let b = 0; b < batch; b++) {
    const qb = b * rows * cols;
    for (let r0 = 0; r0 < rows; r0 += TILE) {
      const n = Math.min(TILE, rows - r0);
      read(b, r0, n, w);
      for (let i = 0; i < n; i++) {
        const o = i * cols;
        let m = 0;
        for (let c = 0; c < cols; c++) {
          const a = Math.abs(w[o + c]!);
          if (a > m) m = a;
        }
        const s = m > 0 ? m / qmax : 1;
        scale[b * rows + r0 + i] = s;
        const inv = 1 / s;
        for (let c = 0; c < cols; c++) {
          const v = Math.round(w[o + c]! * inv);
          tile[o + c] = v > qmax ? qmax : v < -qmax ? -qmax : v;
        }
      }
      for (let c = 0; c < cols; c++) {
        const out = qb + c * rows + r0;
        for (let i = 0; i < n; i++) q[out + i] = tile[i * cols + c]!;
      }
    }
  }
}
