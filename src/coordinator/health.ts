import { isSilent } from '../engine/liveness.ts';
import { FLEET_SCOPE, operatorPoolId } from '../engine/pool-identity.ts';
import { judgeWorker } from '../engine/worker-health.ts';
import type { MachineHandle } from '../providers/provider.ts';
import { activitiesWithClaimableTasks } from '../store/pools-with-work.ts';
import { liveWorkers, silentAttempts, talkingWorkers, workerRow } from '../store/worker-rows.ts';
import type { CoordinatorCore } from './core.ts';
import type { Machines } from './machines.ts';
import { drainWorker } from './ops/drain-worker.ts';
import { budgetSpentNow } from './ops/spend-budget.ts';
import { runsWithBudget, spentByRun } from '../store/run-spend.ts';
import { loseAttempt } from './ops/lose-attempt.ts';
import { workerGone } from './ops/worker-gone.ts';
import { poolOf } from './pool-signals.ts';
import type { WorkerSessions } from './worker-sessions.ts';

/**
 * The scanner: finds what went wrong and heals it. Pools with queued work get workers,
 * workers that never came up are given up on, silent workers and workers whose machine is
 * gone are lost (their attempts retried), workers past their lifetime are drained, and
 * machines the store does not count as live are stopped. Every judgement is made from the
 * store (see judgeWorker), so any coordinator process on it judges alike.
 */
export class Health {
  readonly #core: CoordinatorCore;
  readonly #machines: Machines;
  readonly #sessions: WorkerSessions;

  constructor(core: CoordinatorCore, machines: Machines, sessions: WorkerSessions) {
    this.#core = core;
    this.#machines = machines;
    this.#sessions = sessions;
  }

  async check(): Promise<void> {
    const core = this.#core;
    const db = core.store.db;
    for (const { run_id, pool } of await activitiesWithClaimableTasks(db)) {
      if (core.looksAfter(run_id)) this.#machines.poke(poolOf(await core.specs.get(db, run_id), pool));
    }
    // The fleet's pools that keep workers warm get them back, work or none.
    if (!core.settings.ownRunsOnly) for (const name of core.activities.warmPools()) this.#machines.poke(operatorPoolId(name, FLEET_SCOPE));

    const workers = (await liveWorkers(db)).filter((worker) => core.looksAfter(worker.run_id));
    const live = await core.liveCoordinators();
    // Asked all at once: a provider answers for many machines in one call where it can.
    const gone = await Promise.all(workers.map((worker) => worker.machine !== null && this.#machines.gone(worker.provider, JSON.parse(worker.machine) as MachineHandle)));
    for (const [i, worker] of workers.entries()) {
      const spec = await core.specs.get(db, worker.run_id);
      // Its machine may register with a live coordinator serving the URL it was given (this one's before its row is written).
      const mayRegister = worker.server_url === null || live.urls.has(worker.server_url) || this.#machines.serves(worker.server_url);
      const known = spec.pipeline.activities[worker.activity] !== undefined;
      const verdict = judgeWorker({
        state: worker.state, createdAt: worker.created_at, hasMachine: worker.machine !== null, owner: worker.owner, tasksDone: worker.tasks_done,
      }, {
        now: core.clock.now(), self: core.id, startedAt: core.startedAt, alive: live.ids, startingHere: this.#machines.starting(worker.id), mayRegister,
        startTimeoutMs: core.settings.startTimeoutMs, machineGone: gone[i]!,
        lifetimeMs: known ? core.activities.activityOf(spec, worker.activity).maxLifetimeMs : undefined,
        keepsWarm: core.activities.minIdleOf(spec, worker.activity) !== 0,
      });
      if (verdict.kind === 'lose') await this.loseWorker(worker.id, verdict.reason);
      if (verdict.kind === 'drain') await this.drainWorker(worker.id, verdict.reason);
    }
    await this.checkLiveness();
    await this.#machines.reconcile();
  }

  /**
   * Finds silence: a worker not heard from within the heartbeat timeout is lost, and an
   * attempt whose heartbeats stopped while its worker still talks (its claim was answered
   * into the void, its heartbeat loop died) ends lost and is retried.
   */
  async checkLiveness(): Promise<void> {
    const core = this.#core;
    const now = core.clock.now();
    const workers = await talkingWorkers(core.store.db);
    // Each worker is judged by the timeout of the coordinator it talks to, whichever process judges.
    const timeouts = new Map(workers.map((w) => [w.id, w.heartbeat_timeout_ms ?? core.settings.heartbeatTimeoutMs]));
    for (const worker of workers) {
      if (!core.looksAfter(worker.run_id)) continue;
      const lastSeen = Math.max(this.#sessions.lastSeen(worker.id), worker.last_seen_at ?? 0, core.startedAt);
      if (isSilent(lastSeen, now, timeouts.get(worker.id)!)) {
        await this.loseWorker(worker.id, `no heartbeat for ${Math.round((now - lastSeen) / 1000)}s`);
      }
    }
    const shortest = Math.min(core.settings.heartbeatTimeoutMs, ...timeouts.values());
    for (const attempt of await silentAttempts(core.store.db, now - shortest)) {
      const timeout = timeouts.get(attempt.worker_id ?? '') ?? core.settings.heartbeatTimeoutMs;
      const heardAt = Math.max(attempt.heartbeat_at, core.startedAt);
      if (!core.looksAfter(attempt.run_id) || !isSilent(heardAt, now, timeout)) continue;
      const spec = await core.specs.get(core.store.db, attempt.run_id);
      const reason = `no heartbeat for attempt ${attempt.id} for ${Math.round((now - heardAt) / 1000)}s`;
      await core.mutate((trx, changes) => loseAttempt(trx, spec, attempt.id, reason, changes));
    }
    await this.checkBudgets();
  }

  /**
   * Stops the runs whose budget is spent (see stopAtBudget). Looked at as often as silence,
   * not at the full health check minutes apart: machines spend by the second.
   */
  async checkBudgets(): Promise<void> {
    const core = this.#core;
    const now = core.clock.now();
    for (const run of await runsWithBudget(core.store.db)) {
      if (!core.looksAfter(run.id)) continue;
      // Read outside a write transaction: most looks find the budget not spent.
      if ((await spentByRun(core.store.db, run.id, now) ?? 0) < run.budget_usd) continue;
      const spec = await core.specs.get(core.store.db, run.id);
      await core.mutate((trx, changes) => budgetSpentNow(trx, spec, changes));
    }
  }

  /**
   * Asks a worker to stop (scale-down, lifetime): it finishes the attempt in hand, takes no
   * other, and its machine is stopped once it has acknowledged by saying it stopped.
   */
  async drainWorker(workerId: string, reason: string): Promise<boolean> {
    const core = this.#core;
    const row = await workerRow(core.store.db, workerId);
    if (!row) return false;
    const drained = await core.mutate((trx, changes) => drainWorker(trx, row.run_id, workerId, reason, changes));
    if (drained) core.logs.append(core.logs.workerPath(row.run_id, workerId), `${core.stamp()} draining: ${reason}\n`);
    return drained;
  }

  /** Gives up on a worker: its attempt is retried elsewhere and its machine is stopped. */
  async loseWorker(workerId: string, reason: string): Promise<void> {
    const core = this.#core;
    if (core.closed) return;
    const row = await workerRow(core.store.db, workerId);
    if (!row) return;
    const spec = await core.specs.get(core.store.db, row.run_id);
    const lost = await core.mutate((trx, changes) => workerGone(trx, core.specOf(trx), workerId, { cause: 'lost', reason }, changes));
    if (!lost) return;
    core.logs.append(core.logs.workerPath(row.run_id, workerId), `${core.stamp()} lost: ${reason}\n`);
    this.#sessions.forget({ workerId, runId: row.run_id });
    // Otherwise the coordinator that started it stops it: its health check finds a machine whose worker is not live.
    if (row.machine && await core.mayStop(row.owner)) await this.#machines.stop(workerId, row.provider, JSON.parse(row.machine) as MachineHandle);
    this.#machines.poke(poolOf(spec, row.activity));
    this.#machines.freed(row.provider);
  }

  /**
   * An agent's process ended. One that was told to stop and exited cleanly has stopped
   * (it may have been refused at registration, with no credential to say so); any other
   * that had not said goodbye is lost.
   */
  async machineExited(workerId: string, description: string, clean: boolean): Promise<void> {
    const core = this.#core;
    if (core.closed) return;
    const row = await workerRow(core.store.db, workerId);
    if (!row) return;
    if (clean && row.state === 'draining') {
      await core.mutate((trx, changes) => workerGone(trx, core.specOf(trx), workerId, { cause: 'told', reason: `not needed any more; ${description}` }, changes));
      this.#sessions.forget({ workerId, runId: row.run_id });
      this.#machines.freed(row.provider);
      // Its place in the pool is free: work queued meanwhile (a rerun, say) may start a worker now.
      if (row.pool_id) this.#machines.poke(row.pool_id);
      return;
    }
    await this.loseWorker(workerId, description);
  }
}
