import { UsageError } from '../errors.ts';
import { didYouMean } from '../suggest.ts';

/** `integer`: a whole number (counts, sizes, seeds); `1.5` or `1e400` is refused, not rounded. */
export type FlagType = 'string' | 'number' | 'integer' | 'boolean';

export interface ParsedArgs {
  positional: string[];
  flags: Record<string, string | number | boolean | undefined>;
}

/**
 * `--name value`, `--name=value` and boolean `--name`. Unknown flags are errors: a typo must not
 * silently fall back to a default on a run that takes an hour.
 */
export function parseArgs(argv: string[], spec: Record<string, FlagType>, command: string): ParsedArgs {
  const positional: string[] = [];
  const flags: ParsedArgs['flags'] = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('--') || a === '--') {
      positional.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    const type = spec[name];
    if (!type) {
      throw new UsageError(`compact ${command}: unknown flag --${name}${didYouMean(name, Object.keys(spec), '--') || `; run compact ${command} --help for its flags`}`);
    }
    if (type === 'boolean') {
      flags[name] = eq > 0 ? a.slice(eq + 1) !== 'false' : true;
      continue;
    }
    const raw = eq > 0 ? a.slice(eq + 1) : argv[++i];
    if (raw === undefined) throw new UsageError(`compact ${command}: --${name} needs a value`);
    if (type === 'number' || type === 'integer') {
      const n = Number(raw.replace(/_/g, ''));
      if (raw.trim() === '' || !Number.isFinite(n)) throw new UsageError(`compact ${command}: --${name} must be a number, got "${raw}"`);
      if (type === 'integer' && !Number.isSafeInteger(n)) throw new UsageError(`compact ${command}: --${name} must be a whole number, got "${raw}"`);
      flags[name] = n;
    } else {
      flags[name] = raw;
    }
  }
  return { positional, flags };
}

export function str(a: ParsedArgs, name: string): string | undefined {
  return a.flags[name] as string | undefined;
}
export function num(a: ParsedArgs, name: string): number | undefined {
  return a.flags[name] as number | undefined;
}
export function bool(a: ParsedArgs, name: string): boolean {
  return a.flags[name] === true;
}
