/**
 * Every file a run wrote, with its size and SHA-256, so a user (or a hub upload) can check that
 * what is on disk is what compact produced.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

export interface WrittenFile {
  /** Relative to the output folder (forward slashes), or absolute when written outside it. */
  path: string;
  bytes: number;
  sha256: string;
}

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 22 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Files under `dir` (recursively, sorted by path), `skip` names left out (the report itself). */
export async function manifestOf(dir: string, skip: ReadonlySet<string> = new Set()): Promise<WrittenFile[]> {
  const out: WrittenFile[] = [];
  const walk = async (sub: string): Promise<void> => {
    for (const e of (await readdir(join(dir, sub), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const rel = sub ? `${sub}/${e.name}` : e.name;
      if (skip.has(rel)) continue;
      if (e.isDirectory()) await walk(rel);
      else if (e.isFile()) out.push(await entryOf(join(dir, rel), rel));
    }
  };
  await walk('');
  return out;
}

async function entryOf(file: string, path: string): Promise<WrittenFile> {
  return { path, bytes: (await stat(file)).size, sha256: await sha256File(file) };
}

/** A file's manifest entry: relative to `dir` when inside it, else absolute. */
export async function entryFor(dir: string, file: string): Promise<WrittenFile> {
  const abs = resolve(file);
  const rel = relative(resolve(dir), abs);
  const inside = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
  return entryOf(abs, inside ? rel.split(sep).join('/') : abs);
}

/**
 * Adds files written after the folder was complete (an --export GGUF) to its compact-report.json
 * `files`, replacing the report through a temporary sibling so a crash leaves the old one whole.
 */
/** Returns the report's whole `files` list after the addition. */
export async function recordWrittenFiles(outDir: string, files: string[]): Promise<WrittenFile[]> {
  const reportPath = join(outDir, 'compact-report.json');
  const report = JSON.parse(await readFile(reportPath, 'utf8')) as { files?: WrittenFile[] };
  const added: WrittenFile[] = [];
  for (const f of files) added.push(await entryFor(outDir, f));
  const kept = (report.files ?? []).filter((e) => !added.some((a) => a.path === e.path));
  report.files = [...kept, ...added].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const tmp = `${reportPath}.compact-tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify(report, null, 2) + '\n');
  await rename(tmp, reportPath);
  return report.files;
}
