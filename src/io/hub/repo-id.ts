import { CompactError } from '../../errors.ts';

/** A model repository on a Hugging Face hub and the revision asked for (branch, tag or commit). */
export interface HubRef {
  /** `org/name` */
  repo: string;
  /** As given, or `main`. */
  revision: string;
}

/** Prefix that forces a hub id even where a local folder of that name exists. */
export const HUB_PREFIX = 'hf://';

const NAME = /^[\w.-]+$/;

/**
 * The hub's own rule for a repository id (huggingface_hub's validate_repo_id): `org/name`, each
 * part of letters, digits, `_`, `-`, `.`, no `--` or `..`, not starting or ending with `-` or `.`,
 * 96 characters at most. Returns the problem, or null when the id is valid.
 */
export function repoIdProblem(repo: string): string | null {
  const parts = repo.split('/');
  if (parts.length !== 2) return 'a hub id is org/name';
  if (repo.length > 96) return 'a hub id has at most 96 characters';
  for (const p of parts) {
    if (!p) return 'a hub id is org/name';
    if (!NAME.test(p)) return `"${p}" may hold only letters, digits, "_", "-" and "."`;
    if (p.includes('--') || p.includes('..')) return `"${p}" may not contain "--" or ".."`;
    if (/^[-.]|[-.]$/.test(p)) return `"${p}" may not start or end with "-" or "."`;
  }
  return null;
}

/** A revision the hub could hold: non-empty, no whitespace or control characters, no `..` segment. */
export function revisionProblem(revision: string): string | null {
  if (revision === '') return 'the revision after "@" is empty';
  if (/\s/.test(revision) || [...revision].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) return `revision "${revision}" contains whitespace or control characters`;
  if (revision.split('/').some((s) => s === '' || s === '.' || s === '..')) return `revision "${revision}" has an empty, "." or ".." segment`;
  return null;
}

/**
 * Whether `arg` is meant as a hub id rather than a local path: `hf://…`, or `org/name[@rev]` with
 * exactly one slash and nothing that only paths have (a leading `.`, `/` or `~`, a backslash).
 * Only called for arguments that do not exist on disk.
 */
export function looksLikeHubId(arg: string): boolean {
  if (arg.startsWith(HUB_PREFIX)) return true;
  if (/^[./~]/.test(arg) || arg.includes('\\')) return false;
  const at = arg.indexOf('@');
  const repo = at >= 0 ? arg.slice(0, at) : arg;
  return repo.split('/').length === 2 && !repo.endsWith('/');
}

/**
 * Parses `org/name`, `org/name@revision` or `hf://org/name[@revision]`; `revision` (the
 * --revision flag) may give the revision instead of `@`, not both. Throws a one-line error naming
 * the argument on bad syntax, before anything is downloaded.
 */
export function parseHubRef(arg: string, revision?: string): HubRef {
  const body = arg.startsWith(HUB_PREFIX) ? arg.slice(HUB_PREFIX.length) : arg;
  const at = body.indexOf('@');
  const repo = at >= 0 ? body.slice(0, at) : body;
  const rev = at >= 0 ? body.slice(at + 1) : undefined;
  const idProblem = repoIdProblem(repo);
  if (idProblem) throw new CompactError(`${arg}: not a hub model id (${idProblem}; e.g. Qwen/Qwen2.5-0.5B or Qwen/Qwen2.5-0.5B@main) and no such local folder`);
  if (rev !== undefined && revision !== undefined && rev !== revision) throw new CompactError(`${arg}: give the revision once, after @ or as the revision option (got ${rev} and ${revision})`);
  const r = rev ?? revision ?? 'main';
  const revProblem = revisionProblem(r);
  if (revProblem) throw new CompactError(`${arg}: ${revProblem}`);
  return { repo, revision: r };
}

/** 40 hexadecimal digits: a full commit id, which never moves (no lookup of a branch needed). */
export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}
