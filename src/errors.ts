/**
 * The one kind of error a user should see: a single line naming the file and the problem.
 * Anything else reaching the CLI is a bug in compact and is printed with its stack.
 */
export class CompactError extends Error {
  constructor(message: string) {
    super(message.replace(/\s*\n\s*/g, ' '));
    this.name = 'CompactError';
  }
}
