import { CompactError } from '../errors.ts';
// The hub modules load @huggingface/hub (and its WebAssembly chunker): imported on first use, so
// `compact --help` and `--version` start without them.
import type { PushResult } from '../io/hub/push.ts';
import type { ResolvedModel } from '../io/hub/resolve-model.ts';
import type { HubOptions } from '../io/hub/hub-settings.ts';
import { bool, str, type FlagType, type ParsedArgs } from './args.ts';
import { downloadBar } from './download-bar.ts';

/** Flags of every command that reads a model. */
export const HUB_FLAGS = { revision: 'string', 'hub-url': 'string' } as const satisfies Record<string, FlagType>;
/** Flags of the commands that write one. */
export const PUSH_FLAGS = { 'push-to-hub': 'string', private: 'boolean' } as const satisfies Record<string, FlagType>;

export const HUB_USAGE = `hub (a model is a local folder or a Hugging Face id: org/name, org/name@revision, hf://org/name):
  --revision REV          branch, tag or commit of a hub model (default main)
  --hub-url URL           hub or mirror (default HF_ENDPOINT, then https://huggingface.co)
  environment: HF_TOKEN (gated/private models), HF_HUB_CACHE / HF_HOME (cache), HF_HUB_OFFLINE=1 (cache only)`;
export const PUSH_USAGE = `  --push-to-hub org/name  upload the result in one commit (HF_TOKEN with write access); prints the commit URL
  --private               create that repository private`;

/** HubOptions from the command line and the environment; progress on stderr unless quiet. */
export function hubOptions(a: ParsedArgs, quiet = bool(a, 'quiet')): HubOptions {
  return { revision: str(a, 'revision'), endpoint: str(a, 'hub-url'), onProgress: downloadBar(process.stderr, quiet) };
}

/** The model argument as a local folder (downloading a hub model into the cache). */
export async function modelArg(model: string, a: ParsedArgs, weights = true): Promise<ResolvedModel> {
  const { resolveModel } = await import('../io/hub/resolve-model.ts');
  return resolveModel(model, { ...hubOptions(a), weights });
}

/** Validates --push-to-hub/--private and checks the token before the long work. */
export async function pushTarget(a: ParsedArgs): Promise<string | undefined> {
  const repo = str(a, 'push-to-hub');
  if (repo === undefined) {
    if (bool(a, 'private')) throw new CompactError('--private applies to --push-to-hub only');
    return undefined;
  }
  const { checkPushTarget } = await import('../io/hub/push.ts');
  await checkPushTarget(repo, { endpoint: str(a, 'hub-url') });
  return repo;
}

export async function push(path: string, repo: string, a: ParsedArgs, message: string): Promise<PushResult> {
  const { pushToHub } = await import('../io/hub/push.ts');
  try {
    return await pushToHub(path, repo, { endpoint: str(a, 'hub-url'), private: bool(a, 'private'), message });
  } catch (e) {
    // The long work is done and kept: say so, so nobody reruns it to retry the upload.
    if (e instanceof CompactError) throw new CompactError(`${e.message} (the output itself is complete: ${path}; retry with compact push ${path} --push-to-hub ${repo})`);
    throw e;
  }
}
