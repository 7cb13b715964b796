/** Is a file compact is about to read as text (calibration, evaluation, a corpus) really text? */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { CompactError } from '../errors.ts';

const SNIFF_BYTES = 64 * 1024;

/**
 * A text file compact will read: it must exist, be a file, be readable, and look like text (no
 * NUL byte and valid UTF-8 in its first 64 KB). A binary file passed by mistake (a checkpoint, a
 * tarball) would otherwise tokenize into garbage calibration without a word.
 */
/** The first `length` bytes of `file` (fewer if it is shorter); fs errors are thrown as they come. */
export function readHead(file: string, length: number): Buffer {
  const head = Buffer.alloc(length);
  const fd = openSync(file, 'r');
  try {
    return head.subarray(0, readSync(fd, head, 0, length, 0));
  } finally {
    closeSync(fd);
  }
}

export function checkTextFile(file: string, flag?: string): void {
  const shown = flag ? `${flag} ${file}` : file;
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CompactError(`${shown}: ${code === 'ENOENT' || code === 'ENOTDIR' ? 'no such file' : `cannot read (${code ?? (e as Error).message})`}`);
  }
  if (st.isDirectory()) throw new CompactError(`${shown}: is a folder, expected a text file`);
  let head: Buffer;
  try {
    head = readHead(file, Math.min(SNIFF_BYTES, Math.max(0, st.size)));
  } catch (e) {
    throw new CompactError(`${shown}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const n = head.length;
  const why = binaryReason(head, n < st.size);
  if (why) throw new CompactError(`${shown}: not a text file (${why} in the first ${n} bytes); give plain UTF-8 text or JSON lines`);
}

/** Why `bytes` (a file's head; `truncated` if the file goes on) is not UTF-8 text, or null. */
export function binaryReason(bytes: Uint8Array, truncated: boolean): string | null {
  const nul = bytes.indexOf(0);
  if (nul >= 0) return `a NUL byte at offset ${nul}`;
  try {
    // stream: a multi-byte character cut by the sniff window is not an error.
    new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: truncated });
  } catch {
    return 'invalid UTF-8';
  }
  return null;
}
