import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { RepoFile } from './file-selection.ts';

/**
 * The hash the hub names a file by, computed as bytes arrive: sha256 of the contents for an LFS
 * file, the git blob id (sha1 of "blob <size>\0" + contents) for any other. Either way every
 * downloaded byte is checked against what the hub says the file is.
 */
export class ContentHash {
  private h: Hash;

  constructor(private readonly file: RepoFile) {
    this.h = ContentHash.fresh(file);
  }

  private static fresh(file: RepoFile): Hash {
    if (file.lfs) return createHash('sha256');
    return createHash('sha1').update(`blob ${file.size}\0`);
  }

  reset(): void {
    this.h = ContentHash.fresh(this.file);
  }

  update(bytes: Uint8Array): void {
    this.h.update(bytes);
  }

  digest(): string {
    return this.h.digest('hex');
  }

  /** Feeds the first `length` bytes of a file (a partial download being resumed). */
  async updateFromFile(path: string, length: number): Promise<void> {
    if (length === 0) return;
    for await (const chunk of createReadStream(path, { start: 0, end: length - 1 })) this.h.update(chunk as Buffer);
  }
}

/** Whether a whole file on disk hashes to the file's etag. */
export async function fileMatches(path: string, file: RepoFile): Promise<boolean> {
  const h = new ContentHash(file);
  await h.updateFromFile(path, file.size);
  return h.digest() === file.etag;
}
