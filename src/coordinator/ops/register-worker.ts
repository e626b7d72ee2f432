import { handStartedProvider } from '../../engine/report.ts';
import { waitingName } from '../../engine/worker-name.ts';
import { hashSecret, newSecret } from '../../util/ids.ts';
import { insertWithFreshId } from '../../store/fresh-id.ts';
import { allows } from '../../engine/scopes.ts';
import { claimableTask } from '../../store/claimable.ts';
import type { Db } from '../../store/store.ts';
import { findToken } from '../../store/tokens.ts';
import type { Changes } from '../changes.ts';

export type Registration =
  | { kind: 'registered'; workerId: string; runId: string; activity: string; name: string; credential: string }
  | { kind: 'stop'; reason: string }
  | { kind: 'denied' }
  /** A live user token without the `worker` scope: it may not serve runs. */
  | { kind: 'forbidden' };

/**
 * A worker started by a provider trades its one-time registration token for its own
 * credential. The token is erased on use, so it cannot register a second worker.
 */
export async function registerStartedWorker(trx: Db, registrationToken: string, heartbeatTimeoutMs: number, changes: Changes): Promise<Registration> {
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
    registered_at: changes.now, last_seen_at: changes.now, heartbeat_timeout_ms: heartbeatTimeoutMs,
  }).where('id', '=', worker.id).execute();
  changes.event(worker.run_id, 'worker.registered', { worker: worker.id, worker_name: worker.name });
  return { kind: 'registered', workerId: worker.id, runId: worker.run_id, activity: worker.activity, name: worker.name, credential };
}

/**
 * A worker started by hand joins an activity: of the run whose join token it brings, or,
 * with a user token of the `worker` scope (or an admin's), of the oldest running run that
 * has work waiting for that activity (else any running run that has it). A submit token
 * may not: whoever holds one could otherwise claim other people's tasks and report them
 * succeeded without running them.
 */
export async function registerJoiningWorker(
  trx: Db, token: string, activity: string, activitiesOf: (runId: string) => Promise<string[]>, heartbeatTimeoutMs: number, changes: Changes,
): Promise<Registration> {
  const byJoinToken = await trx.selectFrom('runs').select(['id', 'status'])
    .where('join_token_hash', '=', hashSecret(token)).executeTakeFirst();
  let runId: string;
  if (byJoinToken) {
    if (byJoinToken.status !== 'running') return { kind: 'stop', reason: `run ${byJoinToken.id} is ${byJoinToken.status}` };
    const activities = await activitiesOf(byJoinToken.id);
    if (!activities.includes(activity)) {
      return { kind: 'stop', reason: `run ${byJoinToken.id} has no activity '${activity}' (it has: ${activities.join(', ')})` };
    }
    runId = byJoinToken.id;
  } else {
    const user = await findToken(trx, token);
    if (!user) return { kind: 'denied' };
    if (!allows(user.scopes, 'worker')) return { kind: 'forbidden' };
    const running = await trx.selectFrom('runs').select('id').where('status', '=', 'running').orderBy('created_at').execute();
    let found: string | undefined;
    for (const run of running) {
      const waiting = await trx.selectFrom('tasks').select('key')
        .where('run_id', '=', run.id).where('pool', '=', activity).where(claimableTask).limit(1).executeTakeFirst();
      if (waiting) { found = run.id; break; }
    }
    for (const run of found ? [] : running) {
      if ((await activitiesOf(run.id)).includes(activity)) { found = run.id; break; }
    }
    if (!found) return { kind: 'stop', reason: `no running run has an activity '${activity}'` };
    runId = found;
  }
  const credential = newSecret();
  const name = waitingName(0, null, activity);
  // It serves the pool of the run's activity: that run's tasks and those of every run that shares it.
  const pool = await trx.selectFrom('run_pools').select('pool_id').where('run_id', '=', runId).where('activity', '=', activity).executeTakeFirst();
  const id = await insertWithFreshId('w', (fresh) => trx.insertInto('workers').values({
    id: fresh, run_id: runId, activity, pool_id: pool?.pool_id ?? `${runId}/${activity}`, provider: handStartedProvider, name, state: 'idle', tasks_done: 0, last_task: null,
    registration_hash: null, credential_hash: hashSecret(credential), machine: null, error: null,
    created_at: changes.now, registered_at: changes.now, last_seen_at: changes.now, heartbeat_timeout_ms: heartbeatTimeoutMs, owner: null, stopped_at: null, machine_at: null, hourly_usd: null, billing: null,
  }).onConflict((oc) => oc.column('id').doNothing()).executeTakeFirst());
  changes.event(runId, 'worker.registered', { worker: id, worker_name: name, message: 'started by hand' });
  return { kind: 'registered', workerId: id, runId, activity, name, credential };
}
