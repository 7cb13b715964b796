/**
 * Names of temporary outputs, and the sweep that removes those of dead runs.
 *
 * A temporary (a folder being built, a GGUF being streamed, an old output set aside) carries its
 * owner's identity in its name: the pid, and the host, boot and PID namespace that pid belongs
 * to. A pid alone is not enough: a folder may be shared between containers (other PID
 * namespaces, where the same number is another process or none) or between machines (NFS).
 * The sweep removes an entry only when its owner is provably dead: same host and an earlier
 * boot, or same host, boot and namespace and no such process. Anything else is left alone.
 */
import { randomBytes, createHash } from 'node:crypto';
import { promises as fsp, readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';

export type TempKind = 'tmp' | 'old';

interface Identity {
  host: string;
  boot: string;
  ns: string;
}

const UNKNOWN = '0';

function hash8(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

function readOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

let self: Identity | undefined;

/** This process's host, boot and PID-namespace tags (8 hex digits each; `0` where unknown). */
export function selfIdentity(): Identity {
  if (self) return self;
  const machine = readOr('/etc/machine-id', readOr('/var/lib/dbus/machine-id', ''));
  const boot = readOr('/proc/sys/kernel/random/boot_id', '');
  let ns = '';
  try {
    ns = readlinkSync('/proc/self/ns/pid');
  } catch {
    // Not Linux: no namespaces to tell apart.
  }
  self = { host: hash8(`${machine}\0${hostname()}`), boot: boot ? hash8(boot) : UNKNOWN, ns: ns ? hash8(ns) : UNKNOWN };
  return self;
}

const TAG = (kind: TempKind): string => `.compact-${kind}-`;

/** `<base>.compact-<kind>-<pid>-<random>@<host>.<boot>.<ns>`, beside `target`. */
export function tempPath(target: string, kind: TempKind): string {
  const id = selfIdentity();
  const name = `${path.basename(target)}${TAG(kind)}${process.pid}-${randomBytes(4).toString('hex')}@${id.host}.${id.boot}.${id.ns}`;
  return path.join(path.dirname(target), name);
}

const NAME_RE = /^(.*)\.compact-(tmp|old)-(\d+)-[0-9a-f]{8}@([0-9a-f]{8})\.([0-9a-f]{8}|0)\.([0-9a-f]{8}|0)$/;

export interface TempOwner {
  base: string;
  kind: TempKind;
  pid: number;
  host: string;
  boot: string;
  ns: string;
}

/** The owner recorded in a temporary's name, or null when the name is not one of ours. */
export function parseTempName(name: string): TempOwner | null {
  const m = NAME_RE.exec(name);
  if (!m) return null;
  return { base: m[1]!, kind: m[2] as TempKind, pid: Number(m[3]), host: m[4]!, boot: m[5]!, ns: m[6]! };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** True only when the owner cannot be running any more. */
export function provablyDead(o: TempOwner, me: Identity = selfIdentity()): boolean {
  if (o.host !== me.host) return false;
  if (o.boot !== me.boot) return o.boot !== UNKNOWN && me.boot !== UNKNOWN;
  if (o.ns !== me.ns) return false;
  if (o.pid === process.pid) return false;
  return !pidAlive(o.pid);
}

/**
 * Removes the temporaries of `base` in `parent` whose owners are provably dead. An old output
 * set aside is kept while `base` itself is missing: it is then the only copy.
 */
export async function sweepStale(parent: string, base: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(parent);
  } catch {
    return [];
  }
  const baseExists = names.includes(base);
  const removed: string[] = [];
  for (const name of names) {
    const o = parseTempName(name);
    if (!o || o.base !== base || !provablyDead(o)) continue;
    if (o.kind === 'old' && !baseExists) continue;
    await fsp.rm(path.join(parent, name), { recursive: true, force: true, maxRetries: 3 });
    removed.push(name);
  }
  return removed;
}
