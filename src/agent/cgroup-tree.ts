/**
 * One script's processes as the kernel keeps them: a cgroup v2 directory. Whatever the
 * script starts is born inside it and cannot leave (setsid and double forks change the
 * session and the parent, not the cgroup), so its members are one small file to read and
 * `cgroup.kill` ends them all at once. The cost is that of the script's own processes,
 * never that of the machine.
 */
import { readFileSync, rmdirSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** How long to wait for SIGKILLed processes to go; one stuck in the kernel (D state) may never. */
const KILL_WAIT_MS = 2000;

export class CgroupTree {
  readonly path: string;

  /** `path` is an existing, empty cgroup directory the caller may write. */
  constructor(path: string) {
    this.path = path;
  }

  /** The file a process writes its pid to, to join (the launcher does, before it execs the script). */
  get procsFile(): string {
    return join(this.path, 'cgroup.procs');
  }

  /** Pids of the member processes (zombies are not members). */
  members(): number[] {
    try {
      return readFileSync(this.procsFile, 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Whether any member is still running. */
  populated(): boolean {
    try {
      return /^populated 1$/m.test(readFileSync(join(this.path, 'cgroup.events'), 'utf8'));
    } catch {
      return false;
    }
  }

  /**
   * SIGTERM (and SIGCONT, so a stopped process can heed it) to every member, then
   * `cgroup.kill` for those still there after `graceMs`. Resolves when the cgroup is empty,
   * or after a bounded wait if the kernel will not let a process die. Nothing is polled:
   * the kernel tells when the last member is gone.
   */
  async terminate(graceMs: number): Promise<void> {
    const members = this.members();
    if (members.length === 0) return;
    for (const pid of members) {
      send(pid, 'SIGTERM');
      send(pid, 'SIGCONT');
    }
    if (await this.#emptied(graceMs)) return;
    await this.kill();
  }

  /** SIGKILL to every member at once; resolves when they are gone (or after a bounded wait). */
  async kill(): Promise<void> {
    if (!this.populated()) return;
    try {
      writeFileSync(join(this.path, 'cgroup.kill'), '1');
    } catch {
      return; // Removed meanwhile: nothing left to kill.
    }
    await this.#emptied(KILL_WAIT_MS);
  }

  /** Removes the (empty) cgroup; false if a member lingers, so it cannot be removed yet. */
  remove(): boolean {
    try {
      rmdirSync(this.path);
      return true;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ENOENT';
    }
  }

  /** Resolves true once the cgroup has no member, false after `ms` if it still has. */
  #emptied(ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      let done = false;
      const finish = (empty: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        watcher?.close();
        resolve(empty);
      };
      const check = (): void => {
        if (!this.populated()) finish(true);
      };
      // Where change notification fails: look again at growing intervals.
      const poll = async (): Promise<void> => {
        for (let wait = 5; !done; wait = Math.min(wait * 2, 200)) {
          check();
          await sleep(wait);
        }
      };
      const timer = setTimeout(() => finish(!this.populated()), ms);
      let watcher: ReturnType<typeof watch> | undefined;
      try {
        // The kernel notifies a change of cgroup.events when the cgroup empties.
        watcher = watch(join(this.path, 'cgroup.events'), check);
        watcher.on('error', () => void poll());
      } catch {
        void poll();
      }
      check();
    });
  }
}

function send(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Exited since the members were read.
  }
}
