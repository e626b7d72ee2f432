import type { MachineHandle } from '../providers/provider.ts';
import type { Db } from './store.ts';
import { liveWorkerStates } from './worker-rows.ts';

/** The machine handles of a provider's workers that may still be running. */
export async function liveMachinesOf(db: Db, provider: string): Promise<MachineHandle[]> {
  const rows = await db.selectFrom('workers').select('machine')
    .where('provider', '=', provider).where('state', 'in', liveWorkerStates).where('machine', 'is not', null).execute();
  return rows.map((row) => JSON.parse(row.machine!) as MachineHandle);
}
