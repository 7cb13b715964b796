/** A command line as a POSIX shell would take it back: words quoted only where they need it. */
export function shellWord(w: string): string {
  if (/^[A-Za-z0-9_./=:,+%@^-]+$/.test(w)) return w;
  return `'${w.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(words: string[]): string {
  return words.map(shellWord).join(' ');
}
