import { CompactError } from '../../errors.ts';

/** A file at the top of a repository at one commit, as the hub lists it. */
export interface RepoFile {
  path: string;
  size: number;
  /** The name Python's huggingface_hub gives its blob: the sha256 of an LFS file, the git blob id otherwise. */
  etag: string;
  /** True when etag is a sha256 of the contents (LFS), false when it is a git blob id (sha1). */
  lfs: boolean;
}

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_WEIGHTS = 'model.safetensors';

/** What compact reads or copies besides the weights: configs, every tokenizer file, license and model card. */
const METADATA = new Set([
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'tokenizer.model',
  'vocab.json',
  'merges.txt',
  'chat_template.jinja',
  'chat_template.json',
  INDEX_FILE,
]);
const LEGAL = /^(LICEN[CS]E|NOTICE|README|USE_POLICY)(\.(md|txt))?$/i;

/** The metadata files of a repository (everything but the weights); config.json and some safetensors weights must exist. */
export function metadataFiles(files: RepoFile[], what: string): RepoFile[] {
  const names = new Set(files.map((f) => f.path));
  if (!names.has('config.json')) throw new CompactError(`${what}: the repository has no config.json at its top (compact needs a transformers model)`);
  if (!names.has(INDEX_FILE) && !names.has(SINGLE_WEIGHTS)) {
    const other = files.map((f) => f.path).filter((p) => /\.(bin|pt|pth|gguf|onnx|h5|msgpack|safetensors)$/.test(p));
    throw new CompactError(`${what}: no ${SINGLE_WEIGHTS} or ${INDEX_FILE} (compact reads safetensors checkpoints only${other.length ? `; the repository has ${other.slice(0, 3).join(', ')}` : ''})`);
  }
  return files.filter((f) => METADATA.has(f.path) || LEGAL.test(f.path)).sort((a, b) => a.path.localeCompare(b.path));
}

/** The weight files: the shards the index names (each once, in order), or the single model.safetensors. */
export function weightFiles(files: RepoFile[], indexJson: string | null, what: string): RepoFile[] {
  const byPath = new Map(files.map((f) => [f.path, f]));
  if (indexJson === null) return [byPath.get(SINGLE_WEIGHTS)!];
  let map: unknown;
  try {
    map = (JSON.parse(indexJson) as { weight_map?: unknown }).weight_map;
  } catch (e) {
    throw new CompactError(`${what}: ${INDEX_FILE} is not JSON (${(e as Error).message})`);
  }
  if (!map || typeof map !== 'object') throw new CompactError(`${what}: ${INDEX_FILE} has no weight_map`);
  const shards = [...new Set(Object.values(map as Record<string, unknown>))].sort();
  return shards.map((s) => {
    const f = typeof s === 'string' ? byPath.get(s) : undefined;
    if (!f) throw new CompactError(`${what}: ${INDEX_FILE} names shard ${JSON.stringify(s)}, which is not at the top of the repository`);
    return f;
  });
}
