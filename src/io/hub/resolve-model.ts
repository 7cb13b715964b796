import { existsSync } from 'node:fs';
import { CompactError } from '../../errors.ts';
import { hubSettings, type HubOptions } from './hub-settings.ts';
import { HUB_PREFIX, looksLikeHubId, parseHubRef } from './repo-id.ts';
import { openHubSnapshot, type HubSource } from './snapshot.ts';

export interface ResolvedModel {
  /** A local model folder: the path given, or a snapshot folder in the Hugging Face cache. */
  dir: string;
  /** Repository, revision and commit when the model came from a hub; null for a local folder. */
  hub: HubSource | null;
  /** Downloads the weights when resolved with `weights: false`; a no-op otherwise. */
  complete(): Promise<void>;
}

/**
 * A model argument to a folder. The rule, in order:
 *   1. `hf://org/name[@rev]` is always a hub id;
 *   2. a path that exists on disk is that local folder (so `org/name` beside you wins);
 *   3. `org/name` or `org/name@rev` (one slash, no leading `.`, `/` or `~`) is a hub id;
 *   4. anything else is a local path (and fails as a missing folder would).
 * `revision` (--revision) applies to hub ids only.
 */
export async function resolveModel(model: string, opts: HubOptions & { weights?: boolean } = {}): Promise<ResolvedModel> {
  const local = !model.startsWith(HUB_PREFIX) && (existsSync(model) || !looksLikeHubId(model));
  if (local) {
    if (opts.revision !== undefined) {
      throw new CompactError(`${model}: a revision applies to hub models only, and this is a local ${existsSync(model) ? 'folder' : 'path'}${looksLikeHubId(model) ? ` (write ${HUB_PREFIX}${model} for the hub model)` : ''}`);
    }
    return { dir: model, hub: null, complete: async () => {} };
  }
  const ref = parseHubRef(model, opts.revision);
  const snap = await openHubSnapshot(ref, hubSettings(opts), { weights: opts.weights ?? true });
  return { dir: snap.dir, hub: snap.source, complete: snap.complete };
}
