/**
 * Which coordinator process stops a worker's machine: the one that started it, while it
 * lives (it may be waiting on the machine, and only it knows its processes); any once that
 * one is gone (its lease ran out), or when nobody started it (a worker started by hand).
 */
export function mayStopMachine(owner: string | null, me: string, alive: ReadonlySet<string>): boolean {
  return owner === null || owner === me || !alive.has(owner);
}
