/**
 * llama.cpp's reference quantizers, compiled from the same llama.cpp release @fugood/llama.node
 * vendors (ggml-quants.c from npm llama.rn, fetched by `CORE_ONLY=1 bench/native/build.sh`) with
 * the system C compiler, for the byte-identity tests. The binary is cached under
 * bench/native/.build/quant-ref/<hash of sources, flags and compiler>/, so a machine compiles it once.
 *
 * Compiled with -ffp-contract=off: the C is float32 arithmetic, and a compiler fusing a·b + c into
 * one FMA (GCC's default where the target has FMA, e.g. aarch64) rounds differently; x86-64
 * builds of llama.cpp without -march flags (ggml-base) do not fuse either.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { GGML_TYPES, type GgmlTypeName } from '../../src/export/gguf-quant/ggml-types.ts';
import { REPO_ROOT } from '../helpers/paths.ts';

const DRIVER = join(REPO_ROOT, 'test/export/native/quant-ref.c');
const LLAMA = join(REPO_ROOT, 'node_modules/@fugood/llama.node/src/llama.cpp');
const FLAGS = ['-O2', '-std=gnu11', '-ffp-contract=off', '-DNDEBUG', '-DGGML_MAX_NAME=80'];

export type Reference = (type: GgmlTypeName, cols: number, values: Float32Array) => Uint8Array;

/** The C compiler, or null when the machine has none (the only reason to skip). */
export function cCompiler(): string | null {
  for (const cc of [process.env.CC, 'cc', 'gcc', 'clang']) {
    if (cc && spawnSync(cc, ['--version'], { stdio: 'ignore' }).status === 0) return cc;
  }
  return null;
}

function ggmlCore(): string {
  if (process.env.GGML_CORE_DIR) return process.env.GGML_CORE_DIR;
  if (existsSync(join(LLAMA, 'ggml/src/ggml-quants.c'))) return join(LLAMA, 'ggml/src');
  const core = join(REPO_ROOT, 'bench/native/.build/ggml-core');
  if (!existsSync(join(core, 'ggml-quants.c'))) {
    const r = spawnSync('bash', [join(REPO_ROOT, 'bench/native/build.sh')], { env: { ...process.env, CORE_ONLY: '1' }, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`could not fetch ggml's core sources (bench/native/build.sh): ${r.stderr}`);
  }
  return core;
}

/** Builds (or finds cached) the reference driver; returns its path. */
export function buildReference(cc: string): string {
  const core = ggmlCore();
  const inc = ['-I', join(LLAMA, 'ggml/include'), '-I', core, '-I', join(LLAMA, 'ggml/src'), '-I', join(LLAMA, 'ggml/src/ggml-cpu')];
  const h = createHash('sha256');
  for (const f of [DRIVER, join(core, 'ggml-quants.c'), join(core, 'ggml-quants.h'), join(core, 'ggml-common.h'), join(core, 'ggml-impl.h'), join(LLAMA, 'ggml/include/ggml.h')]) {
    h.update(readFileSync(f));
  }
  h.update(FLAGS.join(' '));
  h.update(spawnSync(cc, ['--version'], { encoding: 'utf8' }).stdout ?? '');
  const dir = join(REPO_ROOT, 'bench/native/.build/quant-ref', h.digest('hex').slice(0, 16));
  const bin = join(dir, 'quant-ref');
  if (existsSync(bin)) return bin;
  mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  const r = spawnSync(cc, [...FLAGS, ...inc, DRIVER, join(core, 'ggml-quants.c'), '-o', tmp, '-lm'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`compiling the reference quantizer failed:\n${r.stderr}`);
  chmodSync(tmp, 0o755);
  renameSync(tmp, bin);
  return bin;
}

/** Runs the driver on a batch of tensors at once (one process); returns each one's bytes. */
export function referenceBatch(bin: string, jobs: ReadonlyArray<{ type: GgmlTypeName; cols: number; values: Float32Array }>): Uint8Array[] {
  const parts: Buffer[] = [];
  for (const j of jobs) {
    const hdr = Buffer.alloc(12);
    hdr.writeUInt32LE(GGML_TYPES[j.type].id, 0);
    hdr.writeUInt32LE(j.cols, 4);
    hdr.writeUInt32LE(j.values.length / j.cols, 8);
    parts.push(hdr, Buffer.from(j.values.buffer, j.values.byteOffset, j.values.byteLength));
  }
  const r = spawnSync(bin, [], { input: Buffer.concat(parts), maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`reference quantizer failed: ${r.stderr.toString()}`);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const j of jobs) {
    const n = (j.values.length / GGML_TYPES[j.type].blockSize) * GGML_TYPES[j.type].typeSize;
    out.push(new Uint8Array(r.stdout.buffer, r.stdout.byteOffset + at, n));
    at += n;
  }
  if (at !== r.stdout.length) throw new Error(`reference quantizer wrote ${r.stdout.length} bytes, expected ${at}`);
  return out;
}
