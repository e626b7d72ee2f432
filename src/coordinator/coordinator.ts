import { join } from 'node:path';
import { hostname } from 'node:os';
import type { ReadTarget } from '../blobs/blob-store.ts';
import type { ArchiveLimits } from '../archive/check.ts';
import { every, type Clock } from '../engine/clock.ts';
import { finishedStatus } from '../engine/events.ts';
import type { RunStatus, SourceOrigin } from '../engine/report.ts';
import type { WorkerStop } from '../engine/worker-stop.ts';
import { CONTROL_ACTIVITY, stepOnControl } from '../pipeline/assemble.ts';
import { controlRefusal } from '../pipeline/checks.ts';
import type { Pipeline, PipelineRules, Selection, TaskSpec } from '../pipeline/types.ts';
import { missingProvider } from '../providers/configured.ts';
import type { ProviderLifecycle } from '../providers/provider.ts';
import type { Store } from '../store/store.ts';
import { runStatus } from '../store/run-status.ts';
import { endKeptCredentials } from '../store/worker-credentials.ts';
import { liveWorkers, unheardHandStarted, type WorkerRow } from '../store/worker-rows.ts';
import type { CoordinatorUrls } from '../api/worker-url.ts';
import { CoordinatorCore } from './core.ts';
import type { EventBus } from './event-bus.ts';
import { Health } from './health.ts';
import type { Logs } from './logs.ts';
import { Machines } from './machines.ts';
import { cancelRun } from './ops/cancel-run.ts';
import { secretRefusals } from './attempt-secrets.ts';
import { createRun } from './ops/create-run.ts';
import type { AttemptResult } from './ops/end-attempt.ts';
import { joinStore, leaveStore, renewLease } from './ops/coordinator-lease.ts';
import { holdLease, releaseLeases } from './ops/hold-lease.ts';
import { hasAttemptOf } from './ops/attempt-in-hand.ts';
import { rerun, type RerunResult } from './ops/rerun.ts';
import type { RunOptions } from './run-options.ts';
import type { CoordinatorSettings } from './settings.ts';
import type { RunSpec } from './run-specs.ts';
import { RunArtifacts } from './run-artifacts.ts';
import { RunCaches } from './run-caches.ts';
import { moveOldArchives } from './old-source-archives.ts';
import { packSource, type SourceStore } from './source-archive.ts';
import { WorkerSessions, type ClaimAnswer, type Finish, type NextClaim, type RegisterAnswer, type WorkerIdentity } from './worker-sessions.ts';

export type { ClaimAnswer, WorkerIdentity } from './worker-sessions.ts';
export type { CoordinatorSettings } from './settings.ts';


/** What a repository's caches may hold before the least recently used go ([caches] max_bytes_per_repository). */
const defaultCacheBytesPerScope = 10 * 1024 ** 3;

/** How long a coordinator whose lease ran out stays on the store's list before the next one to leave removes it. */
const forgetCoordinatorsAfterMs = 24 * 3600_000;

/**
 * The coordinator: runs in, decisions out, every state change one transaction in the
 * store. Its jobs are apart: the worker protocol (WorkerSessions), the machines and their
 * provisioning (Machines), and the health check that heals (Health); this class creates
 * runs, follows them, and holds this process's place on the store.
 */
export class Coordinator {
  readonly events: EventBus;
  readonly logs: Logs;
  /** The files attempts keep, and the inputs of those that need them. */
  readonly artifacts: RunArtifacts;
  /** The steps' caches. */
  readonly caches: RunCaches;
  readonly #core: CoordinatorCore;
  readonly #machines: Machines;
  readonly #sessions: WorkerSessions;
  readonly #health: Health;
  /** Cancels the periodic work this process started (health check, liveness, lease). */
  readonly #periodic: (() => void)[] = [];
  #oldArchivesMoved: Promise<number> | undefined;

  constructor(store: Store, clock: Clock, settings: CoordinatorSettings, providers: ProviderLifecycle[]) {
    const core = this.#core = new CoordinatorCore(store, clock, settings, providers);
    this.events = core.events;
    this.logs = core.logs;
    this.#machines = new Machines(core);
    this.artifacts = new RunArtifacts(core);
    this.caches = new RunCaches(core, this.artifacts.blobs, settings.cacheBytesPerScope ?? defaultCacheBytesPerScope);
    this.#sessions = new WorkerSessions(core, this.#machines, this.artifacts);
    this.#health = new Health(core, this.#machines, this.#sessions);
    for (const provider of providers) {
      provider.onExit((workerId, description, clean) => core.background('noting a machine that exited', this.#health.machineExited(workerId, description, clean)));
    }
  }

  /** Where its secrets' key is (see src/secrets/sealing.ts). */
  get stateDir(): string {
    return this.#core.settings.stateDir;
  }

  /**
   * Run source archives: blobs of the artifacts' store, with the coordinator's unpacked
   * trees under sources/. Those a state directory of an older version kept under sources/
   * are moved into the blob store first (started with the coordinator, awaited by each use).
   */
  async sources(): Promise<SourceStore> {
    const sources = { blobs: this.artifacts.blobs, dir: join(this.#core.settings.stateDir, 'sources') };
    // A move that failed (a bucket out of reach) is tried again by the next use.
    this.#oldArchivesMoved ??= moveOldArchives(sources).catch((error: unknown) => {
      this.#oldArchivesMoved = undefined;
      throw error;
    });
    await this.#oldArchivesMoved;
    return sources;
  }

  /** This process's id on the store (its row in coordinators, the owner of the machines it starts). */
  get id(): string {
    return this.#core.id;
  }

  get archiveLimits(): ArchiveLimits {
    return this.#core.archiveLimits;
  }

  /** What a pipeline run here is checked against: the operator's pools, and whether it may define its own. */
  get pipelineRules(): PipelineRules {
    const { pools, pipelinesMayDefinePools } = this.#core.settings;
    return { pools: pools ?? {}, mayDefinePools: pipelinesMayDefinePools ?? true };
  }

  get heartbeatIntervalMs(): number {
    return this.#core.heartbeatIntervalMs;
  }

  /** Starts the health check; `urls` are where agents reach this coordinator. */
  start(urls: CoordinatorUrls): void {
    const core = this.#core;
    this.#machines.urls = urls;
    core.background('joining the store', this.#joinStore());
    core.background('listening for other coordinators\' commits', core.listen());
    core.background('moving source archives of an older version into the blob store', this.sources());
    const whenHeld = (check: () => Promise<void>) => async () => { if (await this.#holdsPeriodicWork()) await check(); };
    this.#periodic.push(every(core.clock, core.settings.healthIntervalMs, () => core.background('health check', whenHeld(() => this.healthCheck())())));
    // Silence is looked for more often than the full health check runs, so a dead worker
    // is found within about one heartbeat timeout even when the health check is minutes apart.
    this.#periodic.push(every(core.clock, core.heartbeatIntervalMs, () => core.background('liveness check', whenHeld(() => this.checkLiveness())())));
  }

  /** Resolves once this coordinator hears other coordinators' commits (at once on SQLite, which sends none). */
  listening(): Promise<void> {
    return this.#core.listen();
  }

  async close(): Promise<void> {
    const core = this.#core;
    await this.#machines.stopDismissedHere().catch((error: unknown) => core.reportFault('waiting for dismissed workers to exit', error));
    core.close();
    for (const cancel of this.#periodic) cancel();
    // A move under way finishes, so no archive is left half taken into a bucket.
    await this.#oldArchivesMoved?.catch(() => undefined);
    await this.settled();
    await core.watch.close();
    await this.#machines.close();
    await core.logs.closeAll();
    // Its machines are stopped or left to the next coordinator: none waits for its lease to run out.
    await leaveStore(core.store.db, core.id, core.clock.now(), forgetCoordinatorsAfterMs).catch(() => undefined);
    await releaseLeases(core.store.db, core.id).catch(() => undefined);
  }

  /**
   * Whether this process does the store's periodic work (health check, liveness, machine
   * reconciliation) now: one coordinator of the store at a time, under the "health" lease,
   * renewed at each of its turns and run out three turns after its holder stops renewing
   * it; another takes over at its next turn after that. A coordinator that looks after its
   * own runs only (`slipway run`) checks those whatever holds the lease.
   */
  async #holdsPeriodicWork(): Promise<boolean> {
    const core = this.#core;
    if (core.settings.ownRunsOnly) return true;
    const turnMs = Math.min(core.settings.healthIntervalMs, core.heartbeatIntervalMs);
    return holdLease(core.store.db, 'health', core.id, 3 * turnMs);
  }

  /**
   * Takes a place on the store with a lease renewed every heartbeat interval; it runs out
   * one heartbeat timeout after the last renewal, when this process is taken for gone.
   */
  async #joinStore(): Promise<void> {
    const core = this.#core;
    const leaseMs = core.settings.heartbeatTimeoutMs;
    await joinStore(core.store.db, core.id, process.pid, hostname(), core.clock.now(), leaseMs, this.#machines.urls);
    // Closed meanwhile, it renews nothing.
    if (core.closed) return;
    this.#periodic.push(every(core.clock, core.heartbeatIntervalMs, () => core.background('renewing the lease', renewLease(core.store.db, core.id, core.clock.now(), leaseMs))));
  }

  // ---- runs ------------------------------------------------------------------------

  /** A new run; its source tree is packed from the pipeline's directory unless it came as an archive. */
  async createRun(
    pipeline: Pipeline, tasks: TaskSpec[], selection: Selection, options: RunOptions, sourceDigest?: string, origin?: SourceOrigin,
  ): Promise<{ runId: string; joinToken: string }> {
    const core = this.#core;
    if (core.settings.pipelinesMayDefinePools === false) {
      const own = Object.values(pipeline.activities).find((a) => a.pool === undefined && a.name !== CONTROL_ACTIVITY.name);
      if (own) throw new RunRefused(`activity ${own.name} defines its own machines, which this server does not allow: name one of the operator's pools instead (pool: NAME)`);
      const onControl = stepOnControl(pipeline);
      if (onControl) throw new RunRefused(`step ${onControl}: ${controlRefusal}`);
    }
    if (!options.fakeWorkers && !options.noProvision) {
      const refusal = missingProvider(pipeline, [...core.providers.keys()]) ?? this.#machines.unreachable(pipeline);
      if (refusal) throw new RunRefused(refusal);
    }
    const digest = sourceDigest ?? await packSource(pipeline.sourceDir, await this.sources());
    // A command's coordinator (`slipway run`) scopes its pools to itself, as its workers end
    // with it; --fake-workers runs never share with real ones.
    const scope = [core.settings.ownRunsOnly ? core.id : 'fleet', options.fakeWorkers ? 'fake' : 'real'].join('/');
    const pools = core.activities.poolsOf(pipeline, scope);
    const refusals = await secretRefusals(core.store.db, { pipeline, options, isTry: origin?.try }, tasks.map((task) => task.step), core.settings.trySecrets ?? []);
    const notes = refusals.map((refusal) => `${refusal}: its tasks fail unless that changes before they start`);
    const created = await core.mutate((trx, changes) => createRun(trx, pipeline, tasks, selection, options, digest, origin ?? null, pools, notes, changes));
    core.own.add(created.spec.id);
    core.specs.remember(created.spec);
    for (const pool of new Set(Object.values(pools))) this.#machines.poke(pool);
    return { runId: created.spec.id, joinToken: created.joinToken };
  }

  /** Runs a finished run's failed, blocked and cancelled tasks again. */
  async rerun(runId: string): Promise<RerunResult> {
    const core = this.#core;
    const spec = await core.specs.get(core.store.db, runId);
    core.own.add(runId);
    const result = await core.mutate((trx, changes) => rerun(trx, spec, changes));
    if (result.kind === 'rerun') for (const pool of new Set(Object.values(spec.pools))) this.#machines.poke(pool);
    return result;
  }

  async cancelRun(runId: string, reason: string): Promise<boolean> {
    return this.#core.mutate((trx, changes) => cancelRun(trx, runId, reason, changes));
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
      const status = await runStatus(this.#core.store.db, runId);
      return status === 'running' ? await finished : status;
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
    return this.#core.watch.follow(runId);
  }

  /** Resolves once no provisioning, provider start, store write or background job is in flight: for tests and the simulator. */
  async settled(): Promise<void> {
    while (!this.quiet) await new Promise((resolve) => setImmediate(resolve));
  }

  /** Whether nothing is in flight now (see settled). */
  get quiet(): boolean {
    return !this.#machines.busy && !this.#core.writing && !this.#core.working;
  }

  /** Live workers of a run: those whose machine may still be running. */
  liveWorkers(runId: string): Promise<WorkerRow[]> {
    return liveWorkers(this.#core.store.db, runId);
  }

  /**
   * Waits for a finished run's workers to stop by themselves, and for those started by hand
   * to hear that they must; stops what remains after the grace.
   */
  async waitForWorkers(runId: string, graceMs: number): Promise<void> {
    const { clock, store } = this.#core;
    const deadline = clock.now() + graceMs;
    const waiting = async () => (await this.liveWorkers(runId)).length + (await unheardHandStarted(store.db, runId)).length;
    while (await waiting() > 0 && clock.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    for (const worker of await this.liveWorkers(runId)) {
      await this.loseWorker(worker.id, `still running ${Math.round(graceMs / 1000)}s after the run ended; stopped`);
    }
    await endKeptCredentials(store.db, runId);
  }

  /** Where a worker reads a run's source archive; undefined when the blob store has it no longer. */
  async sourceArchive(digest: string): Promise<ReadTarget | undefined> {
    const { blobs } = await this.sources();
    return (await blobs.size(digest)) === undefined ? undefined : blobs.readTarget(digest);
  }

  /** Whether the worker may fetch the run's source: its own run's, or one it has a task of in hand. */
  async mayFetchSource(worker: WorkerIdentity, runId: string): Promise<boolean> {
    return runId === worker.runId || hasAttemptOf(this.#core.store.db, worker.workerId, runId);
  }

  async runSpec(runId: string): Promise<RunSpec> {
    return this.#core.specs.get(this.#core.store.db, runId);
  }

  // ---- worker protocol (see WorkerSessions) -------------------------------------------

  register(token: string, join?: { activity: string }): Promise<RegisterAnswer> {
    return this.#sessions.register(token, join);
  }

  authenticate(credential: string): Promise<WorkerIdentity | undefined> {
    return this.#sessions.authenticate(credential);
  }

  /** Claims long-polling on this process now: its idle workers. */
  get claimsWaiting(): number {
    return this.#sessions.claimsWaiting;
  }

  claim(worker: WorkerIdentity, waitMs: number, signal?: AbortSignal, idle = false): Promise<ClaimAnswer> {
    return this.#sessions.claim(worker, waitMs, signal, idle);
  }

  heartbeat(worker: WorkerIdentity, attemptId: string, holdMs: number, signal?: AbortSignal): Promise<'ok' | 'cancel' | 'unknown'> {
    return this.#sessions.heartbeat(worker, attemptId, holdMs, signal);
  }

  output(worker: WorkerIdentity, attemptId: string, text: string): boolean {
    return this.#sessions.output(worker, attemptId, text);
  }

  workerOutput(worker: WorkerIdentity, text: string): void {
    this.#sessions.workerOutput(worker, text);
  }

  finish(worker: WorkerIdentity, attemptId: string, result: AttemptResult, claimNext: boolean | NextClaim = false): Promise<Finish> {
    return this.#sessions.finish(worker, attemptId, result, claimNext);
  }

  finishWithCredential(credential: string, attemptId: string, result: AttemptResult, claimNext: boolean | NextClaim): Promise<(Finish & { worker: WorkerIdentity }) | undefined> {
    return this.#sessions.finishWithCredential(credential, attemptId, result, claimNext);
  }

  stopped(worker: WorkerIdentity, stop: WorkerStop): Promise<void> {
    return this.#sessions.stopped(worker, stop);
  }

  // ---- health (see Health) ------------------------------------------------------------

  healthCheck(): Promise<void> {
    return this.#health.check();
  }

  checkLiveness(): Promise<void> {
    return this.#health.checkLiveness();
  }

  drainWorker(workerId: string, reason: string): Promise<boolean> {
    return this.#health.drainWorker(workerId, reason);
  }

  loseWorker(workerId: string, reason: string): Promise<void> {
    return this.#health.loseWorker(workerId, reason);
  }

  /** Something went wrong that no request is waiting to hear about. */
  reportFault(what: string, error: unknown): void {
    this.#core.reportFault(what, error);
  }

  /** Takes over fault reports (from a process warning on stderr), e.g. to print them above a live view. */
  onFault(listener: (message: string) => void): () => void {
    return this.#core.onFault(listener);
  }
}

/** A run this coordinator cannot carry out, said before anything is recorded. */
export class RunRefused extends Error {}
