import { hostname } from 'node:os';
import { join } from 'node:path';
import { isAlive } from '../agent/process-tree.ts';
import { defaultArchiveLimits, type ArchiveLimits } from '../archive/check.ts';
import type { Clock } from '../engine/clock.ts';
import { heartbeatIntervalMs } from '../engine/liveness.ts';
import { mayStopMachine } from '../engine/machine-owner.ts';
import type { ProviderLifecycle } from '../providers/provider.ts';
import { listenForCommitNotices, onePayload, sendCommitNotice, type CommitListener } from '../store/commit-notices.ts';
import { GroupCommit, type AfterCommit, type Gatherer } from '../store/group-commit.ts';
import { isDeadlock, isPostgres, type WriteMode } from '../store/postgres-dialect.ts';
import type { Store } from '../store/store.ts';
import { newId } from '../util/ids.ts';
import { Changes } from './changes.ts';
import { EventBus } from './event-bus.ts';
import type { Logs } from './logs.ts';
import { openLogs } from './open-logs.ts';
import type { SpecOf } from './ops/claim.ts';
import { liveCoordinators } from './ops/coordinator-lease.ts';
import { RunActivities } from './run-activities.ts';
import { RunSpecs } from './run-specs.ts';
import type { CoordinatorSettings } from './settings.ts';
import { StoreWatch } from './store-watch.ts';

/** Operations of one kind run as one in a batch (see CoordinatorCore.mutateGathered). */
export type Gathered<I, T> = (trx: Store['db'], items: { input: I; changes: Changes }[]) => Promise<T[]>;

/**
 * Work a transaction does after its operations, before its events are written: it may do
 * operations of its own there, their changes written and published with the others'. A
 * worker waiting here for a task is handed one its transaction queued, in that same
 * transaction (see WorkerSessions). `after` hears whether the transaction committed.
 */
export type HandOff = (trx: Store['db'], operations: readonly Changes[]) => Promise<{ changes: Changes[]; after: AfterCommit } | undefined>;

/** How often followers look at a PostgreSQL store when no notice came: a notice lost with its connection is found by this. */
const postgresFallbackLookMs = 5_000;
/** How many times a transaction PostgreSQL failed to end a deadlock is done in all. */
const deadlockTries = 3;

/**
 * What the coordinator's jobs (worker sessions, machines, health) share: the store and
 * the one way to change it, the clock, the logs, the events, and this process's identity.
 * Every state change is one transaction through `mutate`; what it implies (wake-ups,
 * provisioning, cancels) is done by each job's commit listener after the commit.
 */
export class CoordinatorCore {
  readonly events = new EventBus();
  readonly logs: Logs;
  readonly store: Store;
  readonly clock: Clock;
  readonly settings: CoordinatorSettings;
  readonly providers: ReadonlyMap<string, ProviderLifecycle>;
  readonly specs = new RunSpecs();
  readonly activities: RunActivities;
  readonly watch: StoreWatch;
  /** This process's id on the store: the owner of the machines it starts. */
  readonly id = newId('c');
  /**
   * Nothing said before this process started was heard: a worker's silence is counted
   * from here at the earliest, so a restarted coordinator gives its agents time to reconnect.
   */
  readonly startedAt: number;
  /** Runs created or rerun here, for a coordinator that looks after only those. */
  readonly own = new Set<string>();
  readonly #writes: GroupCommit<{ changes: Changes }>;
  readonly #gatherers = new Map<Gathered<any, any>, Gatherer<any, { result: unknown; changes: Changes }>>();
  /** Cancels of the waits this process set (core.later), dropped when it closes. */
  readonly #timers = new Set<() => void>();
  /** Background jobs in flight (see background). */
  #jobs = 0;
  readonly #commitListeners: ((changes: Changes) => void)[] = [];
  #handOff: HandOff | undefined;
  /** Whether other coordinators hear this one's commits: on PostgreSQL (SQLite tells no other process). */
  readonly #noticesOthers: boolean;
  #listener: CommitListener | undefined;
  #listening: Promise<void> | undefined;
  readonly #faultListeners: ((message: string) => void)[] = [];
  #closed = false;

  constructor(store: Store, clock: Clock, settings: CoordinatorSettings, providers: ProviderLifecycle[]) {
    this.store = store;
    this.clock = clock;
    this.settings = settings;
    this.startedAt = clock.now();
    this.logs = openLogs(store.db, join(settings.stateDir, 'logs'), settings.maxLogBytes);
    this.#writes = new GroupCommit(store.transaction, (trx, done) => this.#beforeCommit(trx, done.map(({ changes }) => changes)));
    // On PostgreSQL, other coordinators' commit notices wake the watch; its timer is a fallback.
    this.#noticesOthers = isPostgres(store.db);
    this.watch = new StoreWatch(store.db, this.events, settings.storeLookMs ?? (this.#noticesOthers ? postgresFallbackLookMs : undefined));
    this.providers = new Map(providers.map((p) => [p.name, p]));
    this.activities = new RunActivities(settings.pools);
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** What one source archive may unpack to, here and on its workers. */
  get archiveLimits(): ArchiveLimits {
    return this.settings.archiveLimits ?? defaultArchiveLimits;
  }

  get heartbeatIntervalMs(): number {
    return heartbeatIntervalMs(this.settings.heartbeatTimeoutMs);
  }

  /** Whether a store write is queued or in flight. */
  get writing(): boolean {
    return this.#writes.pending;
  }

  /**
   * One transaction; once it committed, its events are published and every job hears its
   * changes. `shared`: for work that locks the rows it decides on, which may then run beside
   * other such work on PostgreSQL (see WriteMode).
   */
  async mutate<T>(work: (trx: Store['db'], changes: Changes) => Promise<T>, mode: WriteMode = 'exclusive'): Promise<T> {
    return this.#retried(() => this.#writes.run(async (trx) => {
      // New each time the work runs: another operation of its batch may have undone it.
      const changes = new Changes(this.clock.now());
      return { result: await work(trx, changes), changes };
    }, mode));
  }

  /**
   * mutate for operations of one kind that a batch runs as one (see GroupCommit.gather):
   * `gather` is given the inputs of those that arrived one after the other, each with its
   * own changes, and answers each one's result, in order.
   */
  async mutateGathered<I, T>(gather: Gathered<I, T>, input: I, mode: WriteMode = 'exclusive'): Promise<T> {
    let gatherer = this.#gatherers.get(gather) as Gatherer<I, { result: T; changes: Changes }> | undefined;
    if (!gatherer) {
      gatherer = async (trx, inputs) => {
        const items = inputs.map((each) => ({ input: each, changes: new Changes(this.clock.now()) }));
        const results = await gather(trx, items);
        return results.map((result, i) => ({ result, changes: items[i]!.changes }));
      };
      this.#gatherers.set(gather, gatherer);
    }
    const writes = this.#writes;
    return this.#retried(() => writes.gather(gatherer, input, mode));
  }

  async #retried<T>(write: () => Promise<{ result: T }>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return (await write()).result;
      } catch (error) {
        // PostgreSQL ends a deadlock by failing one of its transactions, which shared ones can
        // meet (two claims of one worker on two coordinators, each batched with another's).
        // Nothing of it was committed: it is done again, as new.
        if (tries < deadlockTries && isDeadlock(error)) continue;
        throw error;
      }
    }
  }

  /**
   * What a transaction does last, for all its operations at once: the hand-off of what they
   * queued to workers waiting here, then their events in one statement, which on PostgreSQL
   * also sends one notice to the other coordinators. Once it committed, its events are
   * published and every job hears its changes, operation by operation, in order.
   */
  async #beforeCommit(trx: Store['db'], operations: Changes[]): Promise<AfterCommit> {
    const handedOff = await this.#handOff?.(trx, operations);
    const all = handedOff ? [...operations, ...handedOff.changes] : operations;
    // On PostgreSQL the notice goes with the events, in their statement, when it can.
    const notice = this.#noticesOthers ? Changes.notice(this.id, all) : undefined;
    const carried = await Changes.write(trx, all, notice && onePayload(notice));
    // Before the commit: a look at the store that reads them once committed must know them for this process's.
    for (const changes of all) this.watch.publishedHere(changes.events);
    if (notice && !carried) await sendCommitNotice(trx, notice);
    return (committed) => {
      if (committed) for (const changes of all) this.#committed(changes);
      handedOff?.after(committed);
    };
  }

  /** A transaction's changes, committed: nothing here may fail the operations, which are done. */
  #committed(changes: Changes): void {
    for (const act of [() => this.events.publish(changes.events), ...this.#commitListeners.map((listener) => () => listener(changes))]) {
      try {
        act();
      } catch (error) {
        this.reportFault('acting on a commit', error);
      }
    }
  }

  onCommit(listener: (changes: Changes) => void): void {
    this.#commitListeners.push(listener);
  }

  /** Sets the work each transaction does after its operations (see HandOff); one per process. */
  handOffWith(handOff: HandOff): void {
    this.#handOff = handOff;
  }

  /**
   * Hears what other coordinators on a PostgreSQL store commit, as if committed here: their
   * events reach this process's followers, their queued tasks its waiting claims, within
   * milliseconds. Nothing on SQLite, whose followers read on a timer.
   */
  listen(): Promise<void> {
    this.#listening ??= this.#listen();
    return this.#listening;
  }

  async #listen(): Promise<void> {
    if (!this.#noticesOthers || this.#closed) return;
    const listener = await listenForCommitNotices(this.store.location, (notice) => {
      if (notice.origin === this.id || this.#closed) return;
      this.watch.poke(notice.runs);
      const changes = Changes.of(notice, this.clock.now());
      for (const commitListener of this.#commitListeners) commitListener(changes);
    }, (error) => this.reportFault('listening for other coordinators\' commits', error));
    if (this.#closed) await listener.close();
    else this.#listener = listener;
  }

  /** Specs read within a transaction (cached: immutable once written). */
  specOf(trx: Store['db']): SpecOf {
    return (runId) => this.specs.get(trx, runId);
  }

  looksAfter(runId: string): boolean {
    return !this.settings.ownRunsOnly || this.own.has(runId);
  }

  /** The coordinator processes on the store taken to be alive, and the URLs they serve (see liveCoordinators). */
  liveCoordinators(): Promise<{ ids: Set<string>; urls: Set<string> }> {
    return liveCoordinators(this.store.db, this.clock.now(), { host: hostname(), running: isAlive });
  }

  /** Whether this process may stop a machine `owner` started (see mayStopMachine). */
  async mayStop(owner: string | null): Promise<boolean> {
    if (owner === null || owner === this.id) return true;
    return mayStopMachine(owner, this.id, (await this.liveCoordinators()).ids);
  }

  /** Runs `action` after `ms` of the clock's time, unless this process closed meanwhile or it is cancelled (what it returns). */
  later(ms: number, action: () => void): () => void {
    const cancel = this.clock.after(ms, () => { this.#timers.delete(cancel); if (!this.#closed) action(); });
    this.#timers.add(cancel);
    return () => {
      cancel();
      this.#timers.delete(cancel);
    };
  }

  /** Nothing new starts from here on: timers are dropped, and jobs see `closed`. */
  close(): void {
    this.#closed = true;
    for (const cancel of this.#timers) cancel();
    this.background('closing the commit listener', this.#listener?.close() ?? Promise.resolve());
  }

  stamp(): string {
    return new Date(this.clock.now()).toISOString();
  }

  /**
   * Work the coordinator starts by itself has no caller to fail to: its failure (a store
   * that cannot be written, say) is reported, never left to end the process, and the next
   * health check heals what it left undone.
   */
  background(what: string, work: Promise<unknown>): void {
    this.#jobs += 1;
    work.catch((error: unknown) => this.reportFault(what, error)).finally(() => { this.#jobs -= 1; });
  }

  /** Whether background work is in flight. */
  get working(): boolean {
    return this.#jobs > 0;
  }

  /** Something went wrong that no request is waiting to hear about. */
  reportFault(what: string, error: unknown): void {
    const message = `${what} failed: ${(error as Error).stack ?? String(error)}`;
    if (this.#faultListeners.length === 0) process.emitWarning(`slipway: ${message}`);
    for (const listener of this.#faultListeners) listener(message);
  }

  onFault(listener: (message: string) => void): () => void {
    this.#faultListeners.push(listener);
    return () => this.#faultListeners.splice(this.#faultListeners.indexOf(listener), 1);
  }
}
