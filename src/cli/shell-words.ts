/** A command line as a POSIX shell would take it back: words quoted only where they need it. */
export function shellWord(w: string): string {
  if (/^[A-Za-z0-9_./=:,+%@^-]+$/.test(w)) return w;
  return `'${w.replace(/'/g, `'\\''`)}'`;
}

export function shellCommand(words: string[]): string {
  return words.map(shellWord).join(' ');
}

/** `argv` without the given flags (`--name value`, `--name=value`, boolean `--name`). */
export function withoutFlags(argv: string[], valued: string[], booleans: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const name = a.startsWith('--') ? a.slice(2).split('=')[0]! : '';
    if (valued.includes(name)) {
      if (!a.includes('=')) i++;
      continue;
    }
    if (booleans.includes(name)) continue;
    out.push(a);
  }
  return out;
}
