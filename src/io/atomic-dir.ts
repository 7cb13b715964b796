/**
 * Outputs appear whole or not at all. A pruning run takes minutes and can die half way (error,
 * Ctrl-C, out of memory); a half-written checkpoint in the user's output folder would load and
 * give garbage. So everything is built in a sibling temporary folder (same parent, hence the same
 * filesystem, hence an atomic rename) and moved into place only once complete.
 */
import { randomBytes } from 'node:crypto';
import { promises as fsp, rmSync, realpathSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { CompactError } from '../errors.ts';

const TMP_TAG = '.compact-tmp-';
const OLD_TAG = '.compact-old-';

export interface OutputDirOptions {
  /** Replace `out` if it exists. */
  force?: boolean;
  /** The input folder: `out` may not be it, inside it, or contain it. */
  input?: string;
}

export async function withOutputDir<T>(out: string, opts: OutputDirOptions, build: (tmpDir: string) => Promise<T>): Promise<T> {
  const outAbs = resolveReal(out);
  if (opts.input !== undefined) checkNotInput(out, outAbs, opts.input);
  const parent = path.dirname(outAbs);
  const base = path.basename(outAbs);
  await fsp.mkdir(parent, { recursive: true });
  const existed = await exists(outAbs);
  if (existed && !opts.force) throw new CompactError(`${out} exists; pass --force to replace it`);
  await removeStale(parent, base, existed);

  const tmp = path.join(parent, `${base}${TMP_TAG}${process.pid}-${randomBytes(4).toString('hex')}`);
  await fsp.mkdir(tmp);
  const release = track(tmp);
  try {
    const result = await build(tmp);
    await moveIntoPlace(tmp, outAbs, out, opts.force === true);
    return result;
  } finally {
    release();
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

/**
 * Writes one file atomically (temporary sibling + rename), e.g. a GGUF. `data` may be an
 * (async) iterable of chunks so large files can be streamed. Replaces an existing file unless
 * `overwrite` is false, in which case that is a CompactError.
 */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  opts: { overwrite?: boolean } = {},
): Promise<void> {
  const abs = path.resolve(file);
  if (opts.overwrite === false && (await exists(abs))) throw new CompactError(`${file} exists; pass --force to replace it`);
  const tmp = path.join(path.dirname(abs), `${path.basename(abs)}${TMP_TAG}${process.pid}-${randomBytes(4).toString('hex')}`);
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

async function moveIntoPlace(tmp: string, outAbs: string, out: string, force: boolean): Promise<void> {
  if (!(await exists(outAbs))) {
    await fsp.rename(tmp, outAbs);
    return;
  }
  // Checked again: something may have created `out` while we were building.
  if (!force) throw new CompactError(`${out} exists; pass --force to replace it`);
  const aside = path.join(path.dirname(outAbs), `${path.basename(outAbs)}${OLD_TAG}${process.pid}-${randomBytes(4).toString('hex')}`);
  await fsp.rename(outAbs, aside);
  try {
    await fsp.rename(tmp, outAbs);
  } catch (e) {
    await fsp.rename(aside, outAbs).catch(() => undefined);
    throw e;
  }
  await fsp.rm(aside, { recursive: true, force: true });
}

/** Absolute path with symlinks resolved as far as the path exists (the rest may not exist yet). */
function resolveReal(p: string): string {
  const abs = path.resolve(p);
  const tail: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      return path.join(realpathSync(cur), ...tail);
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return abs;
      tail.unshift(path.basename(cur));
      cur = up;
    }
  }
}

function isWithin(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function checkNotInput(out: string, outAbs: string, input: string): void {
  const inAbs = resolveReal(input);
  if (outAbs === inAbs) throw new CompactError(`${out} is the input folder; choose another output folder`);
  if (isWithin(outAbs, inAbs)) throw new CompactError(`${out} is inside the input folder ${input}; choose another output folder`);
  // Replacing a folder that contains the input would delete the input.
  if (isWithin(inAbs, outAbs)) throw new CompactError(`${out} contains the input folder ${input}; choose another output folder`);
}

/** Removes leftovers of runs that died without cleaning up (their pid is gone). */
async function removeStale(parent: string, base: string, outExists: boolean): Promise<void> {
  const escaped = base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const re = new RegExp(`^${escaped}(${TMP_TAG.replace(/\./g, '\\.')}|${OLD_TAG.replace(/\./g, '\\.')})(\\d+)-[0-9a-f]+$`);
  for (const name of await fsp.readdir(parent)) {
    const m = re.exec(name);
    if (!m) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || isAlive(pid)) continue;
    // An old output set aside is the only copy if the rename that replaced it never happened.
    if (m[1] === OLD_TAG && !outExists) continue;
    await fsp.rm(path.join(parent, name), { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fsp.lstat(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Cleanup on signals and exit. `finally` does not run when the process is killed by SIGINT/SIGTERM
// or leaves through process.exit(), so in-flight temporaries are also removed synchronously then.

const inFlight = new Set<string>();
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

function cleanupSync(): void {
  for (const p of inFlight) rmSync(p, { recursive: true, force: true });
  inFlight.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  cleanupSync();
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

/**
 * Removes `path` (recursively) if the process is killed by a signal or exits before the returned
 * release function is called: for private temporaries outside an output folder.
 */
export function removeOnExit(path: string): () => void {
  return track(path);
}

function track(p: string): () => void {
  if (inFlight.size === 0) install();
  inFlight.add(p);
  return () => {
    if (inFlight.delete(p) && inFlight.size === 0) uninstall();
  };
}
