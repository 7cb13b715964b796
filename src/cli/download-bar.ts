import type { DownloadProgress } from '../io/hub/hub-settings.ts';
import { fmtBytes, fmtDuration } from '../report/format.ts';

/**
 * The download progress line on stderr: bytes, rate and ETA, redrawn at most ten times a second
 * on a terminal; elsewhere (logs, CI) one line per file.
 */
export function downloadBar(stream: NodeJS.WriteStream = process.stderr, quiet = false): (p: DownloadProgress) => void {
  const start = Date.now();
  let last = 0;
  let lastFile = '';
  let width = 0;
  const tty = Boolean(stream.isTTY);
  return (p) => {
    if (quiet) return;
    const now = Date.now();
    const finished = p.files === p.totalFiles;
    const secs = (now - start) / 1000;
    const rate = secs > 0 ? p.bytes / secs : 0;
    const eta = rate > 0 ? (p.totalBytes - p.bytes) / rate : NaN;
    const line = `download ${p.repo} ${fmtBytes(p.bytes)}/${fmtBytes(p.totalBytes)} ${fmtBytes(rate)}/s eta ${finished ? '0s' : fmtDuration(eta)} (${Math.min(p.files + 1, p.totalFiles)}/${p.totalFiles}${p.file ? ` ${p.file}` : ''})`;
    if (tty) {
      if (!finished && now - last < 100) return;
      last = now;
      const bar = p.totalBytes > 0 ? Math.round((24 * p.bytes) / p.totalBytes) : 24;
      const text = `[${'#'.repeat(bar)}${'.'.repeat(24 - bar)}] ${line}`;
      stream.write(`\r${text.padEnd(width)}`);
      width = text.length;
      if (finished) stream.write('\n');
    } else if (finished || p.file !== lastFile) {
      lastFile = p.file;
      stream.write(`${line}\n`);
    }
  };
}
