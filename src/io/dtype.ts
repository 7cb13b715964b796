/**
 * safetensors dtypes and the float conversions compact needs.
 *
 * All conversions work on bit patterns through integer views (Uint16Array/Uint32Array) rather than
 * through JS numbers: a NaN read out of a Float32Array as a number may come back canonicalised, and
 * we promise bit-exact round trips (f16 → f32 → f16 and bf16 → f32 → bf16 for all 65,536 patterns).
 *
 * safetensors data is little-endian. Typed arrays use the host's byte order, so on a little-endian
 * host (every platform Node ships prebuilt binaries for) bytes can be viewed directly; on a
 * big-endian host `viewAs16`/`viewAs32` swap into a copy.
 */

export type DType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Bytes per element. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = Object.freeze({
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
});

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_SIZE, s);
}

export function dtypeSize(dtype: DType): number {
  return DTYPE_SIZE[dtype];
}

/** Dtypes `toFloat32` can convert. */
export function isFloatDType(dtype: DType): dtype is 'F64' | 'F32' | 'F16' | 'BF16' {
  return dtype === 'F64' || dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Scalar bit conversions (used to build tables and by tests; hot loops below inline them).

/** f16 bits → f32 bits, exact (every f16 is representable in f32; NaN payloads kept). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
  if (mant === 0) return sign >>> 0;
  // Subnormal f16: normalise into an f32 exponent.
  let e = 113;
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** f32 bits → f16 bits, round to nearest even; overflow → ±inf; NaN stays NaN with its top payload. */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const abs = x & 0x7fffffff;
  if (abs >= 0x7f800000) {
    if (abs === 0x7f800000) return sign | 0x7c00;
    const payload = (abs >>> 13) & 0x3ff;
    // A NaN whose payload lives only in the dropped low bits must not turn into infinity.
    return sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
  }
  if (abs >= 0x47800000) return sign | 0x7c00; // ≥ 65536: beyond the largest finite f16 even after rounding
  if (abs >= 0x38800000) {
    // Normal range: rebias the exponent (127 → 15) and round away the 13 low mantissa bits.
    const t = abs - 0x38000000;
    let h = t >>> 13;
    const rem = t & 0x1fff;
    if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++; // may carry into inf: correct
    return sign | h;
  }
  // Subnormal f16 (or zero): value / 2^-24 = mant · 2^(exp − 126).
  const exp = abs >>> 23;
  if (exp < 102) return sign; // below 2^-25: rounds to zero (2^-25 itself is a tie to even zero)
  const mant = (abs & 0x7fffff) | 0x800000;
  const shift = 126 - exp; // 14 … 24
  let h = mant >>> shift;
  const rem = mant & ((1 << shift) - 1);
  const half = 1 << (shift - 1);
  if (rem > half || (rem === half && (h & 1) !== 0)) h++; // may carry into the smallest normal: correct
  return sign | h;
}

// ---------------------------------------------------------------------------------------------
// Array conversions. `dst` receives f32 bit patterns (pass `new Uint32Array(f32.buffer, …)`).

let f16Table: Uint32Array | undefined;
function f16ToF32Table(): Uint32Array {
  if (!f16Table) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

/**
 * bf16 → f32 over `n` elements. Safe when `src` occupies the upper half of `dst`'s bytes (element i
 * of the output overwrites only source elements < i, which were already consumed): that lets
 * readers convert in place without a second buffer as large as the tensor.
 */
export function bf16ToF32Bits(src: Uint16Array, dst: Uint32Array, n = src.length): number {
  // The loop touches every value anyway, so it also counts NaN/Inf (exponent all ones): free detection of broken weights.
  let nonFinite = 0;
  for (let i = 0; i < n; i++) {
    const h = src[i]!;
    if ((h & 0x7f80) === 0x7f80) nonFinite++;
    dst[i] = h << 16;
  }
  return nonFinite;
}

/** f16 → f32 over `n` elements; same in-place guarantee as `bf16ToF32Bits`. Returns the count of NaN/Inf values. */
export function f16ToF32Bits(src: Uint16Array, dst: Uint32Array, n = src.length): number {
  const table = f16ToF32Table();
  let nonFinite = 0;
  for (let i = 0; i < n; i++) {
    const h = src[i]!;
    if ((h & 0x7c00) === 0x7c00) nonFinite++;
    dst[i] = table[h]!;
  }
  return nonFinite;
}

/** NaN and ±Inf values among f32 values (by bit pattern: exponent all ones). */
export function countNonFiniteF32(values: Float32Array): number {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  let n = 0;
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & 0x7f800000) === 0x7f800000) n++;
  return n;
}

/** NaN and ±Inf values in little-endian bytes of a float dtype (0 for integer dtypes). */
export function countNonFinite(bytes: Uint8Array, dtype: DType): number {
  if (bytes.length === 0) return 0;
  let n = 0;
  if (dtype === 'BF16' || dtype === 'F16') {
    const mask = dtype === 'BF16' ? 0x7f80 : 0x7c00;
    const v = viewAs16(bytes);
    for (let i = 0; i < v.length; i++) if ((v[i]! & mask) === mask) n++;
  } else if (dtype === 'F32') {
    const v = viewAs32(bytes);
    for (let i = 0; i < v.length; i++) if ((v[i]! & 0x7f800000) === 0x7f800000) n++;
  } else if (dtype === 'F64') {
    const v = viewAsF64(bytes);
    for (let i = 0; i < v.length; i++) if (!Number.isFinite(v[i]!)) n++;
  }
  return n;
}

export function bf16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  bf16ToF32Bits(src, new Uint32Array(out.buffer), src.length);
  return out;
}

export function f16ToF32(src: Uint16Array): Float32Array {
  const out = new Float32Array(src.length);
  f16ToF32Bits(src, new Uint32Array(out.buffer), src.length);
  return out;
}

export function f32ToBf16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    if ((x & 0x7fffffff) > 0x7f800000) {
      const h = x >>> 16;
      out[i] = (h & 0x7f) === 0 ? h | 0x40 : h;
    } else {
      out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
    }
  }
  return out;
}

export function f32ToF16(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) {
    const x = bits[i]!;
    const abs = x & 0x7fffffff;
    // Fast path for the normal range, which is nearly every weight; the rest goes to the scalar.
    if (abs >= 0x38800000 && abs < 0x47800000) {
      const t = abs - 0x38000000;
      let h = t >>> 13;
      const rem = t & 0x1fff;
      if (rem > 0x1000 || (rem === 0x1000 && (h & 1) !== 0)) h++;
      out[i] = ((x >>> 16) & 0x8000) | h;
    } else {
      out[i] = f32BitsToF16Bits(x);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Byte views.

function swapBytes(bytes: Uint8Array, width: number): Uint8Array {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += width) {
    for (let k = 0; k < width; k++) out[i + k] = bytes[i + width - 1 - k]!;
  }
  return out;
}

/** Little-endian bytes as a host-order view, copying only when unaligned (or on a big-endian host). */
function aligned(bytes: Uint8Array, width: number): Uint8Array {
  if (bytes.length % width !== 0) {
    throw new RangeError(`${bytes.length} bytes is not a whole number of ${width}-byte elements`);
  }
  if (!HOST_LITTLE_ENDIAN) return swapBytes(bytes, width);
  return bytes.byteOffset % width === 0 ? bytes : bytes.slice();
}

export function viewAs16(bytes: Uint8Array): Uint16Array {
  const b = aligned(bytes, 2);
  return new Uint16Array(b.buffer, b.byteOffset, b.length / 2);
}

export function viewAs32(bytes: Uint8Array): Uint32Array {
  const b = aligned(bytes, 4);
  return new Uint32Array(b.buffer, b.byteOffset, b.length / 4);
}

export function viewAsF32(bytes: Uint8Array): Float32Array {
  const b = aligned(bytes, 4);
  return new Float32Array(b.buffer, b.byteOffset, b.length / 4);
}

function viewAsF64(bytes: Uint8Array): Float64Array {
  const b = aligned(bytes, 8);
  return new Float64Array(b.buffer, b.byteOffset, b.length / 8);
}

/**
 * Little-endian float bytes → Float32Array. F32 input comes back as a view of `bytes` when it is
 * aligned (no copy), so callers that keep the bytes must not assume a fresh buffer.
 */
export function toFloat32(bytes: Uint8Array, dtype: DType): Float32Array {
  switch (dtype) {
    case 'F32':
      return viewAsF32(bytes);
    case 'BF16':
      return bf16ToF32(viewAs16(bytes));
    case 'F16':
      return f16ToF32(viewAs16(bytes));
    case 'F64':
      return Float32Array.from(viewAsF64(bytes));
    default:
      throw new RangeError(`cannot convert ${dtype} to float32`);
  }
}

/** Float32Array → little-endian bytes of `dtype` (rounding to nearest even for F16/BF16). */
export function fromFloat32(values: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): Uint8Array {
  let arr: Float32Array | Uint16Array;
  if (dtype === 'F32') arr = values;
  else arr = dtype === 'BF16' ? f32ToBf16(values) : f32ToF16(values);
  const bytes = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
  return HOST_LITTLE_ENDIAN ? bytes : swapBytes(bytes, arr.BYTES_PER_ELEMENT);
}
