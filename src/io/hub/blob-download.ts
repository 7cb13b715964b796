import { downloadFile, HubApiError } from '@huggingface/hub';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CompactError } from '../../errors.ts';
import { blobPath } from './cache-layout.ts';
import { ContentHash } from './content-hash.ts';
import type { RepoFile } from './file-selection.ts';
import { explainHubError, type ErrorContext } from './hub-errors.ts';
import type { HubSettings } from './hub-settings.ts';

export interface BlobTarget {
  settings: HubSettings;
  repo: string;
  commit: string;
  /** models--org--name */
  folder: string;
  errors: ErrorContext;
}

/** The resolve URL of a file at a commit (what Python's hf_hub_url builds). */
export function resolveUrl(endpoint: string, repo: string, commit: string, path: string): string {
  return `${endpoint}/${repo}/resolve/${commit}/${path.split('/').map(encodeURIComponent).join('/')}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Downloads one file into `blobs/<etag>`: bytes go to `blobs/<etag>.incomplete` (an earlier
 * partial one is resumed with an HTTP Range, and so is a connection cut during this run, up to
 * `retries` times), are hashed as they arrive, and the file is renamed to its blob name only when
 * its size and hash are what the hub listed. A mismatch deletes the partial file and fails: a
 * corrupt file is never cached.
 */
export async function downloadBlob(t: BlobTarget, file: RepoFile, onBytes: (n: number) => void): Promise<void> {
  const blob = blobPath(t.folder, file.etag);
  const partial = `${blob}.incomplete`;
  await mkdir(dirname(blob), { recursive: true });
  const hash = new ContentHash(file);
  let have = 0;
  try {
    have = (await stat(partial)).size;
  } catch {
    have = 0;
  }
  if (have > file.size) {
    await rm(partial, { force: true });
    have = 0;
  }
  await hash.updateFromFile(partial, have);
  if (have > 0) onBytes(have);

  const url = resolveUrl(t.settings.endpoint, t.repo, t.commit, file.path);
  const recorder = t.errors.recorder;
  // Bytes as stored, never a compressed rendering: the hash and the Range offsets are over those.
  const identity: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    headers.set('Accept-Encoding', 'identity');
    return recorder.fetch(input, { ...init, headers });
  };
  const fh = await open(partial, 'a');
  try {
    for (let attempt = 0; ; attempt++) {
      if (have === file.size) break;
      recorder.forget(url);
      try {
        const remote = await downloadFile({
          repo: { type: 'model', name: t.repo },
          path: file.path,
          revision: t.commit,
          hubUrl: t.settings.endpoint,
          accessToken: t.settings.token,
          fetch: identity,
          xet: false,
          downloadInfo: { size: file.size, etag: file.etag, url },
        });
        if (!remote) throw new CompactError(`${t.errors.what}: ${file.path} is listed but cannot be downloaded`);
        const body = have > 0 ? remote.slice(have) : remote;
        let first = true;
        for await (const chunk of body.stream() as unknown as AsyncIterable<Uint8Array>) {
          if (first && have > 0 && recorder.statusFor(url) === 200) {
            // The server ignored the Range and sends the whole file: start the partial file over.
            await fh.truncate(0);
            onBytes(-have);
            have = 0;
            hash.reset();
          }
          first = false;
          if (have + chunk.length > file.size) throw new CompactError(`${t.errors.what}: ${file.path}: the hub sent more than the ${file.size} bytes it lists`);
          await fh.write(chunk, 0, chunk.length, have);
          hash.update(chunk);
          have += chunk.length;
          onBytes(chunk.length);
        }
        if (have < file.size) throw new Error(`connection closed after ${have} of ${file.size} bytes`);
      } catch (e) {
        if (e instanceof CompactError) throw e;
        const status = e instanceof HubApiError ? e.statusCode : recorder.statusFor(url);
        if (status !== undefined && status >= 400 && status < 500) throw explainHubError(e instanceof HubApiError ? e : new HubApiError(url, status), t.errors);
        if (attempt >= t.settings.retries) {
          const why = e instanceof Error ? e.message : String(e);
          throw new CompactError(`${t.errors.what}: download of ${file.path} stopped at ${have} of ${file.size} bytes (${why}); run the command again to resume it`);
        }
        await sleep(t.settings.retryDelayMs * 2 ** attempt);
      }
    }
  } finally {
    await fh.close();
  }
  const got = hash.digest();
  if (got !== file.etag) {
    await rm(partial, { force: true });
    throw new CompactError(
      `${t.errors.what}: ${file.path}: downloaded bytes have ${file.lfs ? 'sha256' : 'git blob id'} ${got}, the hub lists ${file.etag}; refused and deleted (nothing was cached; a mirror serving a corrupt copy?)`,
    );
  }
  await rename(partial, blob);
}
