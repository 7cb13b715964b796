import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

/**
 * Notices that the command lost the `npx` (or `npm run`) that started it. npm 11, sent SIGTERM or
 * SIGHUP, exits without passing the signal on; the command, under npm's `sh -c` wrapper, is
 * re-parented and would run to completion unobserved, so `timeout`, CI cancellation and a closed
 * terminal would not stop a prune.
 *
 * Only under npm: a command started by a shell directly gets those signals itself, and one the
 * user detached on purpose (`setsid`, `disown`) must outlive its shell.
 */
export interface Lifeline {
  stop(): void;
}

/** What went away: the parent (npm or its shell wrapper) or the controlling terminal. */
export type Loss = 'parent' | 'terminal';

interface ProcStat {
  ppid: number;
  tty: number;
}

/** /proc/<pid>/stat: `pid (comm) state ppid pgrp session tty_nr …`; comm may hold spaces and parens. */
function procStat(pid: number | 'self'): ProcStat | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), tty: Number(f[4]) };
  } catch {
    return null;
  }
}

/** A non-interactive `sh -c …` wrapper, as npm runs bins: its own parent is watched too. */
function isShellWrapper(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return /^(sh|dash|bash|zsh|ash)$/.test(basename(argv[0] ?? '')) && argv.includes('-c');
  } catch {
    return false;
  }
}

export function launchedByNpm(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.npm_command !== undefined || env.npm_lifecycle_event !== undefined;
}

/** Polls (two small /proc reads per tick) and calls `onLost` once. */
export function watchLifeline(onLost: (what: Loss) => void, intervalMs = 250): Lifeline {
  const parent = process.ppid;
  // Already orphaned at start, or not under npm: nothing to watch.
  if (parent <= 1 || !launchedByNpm()) return { stop() {} };
  const grandparent = isShellWrapper(parent) ? (procStat(parent)?.ppid ?? 0) : 0;
  const tty = procStat('self')?.tty ?? 0;
  const timer = setInterval(() => {
    let lost: Loss | null = null;
    if (process.ppid !== parent || (grandparent > 1 && procStat(parent)?.ppid !== grandparent)) lost = 'parent';
    else if (tty !== 0 && procStat('self')?.tty === 0) lost = 'terminal';
    if (lost) {
      clearInterval(timer);
      onLost(lost);
    }
  }, intervalMs);
  // Never the reason the process stays alive.
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
