/** "did you mean …?" for unknown flags and commands: the nearest known name by edit distance. */

/** Damerau–Levenshtein (optimal string alignment): a swapped pair of letters counts as one edit. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * The known name closest to `name`, if close enough to be a typo (at most a third of its
 * length, and at least 1, edits away); a known name that `name` abbreviates, or that `name`
 * extends with a mistyped suffix, also counts.
 */
export function nearest(name: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestD || (d === bestD && best !== null && k < best)) {
      best = k;
      bestD = d;
    }
  }
  if (best !== null && bestD <= Math.max(1, Math.floor(name.length / 3))) return best;
  const prefixed = known.filter((k) => name.length >= 3 && k.startsWith(name));
  if (prefixed.length === 1) return prefixed[0]!;
  // "--vocab-sise": a known name with a mistyped suffix.
  const stem = known.filter((k) => name.startsWith(`${k}-`)).sort((a, b) => b.length - a.length);
  return stem[0] ?? null;
}

/** ` (did you mean X?)` or ''. */
export function didYouMean(name: string, known: readonly string[], prefix = ''): string {
  const n = nearest(name, known);
  return n === null ? '' : `; did you mean ${prefix}${n}?`;
}
