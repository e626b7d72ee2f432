/**
 * Finding and stopping every process a job started — by pid and process group only,
 * never by name, so nothing else on the machine is touched.
 *
 * A process group catches most of a job in one kill, but a process can leave the group
 * (`setsid`) and is re-parented to init when its parent exits, after which nothing in the
 * kernel links it to the job. So a ProcessTree remembers every descendant it has seen
 * (call refresh() periodically while the job runs), and can also recognise the job's
 * processes by a marker variable in their environment, which survives double forks
 * (`(setsid daemon &)`) that finish before any poll could see them.
 *
 * Everything here reads /proc. Windows has none: there a tree is its root and what
 * `taskkill /PID <root> /T /F` finds under it, ended at once (a console process has no
 * SIGTERM to heed), and only while the root runs: a Windows pid is soon reused.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const windows = process.platform === 'win32';

interface Stat {
  pid: number;
  ppid: number;
  pgrp: number;
  state: string;
  /** Start time in clock ticks since boot: with the pid, it tells a recycled pid apart. */
  start: string;
}

export interface EnvMarker {
  name: string;
  value: string;
}

/** Waiting for processes to go: look again soon, then less often (each look reads all of /proc). */
const FIRST_POLL_MS = 5;
const MAX_POLL_MS = 200;
/** How long to wait for SIGKILLed processes to disappear; one stuck in the kernel (D state) may never. */
const KILL_WAIT_MS = 2000;

function readStat(pid: number): Stat | undefined {
  if (windows) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may itself contain spaces and ")".
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    state: fields[0] ?? '',
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    start: fields[19] ?? '',
  };
}

function allStats(): Stat[] {
  const stats: Stat[] = [];
  if (windows) return stats;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = readStat(Number(name));
    if (stat) stats.push(stat);
  }
  return stats;
}

/** A zombie has exited and only waits for its parent to reap it: it is gone for our purposes. */
function running(stat: Stat): boolean {
  return stat.state !== 'Z' && stat.state !== 'X';
}

function hasMarker(pid: number, entry: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(entry);
  } catch {
    return false; // gone, or another user's process
  }
}

function send(target: number, signal: NodeJS.Signals): void {
  try {
    process.kill(target, signal);
  } catch {
    // Already gone (ESRCH) or not ours (EPERM): nothing to stop.
  }
}

/** True while the process exists and has not exited. */
export function isAlive(pid: number): boolean {
  if (windows) return exists(pid);
  const stat = readStat(pid);
  return stat !== undefined && running(stat);
}

/** Windows: whether a process has this pid (signal 0 only asks). */
function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Windows: ends the process and every descendant by pid, never by name, without a shell. */
function taskkill(pid: number): Promise<void> {
  return new Promise((resolve) => {
    execFile('taskkill', ['/PID', String(pid), '/T', '/F'], { windowsHide: true }, () => resolve());
  });
}

/** The pids of the process's children, their children, and so on (not the process itself). */
export function descendantsOf(pid: number): number[] {
  return walk([pid], allStats()).filter((p) => p !== pid);
}

/** Every pid reachable from `roots` through parent links, roots included. */
function walk(roots: number[], stats: Stat[]): number[] {
  const children = new Map<number, number[]>();
  for (const s of stats) {
    const siblings = children.get(s.ppid);
    if (siblings) siblings.push(s.pid);
    else children.set(s.ppid, [s.pid]);
  }
  const found = new Set(roots);
  for (const pid of found) for (const child of children.get(pid) ?? []) found.add(child);
  return [...found];
}

export class ProcessTree {
  /** Undefined for a tree known only by its marker (its root is gone or unverified). */
  readonly #root: number | undefined;
  readonly #markerEntry: string | undefined;
  /** Processes seen so far, pid -> start time. */
  #known = new Map<number, string>();

  /**
   * `root` should lead its own process group (spawned with `detached: true`); its group
   * members count as part of the tree. `marker` names an environment variable set only
   * for this job's processes.
   */
  constructor(root: number | undefined, options: { marker?: EnvMarker } = {}) {
    this.#root = root;
    this.#markerEntry = options.marker && `${options.marker.name}=${options.marker.value}`;
    const stat = root === undefined ? undefined : readStat(root);
    if (stat && running(stat)) this.#known.set(stat.pid, stat.start);
  }

  /**
   * Re-scans: remembers the current members, so ones re-parented later are not lost (call
   * it periodically while the job runs), and says whether any is still running.
   */
  refresh(): boolean {
    if (windows) return this.#root !== undefined && exists(this.#root);
    const members = this.#members(allStats(), false);
    this.#remember(members);
    return members.length > 0;
  }

  /**
   * Sends the signals, in order, to the whole group at once, then to every other member by
   * pid; says whether there was any member to signal.
   */
  signal(...signals: NodeJS.Signals[]): boolean {
    if (windows) {
      if (this.#root !== undefined && signals.some((s) => s !== 'SIGCONT')) void taskkill(this.#root);
      return this.#root !== undefined;
    }
    const members = this.#members(allStats(), true);
    this.#remember(members);
    for (const signal of signals) {
      if (this.#root !== undefined) send(-this.#root, signal);
      for (const m of members) send(m.pid, signal);
    }
    return members.length > 0;
  }

  /**
   * SIGTERM, then SIGKILL to whatever is still running after `graceMs`, repeated until
   * nothing is left, since a process may fork between one scan and the next. Resolves
   * when all are gone, or after a bounded wait if the kernel will not let one die.
   */
  async terminate(graceMs: number): Promise<void> {
    if (windows) {
      if (this.#root !== undefined) await taskkill(this.#root);
      await this.#whileRunning(KILL_WAIT_MS);
      return;
    }
    // A stopped process (SIGSTOP, a frozen machine) would hold the SIGTERM until the grace ran out.
    // Nothing to signal, nothing to wait for: a clean exit costs this one look.
    if (!this.signal('SIGTERM', 'SIGCONT')) return;
    await this.#whileRunning(graceMs);
    await this.#whileRunning(KILL_WAIT_MS, () => this.signal('SIGKILL'));
  }

  /** Looks again at growing intervals while any member runs, for at most `ms`, doing `each` before each wait. */
  async #whileRunning(ms: number, each?: () => void): Promise<void> {
    const until = Date.now() + ms;
    for (let wait = FIRST_POLL_MS; this.refresh() && Date.now() < until; wait = Math.min(wait * 2, MAX_POLL_MS)) {
      each?.();
      await sleep(Math.min(wait, Math.max(1, until - Date.now())));
    }
  }

  /** Those not among the members have exited; their children were already re-parented. */
  #remember(members: Stat[]): void {
    this.#known = new Map(members.map((m) => [m.pid, m.start]));
  }

  /**
   * The root's group, the known processes that still are who they were (same start time,
   * so a recycled pid is never taken for ours), everything descended from those, and —
   * when `byMarker` — every process carrying the marker. Reading every environment is
   * costly, so only signal() does it; what it finds is remembered and checked cheaply.
   */
  #members(stats: Stat[], byMarker: boolean): Stat[] {
    const marker = byMarker ? this.#markerEntry : undefined;
    const roots = stats.filter(
      (s) =>
        (this.#root !== undefined && s.pgrp === this.#root) ||
        this.#known.get(s.pid) === s.start ||
        (marker !== undefined && hasMarker(s.pid, marker)),
    );
    const found = new Set(walk(roots.map((s) => s.pid), stats));
    return stats.filter((s) => found.has(s.pid) && running(s));
  }
}

/** One-shot: signals the process, its group and its current descendants. */
export function killTree(pid: number, signal: NodeJS.Signals): void {
  new ProcessTree(pid).signal(signal);
}

/** The start time of a running process (clock ticks since boot): with its pid, its identity. */
export function startTimeOf(pid: number): string | undefined {
  const stat = readStat(pid);
  return stat && running(stat) ? stat.start : undefined;
}

/** Pids of running processes whose environment holds `name` with a value that `accept`s. */
export function pidsByMarker(name: string, accept: (value: string) => boolean): Map<number, string> {
  const prefix = `${name}=`;
  const found = new Map<number, string>();
  for (const stat of allStats()) {
    if (!running(stat) || stat.pid === process.pid) continue;
    let entries: string[];
    try {
      entries = readFileSync(`/proc/${stat.pid}/environ`, 'latin1').split('\0');
    } catch {
      continue;
    }
    const value = entries.find((e) => e.startsWith(prefix))?.slice(prefix.length);
    if (value !== undefined && accept(value)) found.set(stat.pid, value);
  }
  return found;
}
