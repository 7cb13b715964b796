import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root, wherever the clone lives. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** ../shared beside the clone; always present in CI, so its absence is a failure, not a skip. */
export const SHARED = resolve(REPO_ROOT, '../shared');

export function shared(...parts: string[]): string {
  const p = resolve(SHARED, ...parts);
  if (!existsSync(p)) throw new Error(`test data missing: ${p} (the tests expect ../shared beside the repository)`);
  return p;
}

export const GOLDEN_CASES = ['llama3', 'llama3-bf16', 'llama-untied', 'qwen2', 'qwen3', 'mistral', 'gemma3', 'phi3', 'phi3-partial-rotary', 'gemma2', 'granite', 'olmo2', 'mixtral'] as const;
