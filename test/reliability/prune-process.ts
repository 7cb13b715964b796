/**
 * Runs `compact prune` on wiki-28m as a child process (the way users run it) and watches it:
 * its stderr and the output's parent folder, polled every few milliseconds, so a test can
 * interrupt it at a chosen phase (before calibration, during calibration, while writing).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { openCheckpoint } from '../../src/io/safetensors.ts';
import { REPO_ROOT, shared } from '../helpers/paths.ts';

/** The command: 30,000 tokens and 855 of 1,280 FFN channels, 2,048 calibration tokens. */
export function pruneArgs(out: string, extra: string[] = []): string[] {
  return [
    path.join(REPO_ROOT, 'bin', 'compact.mjs'), 'prune', shared('models', 'wiki-28m'), '--out', out,
    '--vocab', '30000', '--ffn', '855', '--calib', shared('data', 'text', 'calib-wiki.txt'),
    '--calib-tokens', '2048', '--seq-len', '256', ...extra,
  ];
}

/** What the watcher saw when it acted. */
export interface Observation {
  ms: number;
  stderr: string;
  /** This run's temporary folders in the output's parent (names). */
  tmpDirs: string[];
  /** Files inside the newest temporary folder. */
  tmpFiles: string[];
  outExists: boolean;
}

export interface Run {
  child: ChildProcess;
  /** Resolves when the child has exited. */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }>;
  /** Resolves with the observation at which `signal` was sent, or null if the child exited first. */
  interrupted: Promise<Observation | null>;
}

/** `out.compact-<tmp|old>-<pid>-<random>@<host>.<boot>.<pid namespace>` (src/io/temp-names.ts). */
export const TMP_RE = /^out\.compact-(tmp|old)-(\d+)-[0-9a-f]{8}@[0-9a-f]{8}\.(?:[0-9a-f]{8}|0)\.(?:[0-9a-f]{8}|0)$/;

/** Only this child's temporary folders count: killed runs before it leave theirs behind. */
function observe(parent: string, pid: number, stderr: string, t0: number): Observation {
  const names = existsSync(parent) ? readdirSync(parent) : [];
  const tmpDirs = names.filter((n) => TMP_RE.exec(n)?.[2] === String(pid)).sort();
  let tmpFiles: string[] = [];
  const last = tmpDirs.filter((n) => n.includes('-tmp-')).at(-1);
  if (last) {
    try {
      tmpFiles = readdirSync(path.join(parent, last)).sort();
    } catch {
      // Renamed or removed between the two reads.
    }
  }
  return { ms: performance.now() - t0, stderr, tmpDirs, tmpFiles, outExists: names.includes('out') };
}

/**
 * Starts a prune into `<parent>/out` and sends `signal` as soon as `when(observation)` holds
 * (or never, with `when` null).
 */
export function startPrune(parent: string, extra: string[], when: ((o: Observation) => boolean) | null, signal: NodeJS.Signals = 'SIGKILL'): Run {
  const t0 = performance.now();
  const child = spawn(process.execPath, pruneArgs(path.join(parent, 'out'), extra), { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  let timer: NodeJS.Timeout | undefined;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }>((resolve) => {
    child.on('close', (code, sig) => {
      clearInterval(timer);
      resolve({ code, signal: sig, stderr, ms: performance.now() - t0 });
    });
  });
  const interrupted = new Promise<Observation | null>((resolve) => {
    if (!when) return resolve(null);
    timer = setInterval(() => {
      if (child.exitCode !== null || child.signalCode !== null) {
        clearInterval(timer);
        return resolve(null);
      }
      const o = observe(parent, child.pid!, stderr, t0);
      if (when(o)) {
        clearInterval(timer);
        child.kill(signal);
        resolve(o);
      }
    }, 3);
    void exit.then(() => resolve(null));
  });
  return { child, exit, interrupted };
}

export function sha256(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * sha256 of every file in an output folder; compact-report.json is hashed without its `run`
 * object (wall time, peak RSS, threads: the only figures that legitimately differ between runs).
 */
export function folderDigest(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const bytes = readFileSync(path.join(dir, name));
    if (name === 'compact-report.json') {
      const report = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
      delete report.run;
      out[name] = sha256(JSON.stringify(report));
    } else {
      out[name] = sha256(bytes);
    }
  }
  return out;
}

/** Opens the folder as a checkpoint and reads every tensor: a complete output must load. */
export async function readAllTensors(dir: string): Promise<number> {
  const ckpt = await openCheckpoint(dir);
  let bytes = 0;
  try {
    for (const name of ckpt.names()) bytes += (await ckpt.readBytes(name)).length;
  } finally {
    await ckpt.close();
  }
  return bytes;
}
