import { fmtDuration } from './format.ts';

/**
 * Progress on stderr: a redrawn bar with rate and ETA on a terminal, plain lines otherwise (logs
 * and CI keep one line per step instead of a wall of carriage returns).
 */
export class Progress {
  private readonly tty: boolean;
  private readonly start = Date.now();
  private lastLen = 0;

  constructor(private readonly label: string, /** Steps in all; may be set once known (the clock starts at construction). */ public total: number, private readonly unit = 'tokens', stream: NodeJS.WriteStream = process.stderr, private readonly quiet = false) {
    this.tty = Boolean(stream.isTTY);
    this.stream = stream;
  }
  private readonly stream: NodeJS.WriteStream;

  /** `done` steps out of total; `work` units processed so far (for the rate). */
  update(done: number, work: number, note = ''): void {
    if (this.quiet) return;
    const secs = (Date.now() - this.start) / 1000;
    const rate = secs > 0 ? work / secs : 0;
    const eta = done > 0 ? (secs / done) * (this.total - done) : NaN;
    const frac = this.total > 0 ? done / this.total : 1;
    const stats = `${done}/${this.total} ${rate >= 10 ? rate.toFixed(0) : rate.toPrecision(2)} ${this.unit}/s elapsed ${fmtDuration(secs)} eta ${done >= this.total ? '0s' : fmtDuration(eta)}${note ? ' ' + note : ''}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round(width * frac);
      const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}`;
      this.stream.write(`\r${line.padEnd(this.lastLen)}`);
      this.lastLen = line.length;
      if (done >= this.total) this.stream.write('\n');
    } else {
      this.stream.write(`${this.label}: ${stats}\n`);
    }
  }

  message(text: string): void {
    if (this.quiet) return;
    if (this.tty && this.lastLen) this.stream.write('\n');
    this.lastLen = 0;
    this.stream.write(`${text}\n`);
  }
}

/** Peak resident set size of this process so far, in bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}
