/**
 * The one gate every output path passes before compact writes there (output folders, GGUF files,
 * ONNX folders with their external data): compact never writes into or over its input model,
 * never replaces anything without --force, and even with --force replaces only what compact
 * itself wrote (a folder with its report or export record, a GGUF file, or an empty one).
 *
 * Paths are compared after resolving symlinks, both of the output and of every entry of the
 * input folder: a model folder in the Hugging Face cache is a folder of links into `blobs/`, and
 * replacing a blob would destroy the model although no path under the folder is named.
 */
import { accessSync, constants, lstatSync, mkdtempSync, readdirSync, realpathSync, rmdirSync, statSync, type Stats } from 'node:fs';
import path from 'node:path';
import { CompactError } from '../errors.ts';
import { parseTempName } from './temp-names.ts';
import { readHead } from './text-file.ts';

/** Files whose presence marks a folder as written by compact (prune report, export record). */
export const OUTPUT_MARKERS = ['compact-report.json', 'compact-export.json'] as const;

export interface GuardOptions {
  /** What the output is: a folder built whole, or one file. */
  kind: 'folder' | 'file';
  /** Replace an existing output (only one compact wrote, see above). */
  force?: boolean;
  /** Input model folders: the output may not be, be inside, contain, or be a file of any of them. */
  inputs?: string[];
  /** For files: the leading bytes of a file compact writes there (e.g. "GGUF"). */
  magic?: string;
  /** The flag the path came from, for messages (default --out). */
  flag?: string;
  /** Skip the existence checks (a file inside an output folder this run creates afresh). */
  fresh?: boolean;
}

/** Absolute path with symlinks resolved as far as the path exists (the rest may not exist yet). */
export function resolveReal(p: string): string {
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

/** The entry a rename onto `p` would replace: the real parent joined with the last name (a link itself, not its target). */
function entryPath(p: string): string {
  const abs = path.resolve(p);
  return path.join(resolveReal(path.dirname(abs)), path.basename(abs));
}

export function isWithin(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

const MAX_INPUT_ENTRIES = 100_000;

/** Real paths of an input folder's entries (recursively), so links out of it are protected too. */
function protectedPaths(input: string): { root: string; entries: Map<string, string> } {
  const root = resolveReal(input);
  const entries = new Map<string, string>();
  const walk = (dir: string, rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (entries.size >= MAX_INPUT_ENTRIES) return;
      const p = path.join(dir, name);
      const relName = rel ? `${rel}/${name}` : name;
      let real: string;
      try {
        real = realpathSync(p);
      } catch {
        continue; // a dangling link protects nothing
      }
      entries.set(real, relName);
      let st: Stats;
      try {
        st = lstatSync(p);
      } catch {
        continue;
      }
      if (st.isDirectory()) walk(p, relName);
    }
  };
  walk(root, '');
  return { root, entries };
}

function checkNotInput(shown: string, targets: string[], input: string, kind: GuardOptions['kind']): void {
  const { root, entries } = protectedPaths(input);
  for (const t of targets) {
    if (t === root) throw new CompactError(`${shown} is the input folder; choose another output`);
    if (isWithin(t, root)) throw new CompactError(`${shown} is inside the input folder ${input}; choose another output`);
    // Replacing a folder that contains the input would delete the input.
    if (isWithin(root, t)) throw new CompactError(`${shown} contains the input folder ${input}; choose another output`);
    for (const [real, rel] of entries) {
      if (real === t) throw new CompactError(`${shown} is the input's file ${path.join(input, rel)} (through a link); choose another output`);
      if (kind === 'folder' && isWithin(real, t)) throw new CompactError(`${shown} contains ${real}, which the input's ${rel} links to; choose another output`);
    }
  }
}

function lstatOrNull(p: string): Stats | null {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw new CompactError(`${p}: cannot inspect (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

function listing(names: string[]): string {
  const shown = names.slice(0, 4).join(', ');
  return names.length > 4 ? `${shown}, … (${names.length} entries)` : shown;
}

/** Why compact may not replace the folder at `dir` even with --force, or null if it may. */
export function foreignFolder(dir: string): string | null {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (e) {
    return `cannot be listed (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  const own = names.filter((n) => parseTempName(n) === null);
  if (own.length === 0) return null;
  for (const m of OUTPUT_MARKERS) {
    const st = lstatOrNull(path.join(dir, m));
    if (st?.isFile()) return null;
  }
  return `holds ${listing(own.sort())} and no compact-report.json, so compact did not write it`;
}

/** Why compact may not replace the file at `file` even with --force, or null if it may. */
function foreignFile(file: string, st: Stats, magic: string | undefined): string | null {
  if (!st.isFile()) return st.isSymbolicLink() ? 'is a symbolic link' : 'is not a regular file';
  if (st.size === 0) return null;
  if (!magic) return 'is not a file compact wrote';
  const want = Buffer.from(magic, 'latin1');
  let got: Buffer;
  try {
    got = readHead(file, want.length);
  } catch (e) {
    return `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  return got.equals(want) ? null : `does not start with "${magic}", so compact did not write it`;
}

/**
 * The folder the output goes in must be one we can create entries in: for a folder output the
 * nearest existing ancestor (missing folders are created), for a file its own parent. Probed by
 * creating and removing an entry: permission bits do not tell the whole story (root, /proc,
 * read-only mounts).
 */
function checkParentWritable(target: string, p: string, createParents: boolean): void {
  let dir = path.dirname(path.resolve(p));
  for (;;) {
    let st: Stats | null = null;
    try {
      st = statSync(dir);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') throw new CompactError(`${target}: cannot write: ${dir}: ${code ?? (e as Error).message}`);
      if (code === 'ENOTDIR') {
        // Some ancestor is a file: name it.
        let up = path.dirname(dir);
        while (up !== path.dirname(up) && !lstatOrNull(up)) up = path.dirname(up);
        throw new CompactError(`${target}: cannot write: ${up} is not a folder`);
      }
    }
    if (st) {
      if (!st.isDirectory()) throw new CompactError(`${target}: cannot write: ${dir} is not a folder`);
      break;
    }
    if (!createParents) throw new CompactError(`${target}: cannot write: folder ${dir} does not exist`);
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  try {
    accessSync(dir, constants.W_OK);
    rmdirSync(mkdtempSync(path.join(dir, '.compact-probe-')));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new CompactError(`${target}: cannot write: folder ${dir} is not writable (${code})`);
  }
}

/**
 * Checks `target` as an output before any work: throws a one-line CompactError naming the path
 * and what is wrong. Called again right before the final rename (the world may have changed).
 */
export function guardOutput(target: string, opts: GuardOptions): void {
  const flag = opts.flag ?? '--out';
  const shown = opts.flag ? `${flag} ${target}` : target;
  if (target.trim() === '') throw new CompactError(`${flag} is empty`);
  const real = resolveReal(target);
  const entry = entryPath(target);
  for (const input of opts.inputs ?? []) checkNotInput(shown, [...new Set([real, entry])], input, opts.kind);
  if (opts.fresh) return;
  // A folder is built beside its real path (a link to a folder is followed); a file replaces the entry itself.
  const at = opts.kind === 'folder' ? real : entry;
  const st = lstatOrNull(at);
  if (st) {
    if (opts.kind === 'file' && st.isDirectory()) throw new CompactError(`${shown}: is a folder; ${flag} names the ${opts.magic === 'GGUF' ? '.gguf ' : ''}file to write`);
    if (opts.kind === 'folder' && !st.isDirectory()) {
      throw new CompactError(`${shown}: is ${st.isSymbolicLink() ? 'a symbolic link' : 'a file'}, not a folder; compact does not replace it, even with --force`);
    }
    if (!opts.force) throw new CompactError(`${target} exists; pass --force to replace it`);
    const why = opts.kind === 'folder' ? foreignFolder(at) : foreignFile(at, st, opts.magic);
    if (why) throw new CompactError(`${target}: ${why}; compact does not replace it, even with --force`);
  }
  checkParentWritable(shown, at, opts.kind === 'folder');
}
