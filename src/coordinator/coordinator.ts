import { join } from 'node:path';
import { defaultArchiveLimits, type ArchiveLimits } from '../archive/check.ts';
import type { Clock } from '../engine/clock.ts';
import { finishedStatus } from '../engine/events.ts';
import { heartbeatIntervalMs, isSilent } from '../engine/liveness.ts';
import { mayStopMachine } from '../engine/machine-owner.ts';
import { FLEET_SCOPE, fleetPoolName, operatorPoolId, operatorPoolName, poolIdentity } from '../engine/pool-identity.ts';
import { retryDelayMs, type providerRetry } from '../engine/retry.ts';
import type { RunStatus } from '../engine/report.ts';
import type { WorkerStop } from '../engine/worker-stop.ts';
import { activityFromPool, CONTROL_ACTIVITY } from '../pipeline/assemble.ts';
import type { Activity, OperatorPool, Pipeline, PipelineRules, Script, Selection, TaskSpec } from '../pipeline/types.ts';
import type { AttemptOrder, WorkerScript, WorkerSettings } from '../protocol/worker.ts';
import { missingProvider } from '../providers/configured.ts';
import { priceOf, type MachineHandle, type ProviderLifecycle, type StopOptions } from '../providers/provider.ts';
import { GroupCommit } from '../store/group-commit.ts';
import type { Store } from '../store/store.ts';
import { hashSecret, newId } from '../util/ids.ts';
import { hostname } from 'node:os';
import { isAlive } from '../agent/process-tree.ts';
import { Changes } from './changes.ts';
import { EventBus } from './event-bus.ts';
import { LogFiles } from './log-files.ts';
import { cancelRun } from './ops/cancel-run.ts';
import { claim, fakeScript, type SpecOf } from './ops/claim.ts';
import { createRun } from './ops/create-run.ts';
import type { AttemptResult } from './ops/end-attempt.ts';
import { finishAttempt, type FinishResult } from './ops/finish-attempt.ts';
import { provisionPool, type ProviderHold, type WorkerToStart } from './ops/provision.ts';
import { joinStore, leaveStore, liveCoordinators, renewLease } from './ops/coordinator-lease.ts';
import { hasAttemptOf } from './ops/attempt-in-hand.ts';
import { recordHeartbeat, recordWorkerSeen } from './ops/heartbeat.ts';
import { registerJoiningWorker, registerStartedWorker, type Registration } from './ops/register-worker.ts';
import { rerun, type RerunResult } from './ops/rerun.ts';
import { loseAttempt } from './ops/lose-attempt.ts';
import { drainWorker } from './ops/drain-worker.ts';
import { workerGone } from './ops/worker-gone.ts';
import { PoolSignals, poolOf } from './pool-signals.ts';
import type { RunOptions } from './run-options.ts';
import { preparationOf, preparationOfActivity, scriptText } from './preparation.ts';
import { retireIdle } from './ops/retire-idle.ts';
import { RunSpecs, type RunSpec } from './run-specs.ts';
import { StoreWatch } from './store-watch.ts';
import type { CoordinatorUrls } from '../api/worker-url.ts';
import { archivePath, packSource } from './source-archive.ts';
import { claimableTask } from '../store/claimable.ts';
import { workerByCredential } from '../store/worker-credentials.ts';

export interface CoordinatorSettings {
  stateDir: string;
  /** A worker not heard from for this long is lost. */
  heartbeatTimeoutMs: number;
  /** How often the health check runs. */
  healthIntervalMs: number;
  /** A started worker that has not registered by then is lost. */
  startTimeoutMs: number;
  /** An activity whose workers cannot come up for this long fails its queued tasks (default 15 minutes). */
  startGiveUpMs?: number;
  providerRetry: typeof providerRetry;
  /**
   * Look after the runs this coordinator started only. `slipway run` shares its store with
   * a server on the same machine, whose runs and workers are that server's to heal.
   */
  ownRunsOnly?: boolean;
  /** What one attempt's or worker's log keeps, in bytes (default 64 MiB). */
  maxLogBytes?: number;
  /** What one source archive may unpack to, here and on its workers (default: defaultArchiveLimits). */
  archiveLimits?: ArchiveLimits;
  /** The operator's pools (`[pools.NAME]`), which a pipeline's activity names with `pool: NAME`. */
  pools?: Readonly<Record<string, OperatorPool>>;
  /** `[providers.X] max_workers`: never more live workers on provider X, in every pool together. */
  providerCaps?: Partial<Record<string, number>>;
  /** `[server] pipelines_may_define_pools`; false: every activity of a run must name an operator's pool. */
  pipelinesMayDefinePools?: boolean;
}

/** Workers in a row whose init failed before their activity gives up. */
const initFailuresToGiveUp = 3;
/** Long enough for a provider's whole retry policy (2.5 minutes) several times over. */
const defaultStartGiveUpMs = 15 * 60_000;

export interface WorkerIdentity {
  workerId: string;
  runId: string;
  activity: string;
}

export type ClaimAnswer = { kind: 'attempt'; attempt: AttemptOrder; workerName: string } | { kind: 'none' } | { kind: 'stop'; reason: string };

/**
 * The coordinator: every state change goes through the store in one transaction, then the
 * wake-ups it implies (waiting claims, provisioning, cancel signals) happen after commit.
 */
/** How long a coordinator whose lease ran out stays on the store's list before the next one to leave removes it. */
const forgetCoordinatorsAfterMs = 24 * 3600_000;

export class Coordinator {
  readonly events = new EventBus();
  readonly logs: LogFiles;
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #settings: CoordinatorSettings;
  readonly #providers: Map<string, ProviderLifecycle>;
  readonly #signals = new PoolSignals();
  readonly #specs = new RunSpecs();
  readonly #lastSeen = new Map<string, number>();
  /** When this process last wrote a worker's last-seen time to the store. */
  readonly #seenStored = new Map<string, number>();
  readonly #cancelled = new Set<string>();
  readonly #attemptSignals = new Map<string, () => void>();
  readonly #attemptLogs = new Map<string, { runId: string; workerId: string; path: string }>();
  readonly #provisionQueue = new Set<string>();
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #writes: GroupCommit;
  readonly #watch: StoreWatch;
  readonly #faultListeners: ((message: string) => void)[] = [];
  /** Workers whose provider start is in flight or waiting to be retried. */
  readonly #starting = new Set<string>();
  /** Machines being stopped now, so a health check does not stop one twice; close() waits for them. */
  readonly #stopping = new Map<string, Promise<void>>();
  /**
   * Nothing said before this process started was heard: a worker's silence is counted
   * from here at the earliest, so a restarted coordinator gives its agents time to reconnect.
   */
  readonly #startedAt: number;
  /** Names waiting to be pushed to providers that show them, and the pushes in flight, by worker. */
  readonly #names = new Map<string, string>();
  readonly #naming = new Map<string, Promise<void>>();
  /** Runs created or rerun here, for a coordinator that looks after only those. */
  readonly #own = new Set<string>();
  /** Workers told (in their log) that they are kept warm past their idle_timeout, until they next take a task. */
  readonly #keptWarm = new Set<string>();
  /** Pools whose starts a provider's fleet-wide cap holds back, by pool, with the provider: poked when a worker on it goes, said once in the pool's log. */
  readonly #held = new Map<string, string>();
  #provisioning = false;
  /** Provider start calls in flight (not those waiting to be retried). */
  #startCalls = 0;
  #health: NodeJS.Timeout | undefined;
  #liveness: NodeJS.Timeout | undefined;
  #urls: CoordinatorUrls = { local: '', remote: '' };
  #closed = false;
  /** The store's id, read once: it never changes. */
  #ownerId: string | undefined;
  /** This process's id on the store: the owner of the machines it starts. */
  readonly #id = newId('c');
  #lease: NodeJS.Timeout | undefined;

  constructor(store: Store, clock: Clock, settings: CoordinatorSettings, providers: ProviderLifecycle[]) {
    this.#store = store;
    this.#clock = clock;
    this.#settings = settings;
    this.#startedAt = clock.now();
    this.logs = new LogFiles(join(settings.stateDir, 'logs'), settings.maxLogBytes);
    this.#writes = new GroupCommit(store.transaction);
    this.#watch = new StoreWatch(store.db, this.events);
    this.#providers = new Map(providers.map((p) => [p.name, p]));
    for (const provider of providers) {
      provider.onExit((workerId, description, clean) => this.#background('noting a machine that exited', this.#machineExited(workerId, description, clean)));
    }
  }

  get archivesDir(): string {
    return join(this.#settings.stateDir, 'sources');
  }

  get archiveLimits(): ArchiveLimits {
    return this.#settings.archiveLimits ?? defaultArchiveLimits;
  }

  /** What a pipeline run here is checked against: the operator's pools, and whether it may define its own. */
  get pipelineRules(): PipelineRules {
    return { pools: this.#settings.pools ?? {}, mayDefinePools: this.#settings.pipelinesMayDefinePools ?? true };
  }

  get heartbeatIntervalMs(): number {
    return heartbeatIntervalMs(this.#settings.heartbeatTimeoutMs);
  }

  /** Starts the health check; `urls` are where agents reach this coordinator. */
  start(urls: CoordinatorUrls): void {
    this.#urls = urls;
    this.#background('joining the store', this.#joinStore());
    this.#health = setInterval(() => this.#background('health check', this.healthCheck()), this.#settings.healthIntervalMs);
    this.#health.unref();
    // Silence is looked for more often than the full health check runs, so a dead worker
    // is found within about one heartbeat timeout even when the health check is minutes apart.
    this.#liveness = setInterval(() => this.#background('liveness check', this.checkLiveness()), this.heartbeatIntervalMs);
    this.#liveness.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#health);
    clearInterval(this.#liveness);
    clearInterval(this.#lease);
    for (const timer of this.#timers) clearTimeout(timer);
    await this.settled();
    await this.#watch.close();
    await Promise.all([...this.#stopping.values(), ...[...this.#naming.values()].map((p) => p.catch(() => undefined))]);
    await this.logs.closeAll();
    // Its machines are stopped or left to the next coordinator: none waits for its lease to run out.
    await leaveStore(this.#store.db, this.#id, this.#clock.now(), forgetCoordinatorsAfterMs).catch(() => undefined);
  }

  /**
   * Takes a place on the store with a lease renewed every heartbeat interval; it runs out
   * one heartbeat timeout after the last renewal, when this process is taken for gone.
   */
  async #joinStore(): Promise<void> {
    const leaseMs = this.#settings.heartbeatTimeoutMs;
    await joinStore(this.#store.db, this.#id, process.pid, hostname(), this.#clock.now(), leaseMs);
    this.#lease = setInterval(() => this.#background('renewing the lease', renewLease(this.#store.db, this.#id, this.#clock.now(), leaseMs)), this.heartbeatIntervalMs);
    this.#lease.unref();
  }

  /** Specs read within a transaction (cached: immutable once written). */
  #specOf(trx: Store['db']): SpecOf {
    return (runId) => this.#specs.get(trx, runId);
  }

  /**
   * The pool of each activity of a new run, by identity (see poolIdentity): runs of the same
   * pipeline share their workers. A command's coordinator (`slipway run`) scopes its pools to
   * itself, as its workers end with it; --fake-workers runs never share with real ones.
   */
  #poolsOf(pipeline: Pipeline, options: RunOptions): Record<string, string> {
    const scope = [this.#settings.ownRunsOnly ? this.#id : 'fleet', options.fakeWorkers ? 'fake' : 'real'].join('/');
    const text = (script: Script | undefined) => script && scriptText(script, pipeline.sourceDir);
    // An activity that names an operator's pool is in that pool, whatever the pipeline.
    return Object.fromEntries(Object.values(pipeline.activities).map((activity) => [activity.name, activity.pool !== undefined
      ? operatorPoolId(activity.pool, scope)
      : poolIdentity({
        activity: activity.name, provider: activity.provider, instance: activity.instance, scope,
        prepare: text(activity.prepare), init: text(activity.init), cleanup: text(activity.cleanup),
      })]));
  }

  /** The operator's pool a run's activity names, as the config defines it now (undefined: the activity defines its own machines). */
  #operatorOf(spec: RunSpec, activityName: string): OperatorPool | undefined {
    const name = spec.pipeline.activities[activityName]?.pool;
    return name === undefined ? undefined : this.#settings.pools?.[name];
  }

  /**
   * A run's activity as its workers are started now: an operator's pool as the config
   * defines it (a server restarted with a changed pool starts its new workers the new
   * way), any other as the run's pipeline did.
   */
  #activityOf(spec: RunSpec, activityName: string): Activity {
    const activity = spec.pipeline.activities[activityName]!;
    const operator = this.#operatorOf(spec, activityName);
    return operator ? activityFromPool(activityName, activity.pool!, operator) : activity;
  }

  #preparation(spec: RunSpec, activityName: string) {
    return this.#operatorOf(spec, activityName)
      ? preparationOfActivity(this.#activityOf(spec, activityName), spec.pipeline.sourceDir)
      : preparationOf(spec, activityName);
  }

  /**
   * The operator's pool a pool id is, for provisioning. Only the fleet's own (a server's
   * runs with real workers) keeps workers warm: a `slipway run` ends with its run.
   */
  #operatorPool(poolId: string): OperatorPool | undefined {
    const name = operatorPoolName(poolId);
    const pool = name === undefined ? undefined : this.#settings.pools?.[name];
    if (!pool) return undefined;
    return fleetPoolName(poolId) === undefined ? { ...pool, minIdle: 0 } : pool;
  }

  /** The coordinator processes on the store taken to be alive (see liveCoordinators). */
  #liveCoordinators(): Promise<Set<string>> {
    return liveCoordinators(this.#store.db, this.#clock.now(), { host: hostname(), running: isAlive });
  }

  /** Whether this process may stop a machine `owner` started (see mayStopMachine). */
  async #mayStop(owner: string | null): Promise<boolean> {
    if (owner === null || owner === this.#id) return true;
    return mayStopMachine(owner, this.#id, await this.#liveCoordinators());
  }

  // ---- runs ------------------------------------------------------------------------

  /** A new run; its source tree is packed from the pipeline's directory unless it came as an archive. */
  async createRun(pipeline: Pipeline, tasks: TaskSpec[], selection: Selection, options: RunOptions, sourceDigest?: string): Promise<{ runId: string; joinToken: string }> {
    if (this.#settings.pipelinesMayDefinePools === false) {
      const own = Object.values(pipeline.activities).find((a) => a.pool === undefined && a.name !== CONTROL_ACTIVITY.name);
      if (own) throw new RunRefused(`activity ${own.name} defines its own machines, which this server does not allow: name one of the operator's pools instead (pool: NAME)`);
    }
    if (!options.fakeWorkers && !options.noProvision) {
      const refusal = missingProvider(pipeline, [...this.#providers.keys()]) ?? this.#unreachable(pipeline);
      if (refusal) throw new RunRefused(refusal);
    }
    const digest = sourceDigest ?? await packSource(pipeline.sourceDir, this.archivesDir);
    const pools = this.#poolsOf(pipeline, options);
    const created = await this.#mutate((trx, changes) => createRun(trx, pipeline, tasks, selection, options, digest, pools, changes));
    this.#own.add(created.spec.id);
    this.#specs.remember(created.spec);
    for (const pool of new Set(Object.values(pools))) this.#poke(pool);
    return { runId: created.spec.id, joinToken: created.joinToken };
  }

  /** Runs a finished run's failed, blocked and cancelled tasks again. */
  async rerun(runId: string): Promise<RerunResult> {
    const spec = await this.#specs.get(this.#store.db, runId);
    this.#own.add(runId);
    const result = await this.#mutate((trx, changes) => rerun(trx, spec, changes));
    if (result.kind === 'rerun') for (const pool of new Set(Object.values(spec.pools))) this.#poke(pool);
    return result;
  }

  async cancelRun(runId: string, reason: string): Promise<boolean> {
    return this.#mutate((trx, changes) => cancelRun(trx, runId, reason, changes));
  }

  /** Resolves with the run's final status, whichever coordinator process on the store ends it. */
  async waitForRun(runId: string): Promise<RunStatus> {
    let ended: (status: RunStatus) => void = () => undefined;
    const finished = new Promise<RunStatus>((resolve) => { ended = resolve; });
    // Listening starts before the status is read, so a run ending in between is not missed.
    const unsubscribe = this.events.subscribe((event) => {
      if (event.run === runId && event.kind === 'run.finished') ended(finishedStatus(event));
    });
    const unfollow = await this.follow(runId);
    try {
      const row = await this.#store.db.selectFrom('runs').select('status').where('id', '=', runId).executeTakeFirstOrThrow();
      return row.status === 'running' ? await finished : row.status;
    } finally {
      unsubscribe();
      unfollow();
    }
  }

  /**
   * Publishes on `events` what any process on the store commits for the run from now on,
   * not only what this one does; the function it gives stops following.
   */
  follow(runId: string): Promise<() => void> {
    return this.#watch.follow(runId);
  }

  /** Resolves once no provisioning, provider start or store write is in flight: for tests and the simulator. */
  async settled(): Promise<void> {
    while (this.#provisioning || this.#writes.pending || this.#startCalls > 0) await new Promise((resolve) => setImmediate(resolve));
  }

  /** Live workers of a run: those whose machine may still be running. */
  async liveWorkers(runId: string): Promise<{ id: string; state: string; machine: string | null; provider: string }[]> {
    return this.#store.db.selectFrom('workers').select(['id', 'state', 'machine', 'provider'])
      .where('run_id', '=', runId).where('state', 'in', ['starting', 'idle', 'busy', 'draining']).execute();
  }

  /** Waits for a finished run's workers to stop by themselves; stops what remains after the grace. */
  async waitForWorkers(runId: string, graceMs: number): Promise<void> {
    const deadline = this.#clock.now() + graceMs;
    while ((await this.liveWorkers(runId)).length > 0 && this.#clock.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const worker of await this.liveWorkers(runId)) {
      await this.loseWorker(worker.id, `still running ${Math.round(graceMs / 1000)}s after the run ended; stopped`);
    }
  }

  // ---- worker protocol ---------------------------------------------------------------

  async register(token: string, join?: { activity: string }): Promise<Exclude<Registration, { kind: 'registered' }> | (Extract<Registration, { kind: 'registered' }> & { settings: WorkerSettings })> {
    const registration = await this.#mutate((trx, changes) => join
      ? registerJoiningWorker(trx, token, join.activity, async (runId) => Object.keys((await this.#specs.get(trx, runId)).pipeline.activities), this.#settings.heartbeatTimeoutMs, changes)
      : registerStartedWorker(trx, token, this.#settings.heartbeatTimeoutMs, changes));
    if (registration.kind !== 'registered') return registration;
    const identity = { workerId: registration.workerId, runId: registration.runId, activity: registration.activity };
    this.#lastSeen.set(registration.workerId, this.#clock.now());
    this.#seenStored.set(registration.workerId, this.#clock.now());
    const spec = await this.#specs.get(this.#store.db, registration.runId);
    this.logs.append(this.#workerLogPath(identity), `${this.#stamp()} registered as ${registration.name} (${registration.workerId}) for activity ${registration.activity}\n`);
    // One more worker up lets a ramping pool start more (see workersToStart).
    this.#poke(poolOf(spec, registration.activity));
    return { ...registration, settings: this.#workerSettings(spec, registration.activity, registration.workerId) };
  }

  /**
   * Finds the worker a credential belongs to; undefined for anything else, or once it ended
   * (its worker stopped or was lost, its run finished). Asked of the store on every call,
   * never of memory: another coordinator process on the store may have ended it. One
   * indexed read.
   */
  async authenticate(credential: string): Promise<WorkerIdentity | undefined> {
    const row = await workerByCredential.first(this.#store.db, { hash: hashSecret(credential) });
    return row && { workerId: row.id, runId: row.run_id, activity: row.activity };
  }

  /**
   * Long poll: answers with an attempt as soon as one is claimable, or none after `waitMs`.
   * A worker past its idle_timeout (`idle`, for pools that keep workers warm) is told to stop
   * when no attempt is ready for it, unless the pool would be left with fewer idle workers
   * than its min_idle (see mayStopIdle); then it waits as any other.
   */
  async claim(worker: WorkerIdentity, waitMs: number, signal?: AbortSignal, idle = false): Promise<ClaimAnswer> {
    const spec = await this.#specs.get(this.#store.db, worker.runId);
    const pool = poolOf(spec, worker.activity);
    const deadline = this.#clock.now() + Math.min(waitMs, this.heartbeatIntervalMs);
    for (let first = true; ; first = false) {
      await this.#heard(worker.workerId);
      const seen = this.#signals.version(pool);
      const answer = await this.#mutate((trx, changes) => claim(trx, this.#specOf(trx), worker.workerId, changes));
      if (answer.kind === 'attempt') return this.#handedOut(worker, answer);
      if (idle && first && answer.kind === 'none') {
        const minIdle = this.#operatorOf(spec, worker.activity)?.minIdle ?? 0;
        if (await this.#mutate((trx) => retireIdle(trx, worker.workerId, minIdle))) {
          const reason = `idle for its idle_timeout, and ${minIdle === 0 ? 'its pool keeps none warm' : `its pool keeps ${minIdle} idle without it`}`;
          this.logs.append(this.#workerLogPath(worker), `${this.#stamp()} told to stop: ${reason}\n`);
          return { kind: 'stop', reason };
        }
        if (!this.#keptWarm.has(worker.workerId)) {
          this.#keptWarm.add(worker.workerId);
          this.logs.append(this.#workerLogPath(worker), `${this.#stamp()} idle for its idle_timeout; kept warm: its pool keeps ${minIdle} idle\n`);
        }
      }
      const remaining = deadline - this.#clock.now();
      if (answer.kind === 'stop' || remaining <= 0 || signal?.aborted) return answer;
      await this.#signals.wait(pool, remaining, seen, signal);
    }
  }

  /**
   * Held up to `holdMs` unless the attempt is cancelled meanwhile, here or by another
   * coordinator process on the store (whose cancel arrives through the store watch).
   */
  async heartbeat(worker: WorkerIdentity, attemptId: string, holdMs: number, signal?: AbortSignal): Promise<'ok' | 'cancel' | 'unknown'> {
    await this.#heard(worker.workerId);
    const attempt = await recordHeartbeat(this.#store.db, worker.workerId, attemptId, this.#clock.now());
    if (!attempt) return 'unknown';
    if (attempt.cancelled) this.#cancelled.add(attemptId);
    if (this.#cancelled.has(attemptId)) return 'cancel';
    const hold = Math.min(holdMs, this.heartbeatIntervalMs);
    if (hold > 0) {
      // The attempt's run, which may be any run of the worker's pool.
      const unfollow = await this.follow(attempt.run);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          unsubscribe();
          this.#attemptSignals.delete(attemptId);
          resolve();
        };
        const timer = setTimeout(done, hold);
        const unsubscribe = this.events.subscribe((event) => {
          if (event.run !== attempt.run || event.task !== attempt.task || event.kind !== 'task.cancelled') return;
          this.#cancelled.add(attemptId);
          done();
        });
        signal?.addEventListener('abort', done, { once: true });
        this.#attemptSignals.set(attemptId, done);
      });
      unfollow();
    }
    // The end of the hold says nothing of the worker (a frozen one's request is held too).
    return this.#cancelled.has(attemptId) ? 'cancel' : 'ok';
  }

  output(worker: WorkerIdentity, attemptId: string, text: string): boolean {
    const log = this.#attemptLogs.get(attemptId);
    if (!log || log.workerId !== worker.workerId) return false;
    this.#lastSeen.set(worker.workerId, this.#clock.now());
    this.logs.append(log.path, text);
    this.logs.append(this.#workerLogPath(worker), text);
    return true;
  }

  workerOutput(worker: WorkerIdentity, text: string): void {
    this.#lastSeen.set(worker.workerId, this.#clock.now());
    this.logs.append(this.#workerLogPath(worker), text);
  }

  /**
   * Records an attempt's end. With `claimNext`, the same transaction also hands the worker
   * its next attempt if one is ready: one request and one commit per task in steady state.
   */
  async finish(worker: WorkerIdentity, attemptId: string, result: AttemptResult, claimNext = false): Promise<{ finished: FinishResult; next: ClaimAnswer | null }> {
    // The attempt's end is written with the worker's last-seen time.
    this.#lastSeen.set(worker.workerId, this.#clock.now());
    this.#seenStored.set(worker.workerId, this.#clock.now());
    const { finished, next } = await this.#mutate(async (trx, changes) => {
      const finished = await finishAttempt(trx, this.#specOf(trx), worker.workerId, attemptId, result, changes);
      const next = claimNext && finished.kind === 'recorded' && !finished.stop ? await claim(trx, this.#specOf(trx), worker.workerId, changes) : null;
      return { finished, next };
    });
    if (finished.kind === 'recorded') {
      if (next?.kind !== 'attempt') this.#pushName(worker, finished.workerName);
      this.logs.append(this.#workerLogPath(worker), `${this.#stamp()} ${finished.workerName}: attempt ${attemptId} ${result.outcome}${result.error ? ` (${result.error})` : ''}\n`);
    }
    this.#endAttemptStream(attemptId);
    // A heartbeat held for this attempt has nothing more to wait for.
    this.#attemptSignals.get(attemptId)?.();
    return { finished, next: next?.kind === 'attempt' ? this.#handedOut(worker, next) : next };
  }

  /**
   * The agent ran its cleanup and is exiting: the acknowledgement of the drain handshake.
   * Only now is its machine stopped, so no task in flight is ever killed by a stop.
   */
  async stopped(worker: WorkerIdentity, stop: WorkerStop): Promise<void> {
    const spec = await this.#specs.get(this.#store.db, worker.runId);
    this.logs.append(this.#workerLogPath(worker), `${this.#stamp()} stopped: ${stop.reason}\n`);
    const gone = await this.#mutate((trx, changes) => workerGone(trx, this.#specOf(trx), worker.workerId, stop, changes));
    this.#forget(worker.workerId);
    this.#poke(poolOf(spec, worker.activity));
    this.#freed(this.#activityOf(spec, worker.activity).provider);
    if (gone) this.#background('stopping a drained machine', this.#stopMachineOf(worker.workerId, { drained: true }));
  }

  /**
   * Asks a worker to stop (scale-down, lifetime): it finishes the attempt in hand, takes no
   * other, and its machine is stopped once it has acknowledged by saying it stopped.
   */
  async drainWorker(workerId: string, reason: string): Promise<boolean> {
    const row = await this.#store.db.selectFrom('workers').select(['run_id', 'activity']).where('id', '=', workerId).executeTakeFirst();
    if (!row) return false;
    const drained = await this.#mutate((trx, changes) => drainWorker(trx, row.run_id, workerId, reason, changes));
    if (drained) this.logs.append(this.logs.workerPath(row.run_id, workerId), `${this.#stamp()} draining: ${reason}\n`);
    return drained;
  }

  /** Gives up on a worker: its attempt is retried elsewhere and its machine is stopped. */
  async loseWorker(workerId: string, reason: string): Promise<void> {
    if (this.#closed) return;
    const row = await this.#store.db.selectFrom('workers').select(['run_id', 'activity', 'machine', 'provider', 'owner'])
      .where('id', '=', workerId).executeTakeFirst();
    if (!row) return;
    const spec = await this.#specs.get(this.#store.db, row.run_id);
    const lost = await this.#mutate((trx, changes) => workerGone(trx, this.#specOf(trx), workerId, { cause: 'lost', reason }, changes));
    if (!lost) return;
    this.logs.append(this.logs.workerPath(row.run_id, workerId), `${this.#stamp()} lost: ${reason}\n`);
    this.#forget(workerId);
    if (row.machine && await this.#mayStop(row.owner)) await this.#stopMachine(workerId, row.provider, JSON.parse(row.machine) as MachineHandle);
    // Otherwise the coordinator that started it stops it: its health check finds a machine whose worker is not live.
    this.#poke(poolOf(spec, row.activity));
    this.#freed(row.provider);
  }

  /**
   * An agent's process ended. One that was told to stop and exited cleanly has stopped
   * (it may have been refused at registration, with no credential to say so); any other
   * that had not said goodbye is lost.
   */
  async #machineExited(workerId: string, description: string, clean: boolean): Promise<void> {
    if (this.#closed) return;
    const row = await this.#store.db.selectFrom('workers').select(['run_id', 'state', 'provider', 'pool_id']).where('id', '=', workerId).executeTakeFirst();
    if (!row) return;
    if (clean && row.state === 'draining') {
      await this.#mutate((trx, changes) => workerGone(trx, this.#specOf(trx), workerId, { cause: 'told', reason: `not needed any more; ${description}` }, changes));
      this.#forget(workerId);
      this.#freed(row.provider);
      // Its place in the pool is free: work queued meanwhile (a rerun, say) may start a worker now.
      if (row.pool_id) this.#poke(row.pool_id);
      return;
    }
    await this.loseWorker(workerId, description);
  }

  sourceArchive(digest: string): string {
    return archivePath(this.archivesDir, digest);
  }

  /** Whether the worker may fetch the run's source: its own run's, or one it has a task of in hand. */
  async mayFetchSource(worker: WorkerIdentity, runId: string): Promise<boolean> {
    return runId === worker.runId || hasAttemptOf(this.#store.db, worker.workerId, runId);
  }

  async runSpec(runId: string): Promise<RunSpec> {
    return this.#specs.get(this.#store.db, runId);
  }

  // ---- health ------------------------------------------------------------------------

  /**
   * Heals what went wrong: pools with queued work get workers, workers that never came up
   * are given up on, silent workers and workers whose machine is gone are lost (their
   * attempts retried), workers past their lifetime are drained, and machines the store
   * does not count as live are stopped.
   */
  async healthCheck(): Promise<void> {
    const now = this.#clock.now();
    const pools = await this.#store.db.selectFrom('tasks').select(['run_id', 'pool']).distinct()
      .where(claimableTask).execute();
    for (const { run_id, pool } of pools) if (this.#looksAfter(run_id)) this.#poke(poolOf(await this.#specs.get(this.#store.db, run_id), pool));
    // The fleet's pools that keep workers warm get them back, work or none.
    if (!this.#settings.ownRunsOnly) {
      for (const [name, pool] of Object.entries(this.#settings.pools ?? {})) if (pool.minIdle > 0) this.#poke(operatorPoolId(name, FLEET_SCOPE));
    }

    const workers = await this.#store.db.selectFrom('workers')
      .select(['id', 'run_id', 'activity', 'state', 'provider', 'machine', 'created_at', 'tasks_done', 'owner'])
      .where('state', 'in', ['starting', 'idle', 'busy', 'draining']).execute();
    const alive = await this.#liveCoordinators();
    // Asked all at once: a provider answers for many machines in one call where it can.
    const gone = await Promise.all(workers.map((worker) => (worker.machine && this.#looksAfter(worker.run_id)
      ? this.#machineGone(worker.provider, JSON.parse(worker.machine) as MachineHandle) : false)));
    for (const [i, worker] of workers.entries()) {
      if (!this.#looksAfter(worker.run_id)) continue;
      if (worker.state === 'starting' && !this.#starting.has(worker.id)) {
        // Another coordinator process's start in flight is its own to judge, while it lives.
        const starter = worker.owner;
        if (starter !== null && starter !== this.#id && alive.has(starter)) continue;
        // A start a coordinator process that is gone was making, or waiting to retry, died with
        // it: nothing will record its machine. Its agent, if one came up, is refused and exits.
        const cutShort = starter === null ? worker.created_at < this.#startedAt : starter !== this.#id;
        if (!worker.machine && cutShort) {
          await this.loseWorker(worker.id, 'its start was cut short: the coordinator starting it is gone');
          continue;
        }
        const since = Math.max(worker.created_at, this.#startedAt);
        if (now - since > this.#settings.startTimeoutMs) {
          await this.loseWorker(worker.id, `did not register within ${Math.round(this.#settings.startTimeoutMs / 1000)}s`);
          continue;
        }
      }
      if (gone[i]) {
        await this.loseWorker(worker.id, 'its machine is gone');
        continue;
      }
      const spec = await this.#specs.get(this.#store.db, worker.run_id);
      const lifetime = spec.pipeline.activities[worker.activity] && this.#activityOf(spec, worker.activity).maxLifetimeMs;
      // Every worker gets at least one task: one that came up slower than its lifetime (a
      // loaded machine, a long boot) would otherwise be drained unused, again and again.
      // A warm worker (its pool keeps min_idle) is drained unused too: min_idle replaces it.
      const usedOnce = worker.state === 'busy' || (worker.state === 'idle' && (worker.tasks_done > 0 || (this.#operatorOf(spec, worker.activity)?.minIdle ?? 0) > 0));
      if (lifetime !== undefined && usedOnce && now - worker.created_at > lifetime) {
        await this.drainWorker(worker.id, `older than its activity's max_lifetime (${Math.round(lifetime / 1000)}s)`);
      }
    }
    await this.checkLiveness();
    await this.#reconcileMachines();
  }

  /**
   * Finds silence: a worker not heard from within the heartbeat timeout is lost, and an
   * attempt whose heartbeats stopped while its worker still talks (its claim was answered
   * into the void, its heartbeat loop died) ends lost and is retried.
   */
  async checkLiveness(): Promise<void> {
    const now = this.#clock.now();
    const workers = await this.#store.db.selectFrom('workers').select(['id', 'run_id', 'last_seen_at', 'heartbeat_timeout_ms'])
      .where('state', 'in', ['idle', 'busy', 'draining']).execute();
    // Each worker is judged by the timeout of the coordinator it talks to, whichever process judges.
    const timeouts = new Map(workers.map((w) => [w.id, w.heartbeat_timeout_ms ?? this.#settings.heartbeatTimeoutMs]));
    for (const worker of workers) {
      if (!this.#looksAfter(worker.run_id)) continue;
      const lastSeen = Math.max(this.#lastSeen.get(worker.id) ?? 0, worker.last_seen_at ?? 0, this.#startedAt);
      const timeout = timeouts.get(worker.id)!;
      if (isSilent(lastSeen, now, timeout)) {
        await this.loseWorker(worker.id, `no heartbeat for ${Math.round((now - lastSeen) / 1000)}s`);
      }
    }
    const shortest = Math.min(this.#settings.heartbeatTimeoutMs, ...timeouts.values());
    const stale = await this.#store.db.selectFrom('attempts').innerJoin('workers', 'workers.id', 'attempts.worker_id')
      .select(['attempts.id', 'attempts.run_id', 'attempts.heartbeat_at', 'attempts.worker_id'])
      .where('workers.state', 'in', ['busy', 'draining']).where('attempts.outcome', 'is', null)
      .where('attempts.heartbeat_at', '<', now - shortest).execute();
    for (const attempt of stale) {
      const timeout = timeouts.get(attempt.worker_id ?? '') ?? this.#settings.heartbeatTimeoutMs;
      if (!this.#looksAfter(attempt.run_id) || !isSilent(Math.max(attempt.heartbeat_at, this.#startedAt), now, timeout)) continue;
      const spec = await this.#specs.get(this.#store.db, attempt.run_id);
      const reason = `no heartbeat for attempt ${attempt.id} for ${Math.round((now - Math.max(attempt.heartbeat_at, this.#startedAt)) / 1000)}s`;
      await this.#mutate((trx, changes) => loseAttempt(trx, spec, attempt.id, reason, changes));
    }
  }

  /**
   * Notes a worker heard from: in memory at once, in the store at most twice per heartbeat
   * interval, so every coordinator on the store sees it alive at little cost.
   */
  async #heard(workerId: string): Promise<void> {
    const now = this.#clock.now();
    this.#lastSeen.set(workerId, now);
    if (now - (this.#seenStored.get(workerId) ?? 0) < this.heartbeatIntervalMs / 2) return;
    this.#seenStored.set(workerId, now);
    await recordWorkerSeen(this.#store.db, workerId, now);
  }

  #looksAfter(runId: string): boolean {
    return !this.#settings.ownRunsOnly || this.#own.has(runId);
  }

  /** Whether the provider says the machine no longer exists (not merely that it cannot tell). */
  async #machineGone(providerName: string, machine: MachineHandle): Promise<boolean> {
    const provider = this.#providers.get(providerName);
    if (!provider) return false;
    try {
      return await provider.status(machine) === 'gone';
    } catch (error) {
      this.reportFault(`asking ${providerName} about a machine`, error);
      return false;
    }
  }

  /** The store's id, which marks the machines this coordinator (or another on its store) started. */
  async #owner(): Promise<string> {
    this.#ownerId ??= (await this.#store.db.selectFrom('store_identity').select('id').executeTakeFirstOrThrow()).id;
    return this.#ownerId;
  }

  /** Stops every machine a provider has whose worker the store does not count as live. */
  async #reconcileMachines(): Promise<void> {
    for (const provider of this.#providers.values()) {
      const machines = await provider.inventory(await this.#owner());
      if (machines.length === 0) continue;
      const rows = await this.#store.db.selectFrom('workers').select(['id', 'state', 'run_id', 'owner'])
        .where('id', 'in', machines.map((m) => m.workerId)).execute();
      const workers = new Map(rows.map((r) => [r.id, r]));
      const alive = await this.#liveCoordinators();
      for (const { workerId, machine } of machines) {
        const worker = workers.get(workerId);
        if (this.#settings.ownRunsOnly && !(worker && this.#own.has(worker.run_id))) continue;
        if (worker && !mayStopMachine(worker.owner, this.#id, alive)) continue;
        const state = worker?.state;
        if (state === 'starting' || state === 'idle' || state === 'busy' || state === 'draining' || this.#starting.has(workerId) || this.#stopping.has(workerId)) continue;
        this.reportFault('reconciling machines', new Error(`${provider.name} machine of worker ${workerId} is running but the worker is ${state ?? 'unknown to the store'}; stopping it`));
        void this.#stopMachine(workerId, provider.name, machine, { drained: state === 'stopped' });
      }
    }
  }

  // ---- internals ---------------------------------------------------------------------

  async #mutate<T>(work: (trx: Store['db'], changes: Changes) => Promise<T>): Promise<T> {
    const changes = new Changes(this.#clock.now());
    const result = await this.#writes.run((trx) => work(trx, changes));
    this.#afterCommit(changes);
    return result;
  }

  #afterCommit(changes: Changes): void {
    this.events.publish(changes.events);
    this.#watch.publishedHere(changes.events);
    for (const [pool, count] of changes.queued) {
      this.#signals.wake(pool, count);
      this.#poke(pool);
    }
    for (const [pool, at] of changes.delayed) this.#later(at - changes.now, () => { this.#signals.wake(pool, 1); this.#poke(pool); });
    for (const pool of changes.drained) this.#signals.wake(pool);
    for (const attemptId of changes.cancelledAttempts) {
      this.#cancelled.add(attemptId);
      this.#attemptSignals.get(attemptId)?.();
    }
  }

  /** Provisioning requests are coalesced per pool and handled one at a time. */
  #poke(pool: string): void {
    this.#provisionQueue.add(pool);
    if (this.#provisioning || this.#closed) return;
    this.#provisioning = true;
    setImmediate(() => void this.#provisionLoop());
  }

  async #provisionLoop(): Promise<void> {
    try {
      while (this.#provisionQueue.size > 0 && !this.#closed) {
        const pool = this.#provisionQueue.values().next().value as string;
        this.#provisionQueue.delete(pool);
        const limits = { initFailures: initFailuresToGiveUp, startFailingMs: this.#settings.startGiveUpMs ?? defaultStartGiveUpMs };
        // Workers on the coordinator's own machine compete with it and each other for its CPUs: they ramp up.
        const rampUp = (provider: string) => this.#providers.get(provider)?.onThisMachine === true;
        const operator = this.#operatorPool(pool);
        const { starts, lookAgainInMs, held } = await this.#mutate((trx, changes) => provisionPool(trx, pool, this.#specOf(trx), limits, changes, {
          rampUp, providerCaps: this.#settings.providerCaps, owner: this.#id, ...(operator && { operator }),
        }));
        if (lookAgainInMs !== undefined) this.#later(lookAgainInMs, () => this.#poke(pool));
        this.#noteHold(pool, held);
        for (const start of starts) {
          this.#starting.add(start.workerId);
          const spec = await this.#specs.get(this.#store.db, start.runId);
          this.#background('starting a machine', this.#startMachine(spec, start, 1));
        }
      }
    } catch (error) {
      this.reportFault('provisioning', error);
    } finally {
      this.#provisioning = false;
    }
  }

  /**
   * Says once in the pool's log that the provider's fleet-wide cap holds its starts back,
   * and once when it no longer does; the pool is poked again when a worker on that
   * provider goes (see #freed), and by the health check.
   */
  #noteHold(pool: string, held: ProviderHold | undefined): void {
    const was = this.#held.has(pool);
    if (held && !was) {
      this.#held.set(pool, held.provider);
      this.logs.append(this.logs.poolPath(pool), `${this.#stamp()} held: the ${held.provider} provider's max_workers (${held.cap}) are all live (${held.live} workers of every pool); activity ${held.activity} of run ${held.runId} waits for one to stop\n`);
    } else if (!held && was) {
      const provider = this.#held.get(pool);
      this.#held.delete(pool);
      this.logs.append(this.logs.poolPath(pool), `${this.#stamp()} no longer held by the ${provider} provider's max_workers\n`);
    }
  }

  /** A worker on `provider` went: pools its fleet-wide cap held back may start one now. */
  #freed(provider: string): void {
    for (const [pool, on] of this.#held) if (on === provider) this.#poke(pool);
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
    const activity = this.#activityOf(spec, start.activity);
    const providerName = activity.provider;
    const provider = this.#providers.get(providerName);
    let machine: MachineHandle;
    try {
      if (!provider) throw new Error(`provider '${providerName}' is not available here`);
      machine = await provider.start({
        owner: await this.#owner(),
        workerId: start.workerId, runId: spec.id, activity: start.activity, serverUrl: provider.onThisMachine ? this.#urls.local : this.#urls.remote,
        registrationToken: start.registrationToken, agentLogPath: this.logs.agentPath(spec.id, start.workerId),
        instance: activity.instance,
        prepare: this.#preparation(spec, start.activity),
      });
    } catch (error) {
      const message = (error as Error).message;
      const policy = this.#settings.providerRetry;
      if (provider && attempt < policy.attempts && !this.#closed) {
        const delayMs = retryDelayMs(policy, attempt + 1);
        this.logs.append(this.logs.workerPath(spec.id, start.workerId), `${this.#stamp()} start ${attempt} of ${policy.attempts} failed: ${message}; retrying in ${Math.round(delayMs / 1000)}s\n`);
        this.#later(delayMs, () => this.#background('starting a machine', this.#startMachine(spec, start, attempt + 1)));
        return;
      }
      this.#starting.delete(start.workerId);
      if (this.#closed) return;
      await this.#mutate(async (trx, changes) => {
        await trx.updateTable('workers').set({ state: 'failed', stop_cause: 'start_failed', error: message, stopped_at: changes.now, registration_hash: null })
          .where('id', '=', start.workerId).where('state', '=', 'starting').execute();
        await changes.event(trx, spec.id, 'worker.stopped', { worker: start.workerId, message: `could not start after ${attempt} tries: ${message}` });
      }).catch((failure) => this.reportFault('recording a failed start', failure));
      this.#freed(providerName);
      // No new worker at once: the next health check tries again, which paces a provider
      // that refuses every start instead of spinning on it.
      return;
    }
    this.#starting.delete(start.workerId);
    const price = priceOf(machine);
    const recorded = await this.#store.db.updateTable('workers')
      .set({ machine: JSON.stringify(machine), owner: this.#id, machine_at: this.#clock.now(), hourly_usd: price?.hourlyUsd ?? null, billing: price?.billing ?? null })
      .where('id', '=', start.workerId).where('state', '=', 'starting').executeTakeFirst();
    // Given up on while it was starting (lost, run over): a machine nobody wants is stopped at once.
    if (Number(recorded.numUpdatedRows) === 0) void this.#stopMachine(start.workerId, providerName, machine);
  }

  async #stopMachineOf(workerId: string, options: StopOptions = {}): Promise<void> {
    const row = await this.#store.db.selectFrom('workers').select(['provider', 'machine', 'owner']).where('id', '=', workerId).executeTakeFirst();
    if (row?.machine && await this.#mayStop(row.owner)) await this.#stopMachine(workerId, row.provider, JSON.parse(row.machine) as MachineHandle, options);
  }

  #stopMachine(workerId: string, providerName: string, machine: MachineHandle, options: StopOptions = {}): Promise<void> {
    const inFlight = this.#stopping.get(workerId);
    if (inFlight) return inFlight;
    // A coordinator shutting down starts no stop it could not wait for; the next one's health check stops that machine.
    if (this.#closed) return Promise.resolve();
    const stopping = (async () => {
      try {
        await this.#providers.get(providerName)?.stop(machine, options);
      } catch (error) {
        this.reportFault(`stopping the ${providerName} machine of ${workerId}`, error);
      } finally {
        this.#stopping.delete(workerId);
      }
    })();
    this.#stopping.set(workerId, stopping);
    return stopping;
  }

  /** Why a provider's machines could not reach this coordinator, found before any is started. */
  #unreachable(pipeline: Pipeline): string | undefined {
    if (!this.#urls.remote) return undefined;
    for (const activity of Object.values(pipeline.activities)) {
      const provider = this.#providers.get(activity.provider);
      const why = provider && !provider.onThisMachine ? provider.unreachableFrom(this.#urls.remote) : undefined;
      if (why) return `activity ${activity.name}: ${why}`;
    }
    return undefined;
  }

  #later(ms: number, action: () => void): void {
    const timer = setTimeout(() => { this.#timers.delete(timer); if (!this.#closed) action(); }, Math.max(0, ms));
    timer.unref();
    this.#timers.add(timer);
  }

  #workerSettings(spec: RunSpec, activityName: string, workerId: string): WorkerSettings {
    const activity = this.#activityOf(spec, activityName);
    const env = { SLIPWAY_RUN: spec.id, SLIPWAY_WORKER: workerId, SLIPWAY_ACTIVITY: activityName };
    const aux = (kind: 'prepare' | 'init' | 'cleanup', script: Script | undefined): WorkerScript | null => {
      if (!script) return null;
      if (!spec.options.fakeWorkers) return { script, env };
      const fake = fakeScript(kind, script);
      return { script: fake.script, env: { ...env, ...fake.env } };
    };
    const preparation = this.#preparation(spec, activityName);
    // A fleet's pool that keeps workers warm decides their idle stops itself.
    const keepsWarm = (this.#operatorOf(spec, activityName)?.minIdle ?? 0) > 0 && fleetPoolName(poolOf(spec, activityName)) !== undefined;
    return {
      idle_timeout_ms: activity.idleTimeoutMs,
      ...(keepsWarm && { keep_warm: true }),
      heartbeat_interval_ms: this.heartbeatIntervalMs,
      prepare: preparation ? { fingerprint: preparation.fingerprint, ...aux('prepare', preparation.script)! } : null,
      init: aux('init', activity.init),
      cleanup: aux('cleanup', activity.cleanup),
      source_digest: spec.sourceDigest,
      source_limits: { max_unpacked_bytes: this.archiveLimits.maxUnpackedBytes, max_archive_members: this.archiveLimits.maxMembers },
    };
  }

  /**
   * Shows a worker's new name on its machine, for providers that can. Names change with
   * every task, so pushes are coalesced: one in flight per worker, and only the latest
   * name waiting behind it. Nothing is pushed for providers that show no names.
   */
  #pushName(worker: WorkerIdentity, name: string): void {
    const spec = this.#specs.cached(worker.runId);
    const provider = spec && spec.pipeline.activities[worker.activity] && this.#providers.get(this.#activityOf(spec, worker.activity).provider);
    if (!provider?.showsNames) return;
    this.#names.set(worker.workerId, name);
    if (this.#naming.has(worker.workerId) || this.#closed) return;
    const pushing = (async () => {
      try {
        for (let latest = this.#names.get(worker.workerId); latest !== undefined; latest = this.#names.get(worker.workerId)) {
          this.#names.delete(worker.workerId);
          const row = await this.#store.db.selectFrom('workers').select('machine').where('id', '=', worker.workerId).executeTakeFirst();
          if (row?.machine) await provider.rename(JSON.parse(row.machine) as MachineHandle, latest);
        }
      } finally {
        this.#naming.delete(worker.workerId);
      }
    })();
    this.#naming.set(worker.workerId, pushing);
    this.#background('naming a machine', pushing);
  }

  #handedOut(worker: WorkerIdentity, answer: Extract<ClaimAnswer, { kind: 'attempt' }>): ClaimAnswer {
    this.#pushName(worker, answer.workerName);
    this.#keptWarm.delete(worker.workerId);
    // The attempt's log is its run's, whichever run the worker was started for.
    const path = this.logs.attemptPath(answer.attempt.run, answer.attempt.id);
    this.#attemptLogs.set(answer.attempt.id, { runId: answer.attempt.run, workerId: worker.workerId, path });
    this.logs.append(this.#workerLogPath(worker), `${this.#stamp()} ${answer.workerName}: ${answer.attempt.kind} ${answer.attempt.task} of run ${answer.attempt.run} attempt ${answer.attempt.number} (${answer.attempt.id})\n`);
    return answer;
  }

  #workerLogPath(worker: WorkerIdentity): string {
    return this.logs.workerPath(worker.runId, worker.workerId);
  }

  #endAttemptStream(attemptId: string): void {
    const log = this.#attemptLogs.get(attemptId);
    if (log) void this.logs.close(log.path);
    this.#attemptLogs.delete(attemptId);
    this.#cancelled.delete(attemptId);
  }

  #forget(workerId: string): void {
    this.#lastSeen.delete(workerId);
    this.#keptWarm.delete(workerId);
    this.#seenStored.delete(workerId);
    for (const [attemptId, log] of this.#attemptLogs) if (log.workerId === workerId) this.#endAttemptStream(attemptId);
  }

  #stamp(): string {
    return new Date(this.#clock.now()).toISOString();
  }

  /**
   * Work the coordinator starts by itself has no caller to fail to: its failure (a store
   * that cannot be written, say) is reported, never left to end the process, and the next
   * health check heals what it left undone.
   */
  #background(what: string, work: Promise<unknown>): void {
    work.catch((error: unknown) => this.reportFault(what, error));
  }

  /** Something went wrong that no request is waiting to hear about. */
  reportFault(what: string, error: unknown): void {
    const message = `${what} failed: ${(error as Error).stack ?? String(error)}`;
    if (this.#faultListeners.length === 0) process.emitWarning(`slipway: ${message}`);
    for (const listener of this.#faultListeners) listener(message);
  }

  /** Takes over fault reports (from a process warning on stderr), e.g. to print them above a live view. */
  onFault(listener: (message: string) => void): () => void {
    this.#faultListeners.push(listener);
    return () => this.#faultListeners.splice(this.#faultListeners.indexOf(listener), 1);
  }
}

/** A run this coordinator cannot carry out, said before anything is recorded. */
export class RunRefused extends Error {}
