import { listFiles, modelInfo } from '@huggingface/hub';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CompactError } from '../../errors.ts';
import { downloadBlob, type BlobTarget } from './blob-download.ts';
import { blobPath, exists, linkPointer, pointerSize, refPath, repoFolder, snapshotDir, writeRef } from './cache-layout.ts';
import { fileMatches } from './content-hash.ts';
import { INDEX_FILE, metadataFiles, SINGLE_WEIGHTS, weightFiles, type RepoFile } from './file-selection.ts';
import { explainHubError, RecordingFetch, type ErrorContext } from './hub-errors.ts';
import type { HubSettings } from './hub-settings.ts';
import { isCommitHash, type HubRef } from './repo-id.ts';

/** Where a model came from: recorded in compact-report.json (and read by the model card). */
export interface HubSource {
  repo: string;
  /** The revision asked for (branch, tag or commit). */
  revision: string;
  /** The commit it resolved to: the exact files used. */
  commit: string;
  endpoint: string;
}

export interface HubSnapshot {
  /** `<cache>/models--org--name/snapshots/<commit>`: an ordinary model folder of symlinks. */
  dir: string;
  source: HubSource;
  /** Fetches the weights too (when opened without them); the same commit, never re-resolved. */
  complete(): Promise<void>;
}

/**
 * A model at a revision as a local folder in the Hugging Face cache: online, the revision is
 * resolved to its commit, the files compact needs are listed, and those not already cached are
 * downloaded and checked; offline (HF_HUB_OFFLINE), only the cache is read.
 * With `weights: false` only the small files come now (so every option can be checked against
 * config.json and the tokenizer before gigabytes move) and `complete()` fetches the rest.
 */
export async function openHubSnapshot(ref: HubRef, s: HubSettings, opts: { weights: boolean }): Promise<HubSnapshot> {
  const folder = repoFolder(s.cacheDir, ref.repo);
  const what = ref.revision === 'main' ? ref.repo : `${ref.repo}@${ref.revision}`;
  if (s.offline) return offlineSnapshot(ref, s, folder, what);

  const recorder = new RecordingFetch(s.fetch);
  const errors: ErrorContext = { what, repo: ref.repo, endpoint: s.endpoint, hasToken: s.token !== undefined, recorder };
  const common = { hubUrl: s.endpoint, accessToken: s.token, fetch: recorder.fetch };
  let commit: string;
  let listing: RepoFile[];
  try {
    commit = isCommitHash(ref.revision) ? ref.revision : (await modelInfo({ name: ref.repo, revision: ref.revision, additionalFields: ['sha'], ...common })).sha;
    if (!isCommitHash(commit ?? '')) throw new CompactError(`${what}: the hub answered no commit id for this revision (got ${JSON.stringify(commit)})`);
    listing = [];
    for await (const f of listFiles({ repo: { type: 'model', name: ref.repo }, revision: commit, ...common })) {
      if (f.type !== 'file') continue;
      const etag = f.lfs?.oid ?? f.oid;
      if (!etag) throw new CompactError(`${what}: the hub lists ${f.path} without a content id`);
      listing.push({ path: f.path, size: f.lfs?.size ?? f.size, etag, lfs: f.lfs !== undefined });
    }
  } catch (e) {
    throw explainHubError(e, errors);
  }

  const source: HubSource = { repo: ref.repo, revision: ref.revision, commit, endpoint: s.endpoint };
  const dir = snapshotDir(folder, commit);
  const target: BlobTarget = { settings: s, repo: ref.repo, commit, folder, errors };
  await ensureFiles(target, metadataFiles(listing, what));
  let done: Promise<void> | null = null;
  const complete = (): Promise<void> =>
    (done ??= (async () => {
      const index = listing.some((f) => f.path === INDEX_FILE) ? readFileSync(join(dir, INDEX_FILE), 'utf8') : null;
      await ensureFiles(target, weightFiles(listing, index, what));
      // The ref is written last: a run that fails leaves no revision pointing at a partial download.
      await writeRef(folder, ref.revision, commit);
    })());
  if (opts.weights) await complete();
  return { dir, source, complete };
}

/** Downloads (or links from an existing blob) every file not already in the snapshot. */
async function ensureFiles(t: BlobTarget, files: RepoFile[]): Promise<void> {
  const missing: RepoFile[] = [];
  for (const f of files) if ((await pointerSize(t.folder, t.commit, f.path)) !== f.size) missing.push(f);
  const totalBytes = missing.reduce((a, f) => a + f.size, 0);
  let bytes = 0;
  for (const [i, f] of missing.entries()) {
    const report = () => t.settings.onProgress?.({ repo: t.repo, file: f.path, bytes, totalBytes, files: i, totalFiles: missing.length });
    const blob = blobPath(t.folder, f.etag);
    // A blob already there (another commit, or Python) is checked before a new snapshot trusts it.
    if (!((await exists(blob)) && (await fileMatches(blob, f)))) {
      await downloadBlob(t, f, (n) => {
        bytes += n;
        report();
      });
    } else {
      bytes += f.size;
    }
    await linkPointer(t.folder, t.commit, f.path, f.etag);
    report();
  }
  if (missing.length) t.settings.onProgress?.({ repo: t.repo, file: '', bytes, totalBytes, files: missing.length, totalFiles: missing.length });
}

function offlineSnapshot(ref: HubRef, s: HubSettings, folder: string, what: string): HubSnapshot {
  const hint = 'HF_HUB_OFFLINE is set, so nothing is downloaded: run once without it, or point HF_HUB_CACHE/HF_HOME at the cache that has it';
  const commit = isCommitHash(ref.revision) ? ref.revision : readRefSync(folder, ref.revision);
  const dir = commit ? snapshotDir(folder, commit) : null;
  if (!commit || !dir || !existsSync(dir)) throw new CompactError(`${what}: not in the Hugging Face cache (${folder}${commit ? `/snapshots/${commit}` : `/refs/${ref.revision}`} missing); ${hint}`);
  const need = ['config.json'];
  if (existsSync(join(dir, INDEX_FILE))) {
    try {
      need.push(...shardNames(readFileSync(join(dir, INDEX_FILE), 'utf8')));
    } catch (e) {
      throw e instanceof CompactError ? e : new CompactError(`${join(dir, INDEX_FILE)}: ${(e as Error).message}`);
    }
  } else {
    need.push(SINGLE_WEIGHTS);
  }
  const lacking = need.filter((n) => !existsSync(join(dir, n)));
  if (lacking.length) throw new CompactError(`${what}: the cached snapshot ${dir} lacks ${lacking.join(', ')}; ${hint}`);
  return { dir, source: { repo: ref.repo, revision: ref.revision, commit, endpoint: s.endpoint }, complete: async () => {} };
}

function shardNames(indexJson: string): string[] {
  const map = (JSON.parse(indexJson) as { weight_map?: Record<string, string> }).weight_map;
  if (!map || typeof map !== 'object') throw new Error('no weight_map');
  return [...new Set(Object.values(map))].sort();
}

function readRefSync(folder: string, revision: string): string | null {
  try {
    const c = readFileSync(refPath(folder, revision), 'utf8').trim();
    return isCommitHash(c) ? c : null;
  } catch {
    return null;
  }
}
