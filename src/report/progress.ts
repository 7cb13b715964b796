import { fmtDuration } from './format.ts';

/**
 * The progress line now drawn on a terminal, whichever Progress drew it: any message (from any
 * instance, an error, an interrupt) must clear it first, or the two share one line
 * (`layer 6/8compact: interrupted…`).
 */
let live: { stream: NodeJS.WriteStream; len: number } | null = null;

/** Blanks the redrawn progress line, if one is showing, so the next write starts a clean line. */
export function clearProgressLine(): void {
  if (!live) return;
  live.stream.write(`\r${' '.repeat(live.len)}\r`);
  live = null;
}

/** `elapsed 1m02s eta 3m10s` after `done` of `total` equal steps that began at `startMs`. */
export function elapsedEta(done: number, total: number, startMs: number, nowMs = Date.now()): string {
  const secs = (nowMs - startMs) / 1000;
  const eta = done >= total ? 0 : done > 0 ? (secs / done) * (total - done) : NaN;
  return `elapsed ${fmtDuration(secs)} eta ${fmtDuration(eta)}`;
}

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
    const frac = this.total > 0 ? done / this.total : 1;
    const stats = `${done}/${this.total} ${rate >= 10 ? rate.toFixed(0) : rate.toPrecision(2)} ${this.unit}/s ${elapsedEta(done, this.total, this.start)}${note ? ' ' + note : ''}`;
    if (this.tty) {
      const width = 24;
      const filled = Math.round(width * frac);
      const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${stats}`;
      // Another instance's line is cleared rather than overdrawn (it may be longer).
      if (live && live.stream !== this.stream) clearProgressLine();
      const prev = live?.stream === this.stream ? live.len : 0;
      this.stream.write(`\r${line.padEnd(Math.max(prev, this.lastLen))}`);
      this.lastLen = line.length;
      live = { stream: this.stream, len: Math.max(prev, line.length) };
      if (done >= this.total) {
        this.stream.write('\n');
        live = null;
        this.lastLen = 0;
      }
    } else {
      this.stream.write(`${this.label}: ${stats}\n`);
    }
  }

  message(text: string): void {
    if (this.quiet) return;
    clearProgressLine();
    this.lastLen = 0;
    this.stream.write(`${text}\n`);
  }
}

/** Peak resident set size of this process so far, in bytes. */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}
