import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { CompactError } from '../errors.ts';
import type { ModelSpec } from '../families/types.ts';
import { fmtBytes } from '../report/format.ts';

/**
 * Address-space limits (`ulimit -v`, `prlimit --as`; common on shared login nodes). They count
 * virtual memory, of which a Node process with onnxruntime reserves about 1 GiB before it reads a
 * byte (V8's code range, thread stacks, malloc arenas), so a limit can be fine for RSS and still
 * stop a run; what must not happen is a V8 abort or a native stack trace.
 */

/** RLIMIT_AS in bytes from /proc/self/limits; null when unlimited or not on Linux. */
export function addressSpaceLimit(): number | null {
  try {
    const m = /^Max address space\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m && m[1] !== 'unlimited' ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function vmSize(): number | null {
  try {
    const m = /^VmSize:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

const MiB = 2 ** 20;
/** Per onnxruntime worker thread: its stack (8 MiB) and the glibc malloc arena it gets (64 MiB). */
const PER_THREAD = 72 * MiB;

function limitText(limit: number): string {
  return `the address-space limit of ${fmtBytes(limit)} (ulimit -v ${Math.floor(limit / 1024)})`;
}

/**
 * Refuses up front, with one line, a limit too small for this model: what the process holds now,
 * plus the engine's threads, plus the largest weights held at once in f32 (the embedding, or one
 * decoder layer) and room for activations and buffers. Measured peaks (VmPeak) it should match:
 * wiki-28m 1.50 GiB (estimate 1.41), the Qwen2.5-0.5B shape 1.89 GiB (estimate 1.88), both with
 * 2 threads. An estimate, not a promise: a run that passes may still fail later, and then
 * `outOfMemoryError` words it.
 */
export function checkAddressSpace(spec: ModelSpec, threads = availableParallelism()): void {
  const limit = addressSpaceLimit();
  const now = vmSize();
  if (limit === null || now === null) return;
  const embedding = spec.vocabSize * spec.hidden * 4;
  const attention = spec.hidden * (spec.heads + 2 * spec.kvHeads) * spec.headDim + spec.heads * spec.headDim * spec.hidden;
  const layer = (3 * spec.hidden * spec.intermediate + attention) * 4;
  const need = now + threads * PER_THREAD + Math.max(embedding, layer) + 192 * MiB;
  if (limit < need) {
    throw new CompactError(`${limitText(limit)} is too small for this model: it needs at least ~${fmtBytes(need)} of address space (${fmtBytes(now)} for Node and onnxruntime, ${threads} threads, ${fmtBytes(Math.max(embedding, layer))} of f32 weights at a time); raise it or pass fewer --threads`);
  }
}

/** Native and allocation failures that mean "out of memory", as one CompactError; null for anything else. */
export function outOfMemoryError(e: unknown): CompactError | null {
  if (!(e instanceof Error)) return null;
  const code = (e as NodeJS.ErrnoException).code;
  const text = e.message;
  const oom =
    code === 'ENOMEM' ||
    (e instanceof RangeError && /Array buffer allocation failed|Allocation failed/i.test(text)) ||
    (code === 'ERR_DLOPEN_FAILED' && /failed to map segment|cannot allocate memory/i.test(text)) ||
    /bad_alloc|Failed to allocate memory|BFCArena::AllocateRaw|PosixThread|pthread_create|Cannot allocate memory/i.test(text);
  if (!oom) return null;
  const limit = addressSpaceLimit();
  const first = text.split('\n')[0]!.replace(/^.*Status Message: /, '');
  const what = /PosixThread|pthread_create/.test(text) ? 'cannot start a thread' : code === 'ERR_DLOPEN_FAILED' ? 'cannot load a native library' : 'cannot allocate memory';
  return new CompactError(`out of memory: ${what}${limit !== null ? ` under ${limitText(limit)}; raise it or pass fewer --threads` : ''} (${first.length > 160 ? first.slice(0, 160) + '…' : first})`);
}
