import type { MachineHandle } from '../../providers/provider.ts';
import { priceOf } from '../../providers/provider.ts';
import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';

/**
 * A provider started a worker's machine: the store keeps its handle, its owner and its
 * price from now on. False when the worker was given up on while it started (lost, its
 * run over): nobody wants that machine, and it must be stopped.
 */
export async function recordMachine(db: Db, workerId: string, machine: MachineHandle, start: { owner: string; serverUrl: string }, now: number): Promise<boolean> {
  const price = priceOf(machine);
  const recorded = await db.updateTable('workers')
    .set({ machine: JSON.stringify(machine), owner: start.owner, server_url: start.serverUrl || null, machine_at: now, hourly_usd: price?.hourlyUsd ?? null, billing: price?.billing ?? null })
    .where('id', '=', workerId).where('state', '=', 'starting').executeTakeFirst();
  return Number(recorded.numUpdatedRows) > 0;
}

/** Every try to start a worker's machine failed: the worker failed, and its run says why. */
export async function recordStartFailed(trx: Db, runId: string, workerId: string, tries: number, message: string, changes: Changes): Promise<void> {
  await trx.updateTable('workers').set({ state: 'failed', stop_cause: 'start_failed', error: message, stopped_at: changes.now, registration_hash: null })
    .where('id', '=', workerId).where('state', '=', 'starting').execute();
  changes.event(runId, 'worker.stopped', { worker: workerId, message: `could not start after ${tries} tries: ${message}` });
}
