/**
 * Outputs appear whole or not at all. A pruning run takes minutes and can die half way (error,
 * Ctrl-C, out of memory); a half-written checkpoint in the user's output folder would load and
 * give garbage. So everything is built in a sibling temporary folder (same parent, hence the same
 * filesystem, hence an atomic rename) and moved into place only once complete.
 */
import { promises as fsp, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { guardOutput, resolveReal } from './output-guard.ts';
import { sweepStale, tempPath } from './temp-names.ts';

export interface OutputDirOptions {
  /** Replace `out` if it exists (only a folder compact wrote, or an empty one: see output-guard.ts). */
  force?: boolean;
  /** The input folder: `out` may not be it, inside it, contain it or any file it links to. */
  input?: string;
  /** Extra input folders protected the same way. */
  inputs?: string[];
}

function inputsOf(opts: { input?: string; inputs?: string[] }): string[] {
  return [...(opts.input !== undefined ? [opts.input] : []), ...(opts.inputs ?? [])];
}

export async function withOutputDir<T>(out: string, opts: OutputDirOptions, build: (tmpDir: string) => Promise<T>): Promise<T> {
  const guard = { kind: 'folder' as const, force: opts.force, inputs: inputsOf(opts) };
  guardOutput(out, guard);
  const outAbs = resolveReal(out);
  const parent = path.dirname(outAbs);
  await fsp.mkdir(parent, { recursive: true });
  await sweepStale(parent, path.basename(outAbs));

  const tmp = tempPath(outAbs, 'tmp');
  await fsp.mkdir(tmp);
  const release = track(tmp);
  try {
    const result = await build(tmp);
    // Checked again: something may have created or changed `out` while we were building.
    guardOutput(out, guard);
    await moveIntoPlace(tmp, outAbs);
    return result;
  } finally {
    release();
    await fsp.rm(tmp, { recursive: true, force: true, maxRetries: 3 });
  }
}

export interface WriteFileOptions {
  /** Replace an existing file (only one compact wrote: see `magic`, or an empty one). */
  force?: boolean;
  /** Input model folders the file may not be in, or be a file of. */
  inputs?: string[];
  /** The leading bytes of files compact writes at this kind of path ("GGUF"). */
  magic?: string;
  /** The flag the path came from, for messages. */
  flag?: string;
}

/**
 * Writes one file atomically (temporary sibling + rename), e.g. a GGUF. `data` may be an
 * (async) iterable of chunks so large files can be streamed. The path goes through the output
 * guard first: never into the input, never over an existing file without `force`.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  opts: WriteFileOptions = {},
): Promise<void> {
  const guard = { kind: 'file' as const, force: opts.force, inputs: opts.inputs, magic: opts.magic, flag: opts.flag };
  guardOutput(file, guard);
  const abs = path.resolve(file);
  await sweepStale(path.dirname(abs), path.basename(abs));
  const tmp = tempPath(abs, 'tmp');
  const release = track(tmp);
  try {
    const fh = await fsp.open(tmp, 'wx');
    try {
      if (typeof data === 'string' || data instanceof Uint8Array) {
        await fh.writeFile(data);
      } else {
        for await (const chunk of data) await writeAll(fh, chunk);
      }
      await fh.sync();
    } finally {
      await fh.close();
    }
    guardOutput(file, guard);
    await fsp.rename(tmp, abs);
  } finally {
    release();
    await fsp.rm(tmp, { force: true });
  }
}

async function writeAll(fh: FileHandle, chunk: Uint8Array): Promise<void> {
  let done = 0;
  while (done < chunk.byteLength) {
    const { bytesWritten } = await fh.write(chunk, done, Math.min(chunk.byteLength - done, 1 << 30));
    done += bytesWritten;
  }
}

async function moveIntoPlace(tmp: string, outAbs: string): Promise<void> {
  try {
    await fsp.lstat(outAbs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    await fsp.rename(tmp, outAbs);
    return;
  }
  const aside = tempPath(outAbs, 'old');
  await fsp.rename(outAbs, aside);
  try {
    await fsp.rename(tmp, outAbs);
  } catch (e) {
    await fsp.rename(aside, outAbs).catch(() => undefined);
    throw e;
  }
  await fsp.rm(aside, { recursive: true, force: true, maxRetries: 3 });
}

// ---------------------------------------------------------------------------------------------
// Cleanup on signals and exit. `finally` does not run when the process is killed by SIGINT/SIGTERM
// or leaves through process.exit(), so in-flight temporaries are also removed synchronously then.

const inFlight = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Never throws: it runs inside signal and exit handlers, where an exception becomes a stack
 * trace and exit status 1 instead of the signal's. A write still in flight on libuv's thread
 * pool can create an entry while the folder is being removed (ENOTEMPTY), hence the retries;
 * whatever survives carries this pid in its name and is swept by a later run.
 */
function cleanupSync(): void {
  removeAllSync(inFlight);
  inFlight.clear();
}

/** Removes every path, retrying each a few times; never throws (exported for its test). */
export function removeAllSync(paths: Iterable<string>, rm: (p: string) => void = (p) => rmSync(p, { recursive: true, force: true, maxRetries: 2, retryDelay: 5 })): void {
  for (const p of paths) {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        rm(p);
        break;
      } catch {
        // try again: the racing write has finished or failed by now
      }
    }
  }
}

function onSignal(signal: NodeJS.Signals): void {
  try {
    cleanupSync();
  } catch {
    // cleanupSync does not throw; belt and braces for the exit status
  }
  uninstall();
  // With our listener gone and no other, re-raising gives the default action and exit status.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

function install(): void {
  for (const s of SIGNALS) process.on(s, onSignal);
  process.on('exit', cleanupSync);
}

function uninstall(): void {
  for (const s of SIGNALS) process.off(s, onSignal);
  process.off('exit', cleanupSync);
}

function track(p: string): () => void {
  if (inFlight.size === 0) install();
  inFlight.add(p);
  return () => {
    if (inFlight.delete(p) && inFlight.size === 0) uninstall();
  };
}
