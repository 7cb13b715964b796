import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main.ts';

/** Nothing from the machine's own Hugging Face setup may leak into a test (no real cache, token or endpoint). */
export function isolateHubEnv(home: string): void {
  for (const k of ['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN', 'HF_TOKEN_PATH', 'HF_ENDPOINT', 'HF_HUB_CACHE', 'HUGGINGFACE_HUB_CACHE', 'HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE', 'XDG_CACHE_HOME']) delete process.env[k];
  process.env.HF_HOME = home;
}

/**
 * A folder as sorted lines: `path/` for folders, `path -> target` for symlinks, `path <size>`
 * for files (what `find -printf` would show).
 */
export function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const p = rel ? `${rel}/${name}` : name;
      const st = lstatSync(join(root, p));
      if (st.isSymbolicLink()) out.push(`${p} -> ${readlinkSync(join(root, p))}`);
      else if (st.isDirectory()) {
        out.push(`${p}/`);
        walk(p);
      } else out.push(`${p} ${st.size}`);
    }
  };
  walk('');
  return out;
}

export const read = (p: string): Buffer => readFileSync(p);

/** Runs the CLI in-process; returns the exit code and what it printed. */
export async function runCli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const log = console.log;
  const err = console.error;
  let stdout = '';
  let stderr = '';
  console.log = (...a: unknown[]) => void (stdout += `${a.join(' ')}\n`);
  console.error = (...a: unknown[]) => void (stderr += `${a.join(' ')}\n`);
  try {
    const code = await main(argv);
    return { code, stdout, stderr };
  } finally {
    console.log = log;
    console.error = err;
  }
}
