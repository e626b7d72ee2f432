import type { Db } from '../../store/store.ts';

/**
 * A coordinator process's place on the store: a lease it renews while it lives. Another
 * process takes over what it started (stops its machines) only once the lease has run out.
 */
export async function joinStore(db: Db, id: string, pid: number, host: string, now: number, leaseMs: number, urls: { local: string; remote: string }): Promise<void> {
  await db.insertInto('coordinators').values({
    id, pid, host, started_at: now, lease_until: now + leaseMs, local_url: urls.local || null, remote_url: urls.remote || null,
  }).execute();
}

export async function renewLease(db: Db, id: string, now: number, leaseMs: number): Promise<void> {
  await db.updateTable('coordinators').set({ lease_until: now + leaseMs }).where('id', '=', id).execute();
}

/** A coordinator that closes leaves at once; those whose lease ran out long ago are forgotten too. */
export async function leaveStore(db: Db, id: string, now: number, forgetAfterMs: number): Promise<void> {
  await db.deleteFrom('coordinators').where((eb) => eb.or([eb('id', '=', id), eb('lease_until', '<', now - forgetAfterMs)])).execute();
}

/**
 * The coordinator processes whose lease still runs, less those of this host whose process
 * is gone (one killed here is known dead at once, not when its lease runs out): their ids,
 * and the URLs they serve machines at.
 */
export async function liveCoordinators(db: Db, now: number, here: { host: string; running: (pid: number) => boolean }): Promise<{ ids: Set<string>; urls: Set<string> }> {
  const rows = await db.selectFrom('coordinators').select(['id', 'host', 'pid', 'local_url', 'remote_url']).where('lease_until', '>=', now).execute();
  const live = rows.filter((r) => r.host !== here.host || here.running(r.pid));
  return { ids: new Set(live.map((r) => r.id)), urls: new Set(live.flatMap((r) => [r.local_url, r.remote_url].filter((url) => url !== null))) };
}
