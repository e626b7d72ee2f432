import { waitingName } from '../../engine/worker-name.ts';
import { hashSecret, newId, newSecret } from '../../util/ids.ts';
import type { Db } from '../../store/store.ts';
import type { Changes } from '../changes.ts';

export type Registration =
  | { kind: 'registered'; workerId: string; runId: string; activity: string; name: string; credential: string }
  | { kind: 'stop'; reason: string }
  | { kind: 'denied' };

/**
 * A worker started by a provider trades its one-time registration token for its own
 * credential. The token is erased on use, so it cannot register a second worker.
 */
export async function registerStartedWorker(trx: Db, registrationToken: string, changes: Changes): Promise<Registration> {
  const worker = await trx.selectFrom('workers').select(['id', 'run_id', 'activity', 'state', 'name'])
    .where('registration_hash', '=', hashSecret(registrationToken)).executeTakeFirst();
  if (!worker) return { kind: 'denied' };
  if (worker.state !== 'starting') {
    await trx.updateTable('workers').set({ registration_hash: null }).where('id', '=', worker.id).execute();
    return { kind: 'stop', reason: `worker is ${worker.state}` };
  }
  const credential = newSecret();
  await trx.updateTable('workers').set({
    registration_hash: null, credential_hash: hashSecret(credential), state: 'idle',
    registered_at: changes.now, last_seen_at: changes.now,
  }).where('id', '=', worker.id).execute();
  await changes.event(trx, worker.run_id, 'worker.registered', { worker: worker.id, worker_name: worker.name });
  return { kind: 'registered', workerId: worker.id, runId: worker.run_id, activity: worker.activity, name: worker.name, credential };
}

/** A worker started by hand joins a run's activity with the run's join token. */
export async function registerJoiningWorker(
  trx: Db, joinToken: string, activity: string, knownActivities: (runId: string) => Promise<string[]>, changes: Changes,
): Promise<Registration> {
  const run = await trx.selectFrom('runs').select(['id', 'status'])
    .where('join_token_hash', '=', hashSecret(joinToken)).executeTakeFirst();
  if (!run) return { kind: 'denied' };
  if (run.status !== 'running') return { kind: 'stop', reason: `run ${run.id} is ${run.status}` };
  const activities = await knownActivities(run.id);
  if (!activities.includes(activity)) {
    return { kind: 'stop', reason: `run ${run.id} has no activity '${activity}' (it has: ${activities.join(', ')})` };
  }
  const id = newId('w');
  const credential = newSecret();
  const name = waitingName(0, null, activity);
  await trx.insertInto('workers').values({
    id, run_id: run.id, activity, provider: 'manual', name, state: 'idle', tasks_done: 0, last_task: null,
    registration_hash: null, credential_hash: hashSecret(credential), machine: null, error: null,
    created_at: changes.now, registered_at: changes.now, last_seen_at: changes.now, stopped_at: null,
  }).execute();
  await changes.event(trx, run.id, 'worker.registered', { worker: id, worker_name: name, message: 'started by hand' });
  return { kind: 'registered', workerId: id, runId: run.id, activity, name, credential };
}
