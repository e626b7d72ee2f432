import { fleetPoolName } from '../engine/pool-identity.ts';
import type { WorkerStop } from '../engine/worker-stop.ts';
import type { Script } from '../pipeline/types.ts';
import type { AttemptOrder, WorkerScript, WorkerSettings } from '../protocol/worker.ts';
import { SecretMask } from '../secrets/masking.ts';
import type { Db } from '../store/store.ts';
import { credentialRefused, workerByCredential, workersByCredential, workersById, type CredentialWorker } from '../store/worker-credentials.ts';
import { hashSecret } from '../util/ids.ts';
import { rounds } from '../util/rounds.ts';
import { attemptSecrets } from './attempt-secrets.ts';
import { Changes } from './changes.ts';
import type { RunArtifacts } from './run-artifacts.ts';
import type { CoordinatorCore, Gathered } from './core.ts';
import type { Machines } from './machines.ts';
import { claimEach, fakeScript, type ClaimResult } from './ops/claim.ts';
import type { AttemptResult } from './ops/end-attempt.ts';
import { finishAll, finishAttempt, type Finished, type FinishReport, type FinishResult } from './ops/finish-attempt.ts';
import { recordHeartbeat, recordWorkerSeen } from './ops/heartbeat.ts';
import { registerJoiningWorker, registerStartedWorker, type Registration } from './ops/register-worker.ts';
import { retireIdle } from './ops/retire-idle.ts';
import { workerGone } from './ops/worker-gone.ts';
import { PoolSignals, poolOf, type Waiter } from './pool-signals.ts';
import type { RunSpec } from './run-specs.ts';
import type { WorkerIdentity } from './worker-identity.ts';

export type { WorkerIdentity } from './worker-identity.ts';

export type ClaimAnswer = { kind: 'attempt'; attempt: AttemptOrder; workerName: string } | { kind: 'none' } | { kind: 'stop'; reason: string };

/** A finish's claim of the worker's next attempt, waiting up to `waitMs` for one when none is ready (a long poll, as a claim's). */
export interface NextClaim { waitMs: number; signal?: AbortSignal }

/** An attempt's end as recorded, and the worker's next attempt when it asked for one. */
export interface Finish {
  finished: FinishResult;
  next: ClaimAnswer | null;
}

/** A finish as a batch gathers it (see WorkerSessions.#finishes): its worker by credential hash, or known. */
interface FinishInput { by: { hash: string } | { worker: WorkerIdentity }; attemptId: string; result: AttemptResult; claimNext: boolean; wait: boolean }

type FinishDone = Finished & { worker: WorkerIdentity; seen: number };

export type RegisterAnswer = Exclude<Registration, { kind: 'registered' }> | (Extract<Registration, { kind: 'registered' }> & { settings: WorkerSettings });

/**
 * The worker protocol as the coordinator serves it: registration, claims (long polls woken
 * per pool), heartbeats (held until a cancel or the interval), output into the logs,
 * finishes and goodbyes. What it remembers (last-seen times, open attempt logs, cancels
 * heard) is a cache of the store for this process's own requests.
 */
export class WorkerSessions {
  readonly #core: CoordinatorCore;
  readonly #machines: Machines;
  readonly #artifacts: RunArtifacts;
  readonly #signals: PoolSignals<ClaimResult>;
  readonly #lastSeen = new Map<string, number>();
  /** When this process last wrote a worker's last-seen time to the store. */
  readonly #seenStored = new Map<string, number>();
  readonly #cancelled = new Set<string>();
  readonly #attemptSignals = new Map<string, () => void>();
  /** Each attempt in flight's log, and the mask of its secrets for it and for its worker's log. */
  readonly #attemptLogs = new Map<string, { runId: string; workerId: string; path: string; workerPath: string; mask: SecretMask }>();
  /** The secrets each worker's attempts were given, masked in its own output too (a cleanup may print what a task left). */
  readonly #workerMasks = new Map<string, { values: Set<string>; mask: SecretMask; path: string }>();
  /** Workers told (in their log) that they are kept warm past their idle_timeout, until they next take a task. */
  readonly #keptWarm = new Set<string>();

  constructor(core: CoordinatorCore, machines: Machines, artifacts: RunArtifacts) {
    this.#core = core;
    this.#machines = machines;
    this.#artifacts = artifacts;
    this.#signals = new PoolSignals(core.clock);
    core.handOffWith((trx, operations) => this.#handOff(trx, operations));
    core.onCommit((changes) => {
      for (const [pool, count] of changes.queued) this.#signals.wake(pool, count);
      for (const [pool, at] of changes.delayed) core.later(at - changes.now, () => this.#signals.wake(pool, 1));
      for (const pool of changes.drained) this.#signals.wake(pool);
      for (const attemptId of changes.cancelledAttempts) {
        this.#cancelled.add(attemptId);
        this.#attemptSignals.get(attemptId)?.();
      }
    });
  }

  /** Claims long-polling on this process now: its idle workers. */
  get claimsWaiting(): number {
    return this.#signals.waiting;
  }

  /** When this process last heard from the worker (0: not since it started). */
  lastSeen(workerId: string): number {
    return this.#lastSeen.get(workerId) ?? 0;
  }

  async register(token: string, join?: { activity: string }): Promise<RegisterAnswer> {
    const core = this.#core;
    const timeoutMs = core.settings.heartbeatTimeoutMs;
    const registration = await core.mutate((trx, changes) => join
      ? registerJoiningWorker(trx, token, join.activity, async (runId) => Object.keys((await core.specs.get(trx, runId)).pipeline.activities), timeoutMs, changes)
      : registerStartedWorker(trx, token, timeoutMs, changes));
    if (registration.kind !== 'registered') return registration;
    const identity = { workerId: registration.workerId, runId: registration.runId, activity: registration.activity };
    this.#lastSeen.set(registration.workerId, core.clock.now());
    this.#seenStored.set(registration.workerId, core.clock.now());
    const spec = await core.specs.get(core.store.db, registration.runId);
    this.#log(identity, `registered as ${registration.name} (${registration.workerId}) for activity ${registration.activity}`);
    // One more worker up lets a ramping pool start more (see workersToStart).
    this.#machines.poke(poolOf(spec, registration.activity));
    return { ...registration, settings: this.#settingsOf(spec, registration.activity, registration.workerId) };
  }

  /**
   * Finds the worker a credential belongs to; undefined for anything else, or once it ended
   * (its worker stopped or was lost, its run finished). Asked of the store on every call,
   * never of memory: another coordinator process on the store may have ended it. One
   * indexed read.
   */
  async authenticate(credential: string): Promise<WorkerIdentity | undefined> {
    const hash = hashSecret(credential);
    const row = await workerByCredential.first(this.#core.store.db, { hash });
    if (!row) await credentialRefused(this.#core.store.db, hash, this.#core.clock.now());
    return row && { workerId: row.id, runId: row.run_id, activity: row.activity };
  }

  /**
   * Long poll: answers with an attempt as soon as one is claimable, or none after `waitMs`.
   * A worker past its idle_timeout (`idle`, for pools that keep workers warm) is told to stop
   * when no attempt is ready for it, unless the pool would be left with fewer idle workers
   * than its min_idle (see mayStopIdle); then it waits as any other.
   */
  claim(worker: WorkerIdentity, waitMs: number, signal?: AbortSignal, idle = false): Promise<ClaimAnswer> {
    return this.#claimOrWait(worker, waitMs, signal, idle);
  }

  /**
   * The long poll of claim. `lookedAt`: the pool's version when a claim in the caller's own
   * transaction (a finish's) found nothing, which the wait starts from.
   */
  async #claimOrWait(worker: WorkerIdentity, waitMs: number, signal: AbortSignal | undefined, idle: boolean, lookedAt?: number): Promise<ClaimAnswer> {
    const core = this.#core;
    const spec = await core.specs.get(core.store.db, worker.runId);
    const pool = poolOf(spec, worker.activity);
    const deadline = core.clock.now() + Math.min(waitMs, core.heartbeatIntervalMs);
    // What the last look at the pool gave, and the pool's version before it looked.
    let look: { answer: ClaimResult; seen: number } | undefined = lookedAt === undefined ? undefined : { answer: { kind: 'none' }, seen: lookedAt };
    for (let first = true; ; first = false) {
      await this.#heard(worker.workerId);
      if (!look) {
        const seen = this.#signals.version(pool);
        // Shared: claims on several coordinators go on beside each other (see ops/claim.ts).
        look = { seen, answer: await core.mutateGathered(this.#claims, worker.workerId, 'shared') };
      }
      const { answer, seen } = look;
      look = undefined;
      if (answer.kind === 'attempt') {
        const armed = await this.#armed(worker, answer);
        if (armed) return this.#handedOut(worker, armed);
        continue;
      }
      if (idle && first && answer.kind === 'none') {
        const pool = { minIdle: core.activities.minIdleOf(spec, worker.activity), maxWorkers: core.activities.activityOf(spec, worker.activity).maxWorkers };
        const { retired, keep } = await core.mutate((trx, changes) => retireIdle(trx, worker.workerId, pool, changes.now));
        if (retired) {
          const reason = `idle for its idle_timeout, and ${keep === 0 ? 'its pool keeps none warm now' : `its pool keeps ${keep} idle without it`}`;
          this.#log(worker, `told to stop: ${reason}`);
          return { kind: 'stop', reason };
        }
        if (!this.#keptWarm.has(worker.workerId)) {
          this.#keptWarm.add(worker.workerId);
          this.#log(worker, `idle for its idle_timeout; kept warm: its pool keeps ${keep} idle`);
        }
      }
      const remaining = deadline - core.clock.now();
      if (answer.kind === 'stop' || remaining <= 0 || signal?.aborted) return answer;
      const handed = await this.#signals.wait(pool, remaining, seen, worker.workerId, signal);
      if (handed) look = { answer: handed, seen: this.#signals.version(pool) };
    }
  }

  /**
   * A transaction that queued tasks in a pool claims them for the pool's workers waiting
   * here, in the same transaction (after its operations): the task reaches its worker with
   * that commit, not with a claim of its own after it; a pool's waiters claim together (see
   * claimEach). Each waiter is told what its claim gave it once the commit is known (nothing
   * if it was undone: it claims again itself).
   */
  async #handOff(trx: Db, operations: readonly Changes[]): Promise<{ changes: Changes[]; after: (committed: boolean) => void } | undefined> {
    type Offer = { waiter: Waiter<ClaimResult>; changes: Changes; answer?: ClaimResult };
    const offers: Offer[] = [];
    const tell = (committed: boolean) => { for (const offer of offers) offer.waiter.done(committed ? offer.answer : undefined); };
    try {
      for (const [pool, count] of Changes.merged(operations).queued) {
        const waiting = this.#signals.take(pool, count).map((waiter): Offer => ({ waiter, changes: new Changes(this.#core.clock.now()) }));
        offers.push(...waiting);
        const answers = await claimEach(trx, this.#core.specOf(trx), waiting.map(({ waiter, changes }) => ({ workerId: waiter.worker, changes })));
        answers.forEach((answer, i) => {
          waiting[i]!.answer = answer;
          if (answer.kind === 'attempt') Changes.handedOut(operations, pool);
        });
      }
    } catch (error) {
      tell(false);
      throw error;
    }
    return offers.length === 0 ? undefined : { changes: offers.map((offer) => offer.changes), after: tell };
  }

  /**
   * Held up to `holdMs` unless the attempt is cancelled meanwhile, here or by another
   * coordinator process on the store (whose cancel arrives through the store watch).
   */
  async heartbeat(worker: WorkerIdentity, attemptId: string, holdMs: number, signal?: AbortSignal): Promise<'ok' | 'cancel' | 'unknown'> {
    const core = this.#core;
    await this.#heard(worker.workerId);
    const attempt = await recordHeartbeat(core.store.db, worker.workerId, attemptId, core.clock.now());
    if (!attempt) return 'unknown';
    if (attempt.cancelled) this.#cancelled.add(attemptId);
    if (this.#cancelled.has(attemptId)) return 'cancel';
    const hold = Math.min(holdMs, core.heartbeatIntervalMs);
    if (hold > 0) {
      // The attempt's run, which may be any run of the worker's pool.
      const unfollow = await core.watch.follow(attempt.run);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          unsubscribe();
          this.#attemptSignals.delete(attemptId);
          resolve();
        };
        const timer = setTimeout(done, hold);
        const unsubscribe = core.events.subscribe((event) => {
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
    this.#lastSeen.set(worker.workerId, this.#core.clock.now());
    // Masked again here: an agent of another version, or a broken one, may not have.
    const masked = log.mask.push(text);
    this.#core.logs.append(log.path, masked);
    this.#core.logs.append(log.workerPath, masked);
    return true;
  }

  workerOutput(worker: WorkerIdentity, text: string): void {
    this.#lastSeen.set(worker.workerId, this.#core.clock.now());
    const masks = this.#workerMasks.get(worker.workerId);
    this.#core.logs.append(this.#logPath(worker), masks ? masks.mask.push(text) : text);
  }

  /**
   * Records an attempt's end. With `claimNext`, the same transaction also hands the worker
   * its next attempt if one is ready: one request and one commit per task in steady state.
   */
  async finish(worker: WorkerIdentity, attemptId: string, result: AttemptResult, claimNext: boolean | NextClaim = false): Promise<Finish> {
    return (await this.#finish({ worker }, attemptId, result, claimNext))!;
  }

  /**
   * finish for the worker a credential belongs to, which is looked up in the same
   * transaction, its row read once for the credential, the finish and the claim after it:
   * the request every task makes costs two store reads fewer than another route's.
   * Undefined when the credential is refused, as authenticate would.
   */
  async finishWithCredential(credential: string, attemptId: string, result: AttemptResult, claimNext: boolean | NextClaim): Promise<(Finish & { worker: WorkerIdentity }) | undefined> {
    const hash = hashSecret(credential);
    const done = await this.#finish({ hash }, attemptId, result, claimNext);
    if (!done) await credentialRefused(this.#core.store.db, hash, this.#core.clock.now());
    return done;
  }

  /** The claims of a batch, as one (see claimEach): each worker's, by id. */
  readonly #claims: Gathered<string, ClaimResult> = (trx, items) =>
    claimEach(trx, this.#core.specOf(trx), items.map(({ input, changes }) => ({ workerId: input, changes })));

  /**
   * The finishes of a batch, as one (see finishAll): their workers found in one statement,
   * by credential or by id, then all their attempts ended, their tasks moved on and their
   * next attempts claimed together. A worker's second report in the batch (a retried
   * request) goes after its first, as it came.
   */
  readonly #finishes: Gathered<FinishInput, FinishDone | undefined> = async (trx, items) => {
    const core = this.#core;
    const answers: (FinishDone | undefined)[] = [];
    for (const round of rounds(items, ({ input }) => ('hash' in input.by ? input.by.hash : input.by.worker.workerId))) {
      const hashes = round.flatMap(({ item: { input } }) => ('hash' in input.by ? [input.by.hash] : []));
      const ids = round.flatMap(({ item: { input } }) => ('worker' in input.by ? [input.by.worker.workerId] : []));
      const byHash = hashes.length > 0 ? await workersByCredential(trx, hashes) : new Map<string, CredentialWorker>();
      const byId = ids.length > 0 ? await workersById(trx, ids) : new Map<string, CredentialWorker>();
      const reports: { i: number; worker: WorkerIdentity; seen: number; report: FinishReport }[] = [];
      for (const { item: { input, changes }, i } of round) {
        const row = 'hash' in input.by ? byHash.get(input.by.hash) : byId.get(input.by.worker.workerId);
        if (!row) {
          if ('worker' in input.by) throw new Error(`no worker ${input.by.worker.workerId}`);
          continue;
        }
        const worker = { workerId: row.id, runId: row.run_id, activity: row.activity };
        // The attempt's end is written with the worker's last-seen time.
        this.#lastSeen.set(worker.workerId, core.clock.now());
        this.#seenStored.set(worker.workerId, core.clock.now());
        // Before the claim looks: a wake after it is not missed by the wait that may follow.
        const seen = input.wait ? this.#signals.version(poolOf(await core.specs.get(trx, worker.runId), worker.activity)) : 0;
        reports.push({ i, worker, seen, report: { worker: row, attemptId: input.attemptId, result: input.result, claimNext: input.claimNext, changes } });
      }
      const finished = await finishAll(trx, core.specOf(trx), reports.map(({ report }) => report));
      reports.forEach(({ i, worker, seen }, j) => { answers[i] = { worker, seen, ...finished[j]! }; });
    }
    return items.map((_, i) => answers[i]);
  };

  async #finish(by: FinishInput['by'], attemptId: string, result: AttemptResult, claimNext: boolean | NextClaim): Promise<(Finish & { worker: WorkerIdentity }) | undefined> {
    const core = this.#core;
    const wait = typeof claimNext === 'object' ? claimNext : undefined;
    const done = await core.mutateGathered(this.#finishes, { by, attemptId, result, claimNext: claimNext !== false, wait: wait !== undefined });
    if (!done) return undefined;
    const { worker, finished, seen, next } = done;
    if (finished.kind === 'recorded') {
      if (next?.kind !== 'attempt') this.#machines.pushName(worker, finished.workerName);
      this.#log(worker, `${finished.workerName}: attempt ${attemptId} ${result.outcome}${result.error ? ` (${result.error})` : ''}`);
    }
    this.#endAttemptStream(attemptId);
    // A heartbeat held for this attempt has nothing more to wait for.
    this.#attemptSignals.get(attemptId)?.();
    if (next?.kind === 'none' && wait && wait.waitMs > 0) {
      // Armed and handed out already, as any claim's.
      return { worker, finished, next: await this.#claimOrWait(worker, wait.waitMs, wait.signal, false, seen) };
    }
    if (next?.kind !== 'attempt') return { worker, finished, next };
    const armed = await this.#armed(worker, next);
    // Without its secrets the next attempt failed already: the worker asks again, and is told what to do.
    return { worker, finished, next: armed ? this.#handedOut(worker, armed) : null };
  }

  /**
   * The agent ran its cleanup and is exiting: the acknowledgement of the drain handshake.
   * Only now is its machine stopped, so no task in flight is ever killed by a stop.
   */
  async stopped(worker: WorkerIdentity, stop: WorkerStop): Promise<void> {
    const core = this.#core;
    const spec = await core.specs.get(core.store.db, worker.runId);
    this.#log(worker, `stopped: ${stop.reason}`);
    const gone = await core.mutate((trx, changes) => workerGone(trx, core.specOf(trx), worker.workerId, stop, changes));
    this.forget(worker);
    this.#machines.poke(poolOf(spec, worker.activity));
    this.#machines.freed(core.activities.activityOf(spec, worker.activity).provider);
    if (gone) core.background('stopping a drained machine', this.#machines.stopOf(worker.workerId, { drained: true }));
  }

  /**
   * Drops what this process remembers of a worker that ended, and closes its log once what
   * it held back is written: a log left open keeps a file open, one per worker ever started,
   * until the process runs out of them (a simulated eight days did, at 20,000). A line
   * written to it later opens it again.
   */
  forget(worker: { workerId: string; runId: string }): void {
    const { workerId } = worker;
    this.#lastSeen.delete(workerId);
    this.#keptWarm.delete(workerId);
    this.#seenStored.delete(workerId);
    const masks = this.#workerMasks.get(workerId);
    if (masks) this.#core.logs.append(masks.path, masks.mask.end());
    this.#workerMasks.delete(workerId);
    for (const [attemptId, log] of this.#attemptLogs) if (log.workerId === workerId) this.#endAttemptStream(attemptId);
    void this.#core.logs.close(this.#core.logs.workerPath(worker.runId, workerId));
  }

  /**
   * Notes a worker heard from: in memory at once, in the store at most twice per heartbeat
   * interval, so every coordinator on the store sees it alive at little cost.
   */
  async #heard(workerId: string): Promise<void> {
    const now = this.#core.clock.now();
    this.#lastSeen.set(workerId, now);
    if (now - (this.#seenStored.get(workerId) ?? 0) < this.#core.heartbeatIntervalMs / 2) return;
    this.#seenStored.set(workerId, now);
    await recordWorkerSeen(this.#core.store.db, workerId, now);
  }

  #settingsOf(spec: RunSpec, activityName: string, workerId: string): WorkerSettings {
    const { activities, archiveLimits } = this.#core;
    const activity = activities.activityOf(spec, activityName);
    const env = { SLIPWAY_RUN: spec.id, SLIPWAY_WORKER: workerId, SLIPWAY_ACTIVITY: activityName };
    const aux = (kind: 'prepare' | 'init' | 'cleanup', script: Script | undefined): WorkerScript | null => {
      if (!script) return null;
      if (!spec.options.fakeWorkers) return { script, env };
      const fake = fakeScript(kind, script);
      return { script: fake.script, env: { ...env, ...fake.env } };
    };
    const preparation = activities.preparation(spec, activityName);
    // A fleet's pool that keeps workers warm decides their idle stops itself.
    const keepsWarm = activities.minIdleOf(spec, activityName) !== 0 && fleetPoolName(poolOf(spec, activityName)) !== undefined;
    return {
      idle_timeout_ms: activity.idleTimeoutMs,
      ...(keepsWarm && { keep_warm: true }),
      heartbeat_interval_ms: this.#core.heartbeatIntervalMs,
      prepare: preparation ? { fingerprint: preparation.fingerprint, ...aux('prepare', preparation.script)! } : null,
      init: aux('init', activity.init),
      cleanup: aux('cleanup', activity.cleanup),
      source_digest: spec.sourceDigest,
      source_limits: { max_unpacked_bytes: archiveLimits.maxUnpackedBytes, max_archive_members: archiveLimits.maxMembers },
    };
  }

  /**
   * The attempt with the secrets its step lists and the artifacts of the tasks it needs, or
   * undefined when it cannot have its secrets: the attempt is then failed with the reason,
   * as if its script had, before anything ran.
   */
  async #armed(worker: WorkerIdentity, answer: Extract<ClaimAnswer, { kind: 'attempt' }>): Promise<Extract<ClaimAnswer, { kind: 'attempt' }> | undefined> {
    const core = this.#core;
    const order = answer.attempt;
    const spec = await core.specs.get(core.store.db, order.run);
    const inputs = spec.options.fakeWorkers ? [] : await this.#artifacts.inputsOf(spec, order.task, order.step);
    const withInputs = inputs.length > 0 ? { ...answer, attempt: { ...order, inputs } } : answer;
    const found = await attemptSecrets(core.store.db, core.settings.stateDir, spec, order.step, core.settings.trySecrets ?? []);
    if (!found) return withInputs;
    if ('secrets' in found) return { ...withInputs, attempt: { ...withInputs.attempt, secrets: found.secrets } };
    const result = { outcome: 'failed' as const, exitCode: null, error: found.refused, refused: true };
    await core.mutate((trx, changes) => finishAttempt(trx, core.specOf(trx), worker.workerId, order.id, result, changes));
    this.#log(worker, `${answer.workerName}: attempt ${order.id} failed (${found.refused})`);
    return undefined;
  }

  #handedOut(worker: WorkerIdentity, answer: Extract<ClaimAnswer, { kind: 'attempt' }>): ClaimAnswer {
    this.#machines.pushName(worker, answer.workerName);
    this.#keptWarm.delete(worker.workerId);
    // The attempt's log is its run's, whichever run the worker was started for.
    const path = this.#core.logs.attemptPath(answer.attempt.run, answer.attempt.id);
    const secrets = Object.values(answer.attempt.secrets ?? {});
    const mask = new SecretMask(secrets);
    this.#maskInWorkerLog(worker, secrets);
    this.#attemptLogs.set(answer.attempt.id, { runId: answer.attempt.run, workerId: worker.workerId, path, workerPath: this.#logPath(worker), mask });
    this.#log(worker, `${answer.workerName}: ${answer.attempt.kind} ${answer.attempt.task} of run ${answer.attempt.run} attempt ${answer.attempt.number} (${answer.attempt.id})`);
    return answer;
  }

  /** Adds secrets to those masked in the worker's own output from now on. */
  #maskInWorkerLog(worker: WorkerIdentity, secrets: string[]): void {
    const known = this.#workerMasks.get(worker.workerId);
    if (secrets.every((value) => known?.values.has(value))) return;
    const path = this.#logPath(worker);
    const values = new Set([...known?.values ?? [], ...secrets]);
    const mask = new SecretMask(values);
    // What the old mask held back goes through the new one, which holds back what it must.
    if (known) this.#core.logs.append(path, mask.push(known.mask.end()));
    this.#workerMasks.set(worker.workerId, { values, mask, path });
  }

  #logPath(worker: WorkerIdentity): string {
    return this.#core.logs.workerPath(worker.runId, worker.workerId);
  }

  /** A line in the worker's log, stamped. */
  #log(worker: WorkerIdentity, line: string): void {
    this.#core.logs.append(this.#logPath(worker), `${this.#core.stamp()} ${line}\n`);
  }

  #endAttemptStream(attemptId: string): void {
    const log = this.#attemptLogs.get(attemptId);
    if (log) {
      const held = log.mask.end();
      this.#core.logs.append(log.path, held);
      this.#core.logs.append(log.workerPath, held);
      void this.#core.logs.close(log.path);
    }
    this.#attemptLogs.delete(attemptId);
    this.#cancelled.delete(attemptId);
  }
}
