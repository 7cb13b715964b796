import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { CompactError } from '../../errors.ts';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** Download progress: bytes of this run so far out of the bytes this run has to fetch. */
export interface DownloadProgress {
  repo: string;
  file: string;
  bytes: number;
  totalBytes: number;
  files: number;
  totalFiles: number;
}

/** How compact talks to a hub; every field defaults from the environment as Python's huggingface_hub reads it. */
export interface HubOptions {
  /** Branch, tag or commit when the id has no `@revision` (default main). */
  revision?: string;
  /** Hub or mirror URL (default HF_ENDPOINT, then https://huggingface.co). */
  endpoint?: string;
  /** Access token (default HF_TOKEN, HUGGING_FACE_HUB_TOKEN, then the token file `huggingface-cli login` writes). */
  token?: string;
  /** Cache folder (default HF_HUB_CACHE, then HF_HOME/hub, then ~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Use the cache only (default: HF_HUB_OFFLINE or TRANSFORMERS_OFFLINE set to 1/true/yes/on). */
  offline?: boolean;
  /** Called as bytes arrive; the library prints nothing itself. */
  onProgress?: (p: DownloadProgress) => void;
  /** Retries of a download cut by the network, each resuming where it stopped (default 5). */
  retries?: number;
  /** Pause before the first retry in ms, doubled on each next one (default 1000). */
  retryDelayMs?: number;
  /** The fetch used for every request (tests, proxies). */
  fetch?: typeof fetch;
}

/** HubOptions with the environment's defaults filled in. */
export interface HubSettings {
  endpoint: string;
  token: string | undefined;
  cacheDir: string;
  offline: boolean;
  retries: number;
  retryDelayMs: number;
  onProgress: ((p: DownloadProgress) => void) | undefined;
  fetch: typeof fetch;
}

const env = (name: string): string | undefined => {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
};

const truthy = (v: string | undefined): boolean => v !== undefined && ['1', 'true', 'yes', 'on'].includes(v.trim().toLowerCase());

const expandHome = (p: string): string => (p === '~' || p.startsWith('~/') ? join(homedir(), p.slice(1)) : p);

/** HF_HOME, else $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface (huggingface_hub's constants). */
export function hfHome(): string {
  return resolve(expandHome(env('HF_HOME') ?? join(env('XDG_CACHE_HOME') ?? join(homedir(), '.cache'), 'huggingface')));
}

/** HF_HUB_CACHE, else the legacy HUGGINGFACE_HUB_CACHE, else HF_HOME/hub. */
export function hubCacheDir(): string {
  const dir = env('HF_HUB_CACHE') ?? env('HUGGINGFACE_HUB_CACHE');
  return dir ? resolve(expandHome(dir)) : join(hfHome(), 'hub');
}

function tokenFromFile(): string | undefined {
  const file = env('HF_TOKEN_PATH') ? resolve(expandHome(env('HF_TOKEN_PATH')!)) : join(hfHome(), 'token');
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export function normalizeEndpoint(url: string, what: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new CompactError(`${what}: not a URL: ${url}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new CompactError(`${what}: must be an http(s) URL, got ${url}`);
  return url.replace(/\/+$/, '');
}

export function hubSettings(opts: HubOptions = {}): HubSettings {
  const endpoint = opts.endpoint !== undefined ? normalizeEndpoint(opts.endpoint, 'hub endpoint') : normalizeEndpoint(env('HF_ENDPOINT') ?? DEFAULT_ENDPOINT, 'HF_ENDPOINT');
  const token = opts.token ?? env('HF_TOKEN') ?? env('HUGGING_FACE_HUB_TOKEN') ?? tokenFromFile();
  // @huggingface/hub refuses other tokens with a TypeError deep in a request; say it up front.
  if (token !== undefined && !token.startsWith('hf_')) throw new CompactError('HF_TOKEN: a Hugging Face access token starts with "hf_" (create one at https://huggingface.co/settings/tokens)');
  const retries = opts.retries ?? 5;
  if (!(Number.isInteger(retries) && retries >= 0)) throw new CompactError(`hub retries must be a non-negative integer, got ${retries}`);
  return {
    endpoint,
    token,
    cacheDir: opts.cacheDir !== undefined ? resolve(opts.cacheDir) : hubCacheDir(),
    offline: opts.offline ?? (truthy(env('HF_HUB_OFFLINE')) || truthy(env('TRANSFORMERS_OFFLINE'))),
    retries,
    retryDelayMs: opts.retryDelayMs ?? 1000,
    onProgress: opts.onProgress,
    fetch: opts.fetch ?? globalThis.fetch,
  };
}
