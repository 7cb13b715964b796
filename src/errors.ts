/**
 * The one kind of error a user should see: a single line naming the file and the problem.
 * Anything else reaching the CLI is a bug in compact and is printed with its stack.
 */
export class CompactError extends Error {
  constructor(message: string) {
    // Any line break, not just \n: a \r or U+2028 in a file or tensor name quoted into the message
    // would otherwise split it or overwrite it on a terminal.
    super(message.replace(/\s*[\n\r\v\f\u0085\u2028\u2029]\s*/g, ' '));
    this.name = 'CompactError';
  }
}

/**
 * A mistake in the command line itself (unknown flag, bad or missing value, impossible budget):
 * the CLI exits 2 for it, 1 for other CompactErrors (bad input files, runtime failures).
 */
export class UsageError extends CompactError {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
