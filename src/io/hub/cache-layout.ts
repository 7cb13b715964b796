import { lstat, mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { isCommitHash } from './repo-id.ts';

/**
 * The Hugging Face cache layout, as Python's huggingface_hub writes it, so that transformers and
 * compact share downloads both ways:
 *
 *   <cache>/models--org--name/blobs/<etag>                 file contents (etag: sha256 for LFS files, git blob id otherwise)
 *   <cache>/models--org--name/blobs/<etag>.incomplete      a download in progress (resumed with an HTTP Range)
 *   <cache>/models--org--name/snapshots/<commit>/<path>    relative symlink to ../../blobs/<etag>
 *   <cache>/models--org--name/refs/<revision>              the commit a branch or tag pointed to (no newline)
 */
export function repoFolder(cacheDir: string, repo: string): string {
  return join(cacheDir, `models--${repo.split('/').join('--')}`);
}

export function blobPath(folder: string, etag: string): string {
  return join(folder, 'blobs', etag);
}

export function snapshotDir(folder: string, commit: string): string {
  return join(folder, 'snapshots', commit);
}

/** `refs/<revision>`; a revision such as refs/pr/1 nests folders, as in Python. */
export function refPath(folder: string, revision: string): string {
  return join(folder, 'refs', ...revision.split('/'));
}

/** The commit a cached ref names, or null when there is none (or it is not a commit id). */
export async function readRef(folder: string, revision: string): Promise<string | null> {
  try {
    const c = (await readFile(refPath(folder, revision), 'utf8')).trim();
    return isCommitHash(c) ? c : null;
  } catch {
    return null;
  }
}

/** Written only for branch and tag names (Python writes no ref for a commit id), through a temporary name. */
export async function writeRef(folder: string, revision: string, commit: string): Promise<void> {
  if (revision === commit) return;
  const p = refPath(folder, revision);
  if ((await readRef(folder, revision)) === commit) return;
  await mkdir(dirname(p), { recursive: true });
  const tmp = `${p}.${process.pid}.tmp`;
  await writeFile(tmp, commit);
  await rename(tmp, p);
}

/** Size of the file a snapshot entry resolves to, or null when the entry or its blob is missing. */
export async function pointerSize(folder: string, commit: string, path: string): Promise<number | null> {
  try {
    return (await stat(join(snapshotDir(folder, commit), path))).size;
  } catch {
    return null;
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Points `snapshots/<commit>/<path>` at `blobs/<etag>` with a relative symlink (what Python's
 * _create_symlink makes), replacing any earlier entry atomically.
 */
export async function linkPointer(folder: string, commit: string, path: string, etag: string): Promise<void> {
  const dst = join(snapshotDir(folder, commit), path);
  await mkdir(dirname(dst), { recursive: true });
  const target = relative(dirname(dst), blobPath(folder, etag));
  const tmp = `${dst}.${process.pid}.tmp`;
  await rm(tmp, { force: true });
  await symlink(target, tmp);
  await rename(tmp, dst);
}
