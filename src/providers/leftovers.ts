/** Something of Slipway's that a provider's machines or account still hold, as `slipway purge` lists it. */
export interface Leftover {
  kind: string;
  id: string;
  name: string;
  /** Why it is here, or what removing it means. */
  note: string;
}

/** What removing a leftover of these kinds means, the same on every provider. */
export const leftoverNotes = {
  process: (pid: unknown) => `pid ${String(pid)}: the agent and its tasks`,
  runtime: 'node and the agent; downloaded again on next use',
  prepared: 'prepare scripts run again on next use',
} as const;

export interface Removal {
  resource: Leftover;
  /** Empty when it was removed. */
  error: string;
}

/** What `slipway purge` uses of a provider: where it looks, what it finds there, and how it removes it. */
export interface Purger {
  /** A region, this machine, the configured hosts. */
  scope: string;
  find(): Promise<{ found: Leftover[]; notHandled: string[] }>;
  remove(found: readonly Leftover[]): Promise<Removal[]>;
  close?(): void;
}

/** Runs each removal in order, each failure recorded against its resource rather than stopping the rest. */
export async function removeEach(found: readonly Leftover[], remove: (resource: Leftover) => Promise<void>): Promise<Removal[]> {
  const removals: Removal[] = [];
  for (const resource of found) {
    try {
      await remove(resource);
      removals.push({ resource, error: '' });
    } catch (error) {
      removals.push({ resource, error: (error as Error).message });
    }
  }
  return removals;
}
