/** Shared by the safety tests: sha256 of every file under a folder, and the CLI run in-process. */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';

/** name → sha256 of every entry under `dir` (links by their target text, so a replaced link shows). */
export function digests(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p, r);
      else if (st.isSymbolicLink()) out[r] = `link:${readlinkSync(p)}`;
      else out[r] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(dir, '');
  return out;
}

/** Runs the CLI in this process; returns its exit status and what it printed on stderr. */
export async function cli(...argv: string[]): Promise<{ code: number; stderr: string; stdout: string }> {
  const err: string[] = [];
  const out: string[] = [];
  const e = console.error;
  const l = console.log;
  console.error = (...a: unknown[]) => void err.push(a.join(' '));
  console.log = (...a: unknown[]) => void out.push(a.join(' '));
  try {
    const code = await main(argv);
    return { code, stderr: err.join('\n'), stdout: out.join('\n') };
  } finally {
    console.error = e;
    console.log = l;
  }
}
