import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { writeCheckpoint } from '../../src/io/safetensors-writer.ts';
import { fixtureWithTokenizer } from '../helpers/fixture-model.ts';
import { makeTmpDir } from '../helpers/tmp-dir.ts';
import { readFolder } from './fake-hub.ts';

let built: Map<string, Uint8Array> | null = null;

/**
 * The files of a real (tiny) model repository: the qwen2 golden checkpoint (saved by transformers)
 * re-sharded into 3 safetensors shards + index, its configs, a 1,024-token tokenizer, a license
 * and a model card, plus files compact must never fetch (other weight formats, a subfolder).
 */
export async function modelRepoFiles(): Promise<Map<string, Uint8Array>> {
  if (built) return built;
  const src = fixtureWithTokenizer('qwen2');
  const dir = join(makeTmpDir('hub-repo'), 'repo');
  const ck = await openCheckpoint(src);
  try {
    const names = ck.names();
    await writeCheckpoint(dir, names.map((n) => ({ name: n, dtype: ck.info(n).dtype, shape: [...ck.info(n).shape], bytes: () => ck.readBytes(n) })), { maxShardBytes: 300_000 });
  } finally {
    await ck.close();
  }
  const files = readFolder(src);
  files.delete('model.safetensors');
  for (const [p, b] of readFolder(dir)) files.set(p, b);
  const enc = new TextEncoder();
  files.set('LICENSE', enc.encode('Apache License 2.0 (test fixture)\n'));
  files.set('README.md', enc.encode('---\nlicense: apache-2.0\n---\n# tiny qwen2\n'));
  files.set('pytorch_model.bin', enc.encode('not needed: compact reads safetensors'));
  files.set('original/consolidated.safetensors', enc.encode('not needed: a subfolder'));
  files.set('.gitattributes', enc.encode('*.safetensors filter=lfs diff=lfs merge=lfs -text\n'));
  built = files;
  return files;
}

/** The repository's files written to a folder (what a user would have after a git clone). */
export function writeRepo(files: Map<string, Uint8Array>, dir: string): void {
  for (const [p, b] of files) {
    if (p.includes('/')) continue;
    writeFileSync(join(dir, p), b);
  }
}

/** The files compact downloads: configs, tokenizer, weights and index, license, model card. */
export const NEEDED = ['LICENSE', 'README.md', 'config.json', 'generation_config.json', 'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors', 'model.safetensors.index.json', 'tokenizer.json'];
