/**
 * What an interrupt leaves behind, for the one line printed on Ctrl-C. Most steps build their
 * output in a temporary that the interrupt removes ("no output written"), but a command with two
 * outputs (prune, then --export gguf) has a finished first one in place when the second starts.
 */
let note: string | null = null;

/** Records what is complete on disk from now on (null: nothing). */
export function setInterruptNote(kept: string | null): void {
  note = kept;
}

/** The text after "compact: interrupted; ". */
export function interruptNote(): string {
  return note ?? 'no output written';
}
