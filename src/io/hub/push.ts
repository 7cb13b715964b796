import { createRepo, HubApiError, uploadFiles, whoAmI } from '@huggingface/hub';
import { readdirSync, statSync } from 'node:fs';
import { basename, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CompactError } from '../../errors.ts';
import { explainHubError, RecordingFetch } from './hub-errors.ts';
import { hubSettings, type HubOptions } from './hub-settings.ts';
import { repoIdProblem } from './repo-id.ts';

export interface PushOptions extends Pick<HubOptions, 'endpoint' | 'token' | 'fetch'> {
  /** Create the repository private (an existing one keeps its visibility). */
  private?: boolean;
  /** Commit title. */
  message?: string;
}

export interface PushResult {
  repo: string;
  commit: string;
  /** The commit's page on the hub. */
  url: string;
  /** Paths in the repository, as uploaded. */
  files: string[];
}

function target(repo: string, opts: PushOptions): { endpoint: string; token: string } {
  const problem = repoIdProblem(repo);
  if (problem) throw new CompactError(`push to ${repo}: not a hub repository id (${problem}; e.g. your-name/model-pruned)`);
  const s = hubSettings(opts);
  if (s.offline) throw new CompactError(`push to ${repo}: HF_HUB_OFFLINE is set; unset it to upload`);
  if (!s.token) throw new CompactError(`push to ${repo}: needs a write token: set HF_TOKEN (https://huggingface.co/settings/tokens)`);
  return { endpoint: s.endpoint, token: s.token };
}

/**
 * Checks, before any long work, that a push can succeed: a valid repository id, a token, and a
 * token the hub accepts with write permission.
 */
export async function checkPushTarget(repo: string, opts: PushOptions = {}): Promise<void> {
  const { endpoint, token } = target(repo, opts);
  const recorder = new RecordingFetch(opts.fetch ?? globalThis.fetch);
  let me: Awaited<ReturnType<typeof whoAmI>>;
  try {
    me = await whoAmI({ accessToken: token, hubUrl: endpoint, fetch: recorder.fetch });
  } catch (e) {
    if (e instanceof HubApiError && e.statusCode === 401) throw new CompactError(`push to ${repo}: ${endpoint} refused HF_TOKEN (HTTP 401): set it to a valid write token`);
    throw explainHubError(e, { what: `push to ${repo}`, repo, endpoint, hasToken: true, recorder });
  }
  if (me.auth?.accessToken?.role === 'read') throw new CompactError(`push to ${repo}: HF_TOKEN is a read-only token; pushing needs one with write access`);
}

/** Every file under `dir`, as repository paths with `/`, sorted. */
function folderFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  walk(dir);
  return out;
}

/**
 * Uploads a model folder (every file in it, at the same paths) or a single file (at its name) to
 * `repo` in one commit, creating the repository when it does not exist.
 */
export async function pushToHub(path: string, repo: string, opts: PushOptions = {}): Promise<PushResult> {
  const { endpoint, token } = target(repo, opts);
  const recorder = new RecordingFetch(opts.fetch ?? globalThis.fetch);
  const what = `push to ${repo}`;
  const isDir = statSync(path).isDirectory();
  const files = isDir ? folderFiles(path).map((p) => ({ path: p, abs: join(path, ...p.split('/')) })) : [{ path: basename(path), abs: path }];
  try {
    try {
      await createRepo({ repo: { type: 'model', name: repo }, private: opts.private, accessToken: token, hubUrl: endpoint, fetch: recorder.fetch });
    } catch (e) {
      // 409: the repository exists already; the commit goes on top of it.
      if (!(e instanceof HubApiError && e.statusCode === 409)) throw e;
    }
    const out = await uploadFiles({
      repo: { type: 'model', name: repo },
      files: files.map((f) => ({ path: f.path, content: pathToFileURL(f.abs) })),
      commitTitle: opts.message ?? `Upload ${basename(path)} with compact`,
      accessToken: token,
      hubUrl: endpoint,
      fetch: recorder.fetch,
      useXet: false,
    });
    if (!out) throw new CompactError(`${what}: the hub answered no commit`);
    return { repo, commit: out.commit.oid, url: out.commit.url, files: files.map((f) => f.path) };
  } catch (e) {
    if (e instanceof HubApiError && (e.statusCode === 401 || e.statusCode === 403)) {
      throw new CompactError(`${what}: HTTP ${e.statusCode}, HF_TOKEN may not write to ${repo} (a write token of the account or organization that owns it is needed)`);
    }
    throw explainHubError(e, { what, repo, endpoint, hasToken: true, recorder });
  }
}
