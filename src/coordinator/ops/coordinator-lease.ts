import type { Db } from '../../store/store.ts';

/**
 * A coordinator process's place on the store: a lease it renews while it lives. Another
 * process takes over what it started (stops its machines) only once the lease has run out.
 */
export async function joinStore(db: Db, id: string, pid: number, host: string, now: number, leaseMs: number): Promise<void> {
  await db.insertInto('coordinators').values({ id, pid, host, started_at: now, lease_until: now + leaseMs }).execute();
}

export async function renewLease(db: Db, id: string, now: number, leaseMs: number): Promise<void> {
  await db.updateTable('coordinators').set({ lease_until: now + leaseMs }).where('id', '=', id).execute();
}

/** A coordinator that closes leaves at once; those whose lease ran out long ago are forgotten too. */
export async function leaveStore(db: Db, id: string, now: number, forgetAfterMs: number): Promise<void> {
  await db.deleteFrom('coordinators').where((eb) => eb.or([eb('id', '=', id), eb('lease_until', '<', now - forgetAfterMs)])).execute();
}

/**
 * Ids of the coordinator processes whose lease still runs, less those of this host whose
 * process is gone: one killed here is known dead at once, not when its lease runs out.
 */
export async function liveCoordinators(db: Db, now: number, here: { host: string; running: (pid: number) => boolean }): Promise<Set<string>> {
  const rows = await db.selectFrom('coordinators').select(['id', 'host', 'pid']).where('lease_until', '>=', now).execute();
  return new Set(rows.filter((r) => r.host !== here.host || here.running(r.pid)).map((r) => r.id));
}
