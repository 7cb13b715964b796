import { HubApiError } from '@huggingface/hub';
import { CompactError } from '../../errors.ts';

/**
 * @huggingface/hub's errors carry the status but not the hub's `X-Error-Code` header, which is
 * what tells a missing repository from a missing revision or a gated one. This fetch keeps the
 * code of every failed response by URL so the error can be explained afterwards.
 */
export class RecordingFetch {
  private readonly codes = new Map<string, string>();
  private readonly statuses = new Map<string, number>();
  readonly fetch: typeof fetch;

  constructor(base: typeof fetch) {
    this.fetch = async (input, init) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const res = await base(input, init);
      this.statuses.set(url, res.status);
      if (!res.ok) {
        const code = res.headers.get('x-error-code') ?? '';
        this.codes.set(url, code);
        if (res.url) this.codes.set(res.url, code);
      }
      return res;
    };
  }

  codeFor(url: string): string {
    return this.codes.get(url) ?? '';
  }

  /** The status of the last response to a request for `url` since `forget(url)`, if any came. */
  statusFor(url: string): number | undefined {
    return this.statuses.get(url);
  }

  forget(url: string): void {
    this.statuses.delete(url);
    this.codes.delete(url);
  }
}

export interface ErrorContext {
  /** `org/name` or `org/name@revision`, as the message should name it. */
  what: string;
  repo: string;
  endpoint: string;
  hasToken: boolean;
  recorder: RecordingFetch;
}

const TOKENS_PAGE = 'https://huggingface.co/settings/tokens';

/** One line a user can act on, for any failure of a hub call. */
export function explainHubError(e: unknown, c: ErrorContext): CompactError {
  if (e instanceof CompactError) return e;
  const page = `${c.endpoint}/${c.repo}`;
  if (e instanceof HubApiError) {
    const code = c.recorder.codeFor(e.url);
    const s = e.statusCode;
    if (code === 'RepoNotFound' || (s === 404 && code === '')) {
      return new CompactError(`${c.what}: no such model on ${c.endpoint}${c.hasToken ? '' : ' (if it is private, set HF_TOKEN to a token that can read it)'}`);
    }
    if (code === 'RevisionNotFound') return new CompactError(`${c.what}: no such revision (branch, tag or commit) in ${c.repo} on ${c.endpoint}`);
    if (code === 'EntryNotFound') return new CompactError(`${c.what}: a file listed by the hub is missing (${e.url})`);
    if (s === 401) {
      return new CompactError(
        c.hasToken
          ? `${c.what}: HTTP 401, the hub refused HF_TOKEN: accept the model's license at ${page} and set HF_TOKEN to a valid read token (${TOKENS_PAGE})`
          : `${c.what}: HTTP 401, the model is gated or private: accept its license at ${page}, then set HF_TOKEN to an access token (${TOKENS_PAGE})`,
      );
    }
    if (s === 403) return new CompactError(`${c.what}: HTTP 403, this token may not read the model: accept its license at ${page} (gated models need that once per account) or use a token with read access`);
    return new CompactError(`${c.what}: hub request failed with HTTP ${s}: ${e.message}`);
  }
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (e as Error).message ?? String(e);
  return new CompactError(`${c.what}: cannot reach ${c.endpoint} (${why}); set HF_HUB_OFFLINE=1 to use the local cache only`);
}
