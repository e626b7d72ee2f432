import { mayStopMachine } from '../engine/machine-owner.ts';
import { retryDelayMs } from '../engine/retry.ts';
import type { Pipeline } from '../pipeline/types.ts';
import type { MachineHandle, StopOptions } from '../providers/provider.ts';
import { dismissedWorkersOf, workerRow, workerRows, storeId } from '../store/worker-rows.ts';
import { plainHttpRefusal, type CoordinatorUrls } from '../api/worker-url.ts';
import type { CoordinatorCore } from './core.ts';
import { provisionPool, type ProviderHold, type WorkerToStart } from './ops/provision.ts';
import { recordMachine, recordStartFailed } from './ops/record-start.ts';
import type { RunSpec } from './run-specs.ts';

/** Workers in a row whose init failed before their activity gives up. */
const initFailuresToGiveUp = 3;
/** Long enough for a provider's whole retry policy (2.5 minutes) several times over. */
const defaultStartGiveUpMs = 15 * 60_000;

/**
 * The coordinator's machines: the provisioner that starts workers for pools with work (the
 * decision is provisionPool's, from the store), the starts and their retries, the stops,
 * the names pushed to providers that show them, and the reconciling of what providers run
 * with what the store counts as live.
 */
export class Machines {
  readonly #core: CoordinatorCore;
  readonly #provisionQueue = new Set<string>();
  /** Each pool's one look-again: the latest provisioning's answer replaces the one before, so waits never pile up. */
  readonly #lookAgain = new Map<string, () => void>();
  #provisioning = false;
  /** Provider start calls in flight (not those waiting to be retried). */
  #startCalls = 0;
  /** Workers whose provider start is in flight or waiting to be retried. */
  readonly #starting = new Set<string>();
  /** Machines being stopped now, so a health check does not stop one twice; close() waits for them. */
  readonly #stopping = new Map<string, Promise<void>>();
  /** Names waiting to be pushed to providers that show them, and the pushes in flight, by worker. */
  readonly #names = new Map<string, string>();
  readonly #naming = new Map<string, Promise<void>>();
  /** Pools whose starts a provider's fleet-wide cap holds back, with the provider: poked when a worker on it goes, said once in the pool's log. */
  readonly #held = new Map<string, string>();
  #urls: CoordinatorUrls = { local: '', remote: '' };
  /** The store's id, read once: it never changes. */
  #storeId: string | undefined;

  constructor(core: CoordinatorCore) {
    this.#core = core;
    core.onCommit((changes) => {
      for (const pool of changes.queued.keys()) this.poke(pool);
      for (const [pool, at] of changes.delayed) core.later(at - changes.now, () => this.poke(pool));
    });
  }

  /** Where agents reach this coordinator, known once it listens. */
  get urls(): CoordinatorUrls {
    return this.#urls;
  }

  set urls(urls: CoordinatorUrls) {
    this.#urls = urls;
  }

  /** Whether a machine given `url` reaches this coordinator. */
  serves(url: string): boolean {
    return url !== '' && (url === this.#urls.local || url === this.#urls.remote);
  }

  /** Whether provisioning or a provider start is in flight. */
  get busy(): boolean {
    return this.#provisioning || this.#startCalls > 0;
  }

  /** Whether this process is starting the worker's machine, or will retry its start. */
  starting(workerId: string): boolean {
    return this.#starting.has(workerId);
  }

  /** Waits for the stops and name pushes in flight. */
  async close(): Promise<void> {
    await Promise.all([...this.#stopping.values(), ...[...this.#naming.values()].map((p) => p.catch(() => undefined))]);
  }

  /** Provisioning requests are coalesced per pool and handled one at a time. */
  poke(pool: string): void {
    this.#provisionQueue.add(pool);
    if (this.#provisioning || this.#core.closed) return;
    this.#provisioning = true;
    setImmediate(() => void this.#provisionLoop());
  }

  /** A worker on `provider` went: pools its fleet-wide cap held back may start one now. */
  freed(provider: string): void {
    for (const [pool, on] of this.#held) if (on === provider) this.poke(pool);
  }

  async #provisionLoop(): Promise<void> {
    const core = this.#core;
    try {
      while (this.#provisionQueue.size > 0 && !core.closed) {
        const pool = this.#provisionQueue.values().next().value as string;
        this.#provisionQueue.delete(pool);
        const limits = { initFailures: initFailuresToGiveUp, startFailingMs: core.settings.startGiveUpMs ?? defaultStartGiveUpMs };
        // Workers on the coordinator's own machine compete with it and each other for its CPUs: they ramp up.
        const rampUp = (provider: string) => core.providers.get(provider)?.onThisMachine === true;
        const operator = core.activities.operatorPool(pool);
        const hourlyUsd = (provider: string, instance?: Record<string, unknown>) => core.providers.get(provider)?.hourlyUsd(instance);
        const { starts, lookAgainInMs, held } = await core.mutate((trx, changes) => provisionPool(trx, pool, core.specOf(trx), limits, changes, {
          rampUp, providerCaps: core.settings.providerCaps, owner: core.id, hourlyUsd, ...(operator && { operator }),
        }));
        this.#lookAgain.get(pool)?.();
        this.#lookAgain.delete(pool);
        if (lookAgainInMs !== undefined) {
          this.#lookAgain.set(pool, core.later(lookAgainInMs, () => {
            this.#lookAgain.delete(pool);
            this.poke(pool);
          }));
        }
        this.#noteHold(pool, held);
        for (const start of starts) {
          this.#starting.add(start.workerId);
          const spec = await core.specs.get(core.store.db, start.runId);
          core.background('starting a machine', this.#startMachine(spec, start, 1));
        }
      }
    } catch (error) {
      core.reportFault('provisioning', error);
    } finally {
      this.#provisioning = false;
    }
  }

  /**
   * Says once in the pool's log that the provider's fleet-wide cap holds its starts back,
   * and once when it no longer does; the pool is poked again when a worker on that
   * provider goes (see freed), and by the health check.
   */
  #noteHold(pool: string, held: ProviderHold | undefined): void {
    const { logs } = this.#core;
    const was = this.#held.has(pool);
    if (held && !was) {
      this.#held.set(pool, held.provider);
      logs.append(logs.poolPath(pool), `${this.#core.stamp()} held: the ${held.provider} provider's max_workers (${held.cap}) are all live (${held.live} workers of every pool); activity ${held.activity} of run ${held.runId} waits for one to stop\n`);
    } else if (!held && was) {
      const provider = this.#held.get(pool);
      this.#held.delete(pool);
      logs.append(logs.poolPath(pool), `${this.#core.stamp()} no longer held by the ${provider} provider's max_workers\n`);
    }
  }

  async #startMachine(spec: RunSpec, start: WorkerToStart, attempt: number): Promise<void> {
    this.#startCalls += 1;
    try {
      await this.#tryStart(spec, start, attempt);
    } finally {
      this.#startCalls -= 1;
    }
  }

  async #tryStart(spec: RunSpec, start: WorkerToStart, attempt: number): Promise<void> {
    const core = this.#core;
    const activity = core.activities.activityOf(spec, start.activity);
    const providerName = activity.provider;
    const provider = core.providers.get(providerName);
    let machine: MachineHandle;
    let serverUrl = '';
    try {
      if (!provider) throw new Error(`provider '${providerName}' is not available here`);
      // Its loopback for a machine on this one.
      serverUrl = provider.onThisMachine ? this.#urls.local : this.#urls.remote;
      machine = await provider.start({
        owner: await this.#owner(),
        workerId: start.workerId, runId: spec.id, activity: start.activity, serverUrl,
        serverTrust: this.#urls.trust, allowPlainHttp: this.#urls.plainHttpWorkers,
        registrationToken: start.registrationToken, agentLogPath: core.logs.agentPath(spec.id, start.workerId),
        instance: activity.instance,
        prepare: core.activities.preparation(spec, start.activity),
      });
    } catch (error) {
      const message = (error as Error).message;
      const policy = core.settings.providerRetry;
      if (provider && attempt < policy.attempts && !core.closed) {
        const delayMs = retryDelayMs(policy, attempt + 1);
        core.logs.append(core.logs.workerPath(spec.id, start.workerId), `${core.stamp()} start ${attempt} of ${policy.attempts} failed: ${message}; retrying in ${Math.round(delayMs / 1000)}s\n`);
        core.later(delayMs, () => core.background('starting a machine', this.#startMachine(spec, start, attempt + 1)));
        return;
      }
      this.#starting.delete(start.workerId);
      if (core.closed) return;
      await core.mutate((trx, changes) => recordStartFailed(trx, spec.id, start.workerId, attempt, message, changes))
        .catch((failure) => core.reportFault('recording a failed start', failure));
      this.freed(providerName);
      // No new worker at once: the next health check tries again, which paces a provider
      // that refuses every start instead of spinning on it.
      return;
    }
    this.#starting.delete(start.workerId);
    // Given up on while it was starting (lost, run over): a machine nobody wants is stopped at once.
    if (!await recordMachine(core.store.db, start.workerId, machine, { owner: core.id, serverUrl }, core.clock.now())) void this.stop(start.workerId, providerName, machine);
  }

  /** Stops a worker's machine, if its start was recorded and this process may stop it. */
  async stopOf(workerId: string, options: StopOptions = {}): Promise<void> {
    const row = await workerRow(this.#core.store.db, workerId);
    if (row?.machine && await this.#core.mayStop(row.owner)) await this.stop(workerId, row.provider, JSON.parse(row.machine) as MachineHandle, options);
  }

  /**
   * Waits for the agents on this machine that have nothing left to do to exit (each gets the
   * provider's grace, then is killed): a coordinator that stops leaves none of them behind.
   * Those elsewhere exit by themselves, and the next coordinator's health check sees them go;
   * workers with a task in hand go on, and find the next coordinator.
   */
  async stopDismissedHere(): Promise<void> {
    const core = this.#core;
    const here = (await dismissedWorkersOf(core.store.db, core.id)).filter((w) => w.machine !== null && core.providers.get(w.provider)?.onThisMachine === true);
    await Promise.all(here.map((w) => this.stop(w.id, w.provider, JSON.parse(w.machine!) as MachineHandle, { drained: true })));
  }

  stop(workerId: string, providerName: string, machine: MachineHandle, options: StopOptions = {}): Promise<void> {
    const inFlight = this.#stopping.get(workerId);
    if (inFlight) return inFlight;
    // A coordinator shutting down starts no stop it could not wait for; the next one's health check stops that machine.
    if (this.#core.closed) return Promise.resolve();
    const stopping = (async () => {
      try {
        await this.#core.providers.get(providerName)?.stop(machine, options);
      } catch (error) {
        this.#core.reportFault(`stopping the ${providerName} machine of ${workerId}`, error);
      } finally {
        this.#stopping.delete(workerId);
      }
    })();
    this.#stopping.set(workerId, stopping);
    return stopping;
  }

  /** Whether the provider says the machine no longer exists (not merely that it cannot tell). */
  async gone(providerName: string, machine: MachineHandle): Promise<boolean> {
    const provider = this.#core.providers.get(providerName);
    if (!provider) return false;
    try {
      return await provider.status(machine) === 'gone';
    } catch (error) {
      this.#core.reportFault(`asking ${providerName} about a machine`, error);
      return false;
    }
  }

  /** Stops every machine a provider has whose worker the store does not count as live. */
  async reconcile(): Promise<void> {
    const core = this.#core;
    for (const provider of core.providers.values()) {
      const machines = await provider.inventory(await this.#owner());
      if (machines.length === 0) continue;
      const workers = new Map((await workerRows(core.store.db, machines.map((m) => m.workerId))).map((r) => [r.id, r]));
      const alive = (await core.liveCoordinators()).ids;
      for (const { workerId, machine } of machines) {
        const worker = workers.get(workerId);
        if (core.settings.ownRunsOnly && !(worker && core.own.has(worker.run_id))) continue;
        if (worker && !mayStopMachine(worker.owner, core.id, alive)) continue;
        const state = worker?.state;
        if (state === 'starting' || state === 'idle' || state === 'busy' || state === 'draining' || this.#starting.has(workerId) || this.#stopping.has(workerId)) continue;
        core.reportFault('reconciling machines', new Error(`${provider.name} machine of worker ${workerId} is running but the worker is ${state ?? 'unknown to the store'}; stopping it`));
        void this.stop(workerId, provider.name, machine, { drained: state === 'stopped' });
      }
    }
  }

  /**
   * Shows a worker's new name on its machine, for providers that can. Names change with
   * every task, so pushes are coalesced: one in flight per worker, and only the latest
   * name waiting behind it. Nothing is pushed for providers that show no names.
   */
  pushName(worker: { workerId: string; runId: string; activity: string }, name: string): void {
    const core = this.#core;
    const spec = core.specs.cached(worker.runId);
    const provider = spec && spec.pipeline.activities[worker.activity] && core.providers.get(core.activities.activityOf(spec, worker.activity).provider);
    if (!provider?.showsNames) return;
    this.#names.set(worker.workerId, name);
    if (this.#naming.has(worker.workerId) || core.closed) return;
    const pushing = (async () => {
      try {
        for (let latest = this.#names.get(worker.workerId); latest !== undefined; latest = this.#names.get(worker.workerId)) {
          this.#names.delete(worker.workerId);
          const row = await workerRow(core.store.db, worker.workerId);
          if (row?.machine) await provider.rename(JSON.parse(row.machine) as MachineHandle, latest);
        }
      } finally {
        this.#naming.delete(worker.workerId);
      }
    })();
    this.#naming.set(worker.workerId, pushing);
    core.background('naming a machine', pushing);
  }

  /** Why a provider's machines could not reach this coordinator, found before any is started. */
  unreachable(pipeline: Pipeline): string | undefined {
    if (!this.#urls.remote) return undefined;
    for (const activity of Object.values(pipeline.activities)) {
      const provider = this.#core.providers.get(activity.provider);
      const why = provider && !provider.onThisMachine ? provider.unreachableFrom(this.#urls.remote) ?? plainHttpRefusal(this.#urls) : undefined;
      if (why) return `activity ${activity.name}: ${why}`;
    }
    return undefined;
  }

  /** The store's id, which marks the machines this coordinator (or another on its store) started. */
  async #owner(): Promise<string> {
    this.#storeId ??= await storeId(this.#core.store.db);
    return this.#storeId;
  }
}
