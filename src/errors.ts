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

/** Flags whose library option is not simply their camelCase spelling. */
const OPTION_FOR_FLAG: Record<string, string> = { 'max-shard-size': 'maxShardBytes' };

/**
 * A message in the library's terms: `--vocab-ratio` becomes `vocabRatio`, the option a caller of
 * `pruneModel` passes. Checks are written once, worded for the command line (most users meet
 * them there); `--` marks every flag unambiguously, so this direction of the mapping is exact.
 */
export function inLibraryTerms(message: string): string {
  return message.replace(/(?<![\w-])--([a-z][a-z0-9]*(?:-[a-z0-9]+)*)/g, (_, flag: string) => OPTION_FOR_FLAG[flag] ?? flag.replace(/-([a-z0-9])/g, (_m, c: string) => c.toUpperCase()));
}

/** `fn` for library callers: its CompactErrors name options, not flags. */
export function withLibraryErrors<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    try {
      return await fn(...args);
    } catch (e) {
      if (e instanceof CompactError) e.message = inLibraryTerms(e.message);
      throw e;
    }
  };
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
