/**
 * Notices that this process lost the process that started it. When `npx` (npm 11) is sent
 * SIGTERM or SIGHUP it exits without passing the signal on, and the command it ran is
 * re-parented (to init or a subreaper) and would finish its work unobserved: `timeout` and CI
 * cancellation would not stop it.
 */
export interface Lifeline {
  stop(): void;
}

/** Polls the parent pid (cheap: one getppid per tick) and calls `onLost` once when it changes. */
export function watchLifeline(onLost: () => void, intervalMs = 250): Lifeline {
  const parent = process.ppid;
  // Already orphaned at start (a daemon, a container's init): nothing to watch.
  if (parent <= 1) return { stop() {} };
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onLost();
    }
  }, intervalMs);
  // Never the reason the process stays alive.
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
