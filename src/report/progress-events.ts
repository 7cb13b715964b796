import { Progress } from './progress.ts';

/**
 * Progress as data. The library prints nothing: a caller that wants progress passes `onProgress`
 * and gets these; the CLI's `progressPrinter` draws them as the bar and lines on stderr.
 */
export type ProgressEvent =
  /** `done` of `total` steps of `stage` (e.g. calibration layers); `work` units so far, for a rate. */
  | { kind: 'step'; stage: string; done: number; total: number; work: number; unit: string; note?: string }
  /** A finished decision or milestone, one line (e.g. the planner's choice). */
  | { kind: 'message'; stage: string; text: string };

export type OnProgress = (event: ProgressEvent) => void;

/** The reporter a pipeline step holds: the same calls as `Progress`, sent to `onProgress` (or nowhere). */
export class ProgressReporter {
  constructor(
    private readonly stage: string,
    public total: number,
    private readonly onProgress: OnProgress | undefined,
    private readonly unit = 'tokens',
  ) {}

  update(done: number, work: number, note = ''): void {
    this.onProgress?.({ kind: 'step', stage: this.stage, done, total: this.total, work, unit: this.unit, ...(note ? { note } : {}) });
  }

  message(text: string): void {
    this.onProgress?.({ kind: 'message', stage: this.stage, text });
  }
}

/** Draws events on a stream: one `Progress` bar per stage (its clock starts at its first event). */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): OnProgress {
  const bars = new Map<string, Progress>();
  let last: Progress | null = null;
  const bar = (stage: string, total: number, unit: string): Progress => {
    let b = bars.get(stage);
    if (!b) bars.set(stage, (b = new Progress(stage, total, unit, stream)));
    b.total = total;
    return b;
  };
  return (e) => {
    if (e.kind === 'step') (last = bar(e.stage, e.total, e.unit)).update(e.done, e.work, e.note);
    else (last ?? bar(e.stage, 1, 'tokens')).message(e.text);
  };
}
