/**
 * What other coordinator processes on the same store committed, brought to this one: for
 * each run someone here follows (a `slipway run` waiting for its run, a held heartbeat, a
 * browser on the live page), the events another process wrote are published on this
 * process's bus as if they had been made here. A cancel sent through a server thus reaches
 * the `slipway run` whose agent runs the task, and its end reaches the `slipway run` too.
 *
 * SQLite tells no other process of a commit, so the store is read every `intervalMs`
 * while anyone follows a run, and not at all otherwise; one indexed read of the events
 * after a cursor per followed run. On PostgreSQL another coordinator's commit notice
 * (commit-notices.ts) makes it read at once (`poke`), and the timer is a slow fallback for
 * a notice lost with a broken connection.
 */
import type { RunEvent } from '../engine/events.ts';
import { eventsAfter, lastEventSeq } from '../store/event-history.ts';
import type { Db } from '../store/store.ts';
import type { EventBus } from './event-bus.ts';

const DEFAULT_INTERVAL_MS = 500;
/** Events read per followed run per look; a run that wrote more is caught up by the next looks. */
const eventsPerLook = 10_000;

interface Followed {
  followers: number;
  /** The last event of the run this process has published, made here or read from the store. */
  cursor: number;
  /** Events made here and published already, by sequence number, until the cursor passes them. */
  local: Set<number>;
}

export class StoreWatch {
  readonly #db: Db;
  readonly #bus: EventBus;
  readonly #intervalMs: number;
  readonly #runs = new Map<string, Followed>();
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> | undefined;
  /** A notice came while a look was under way: another look follows it at once. */
  #poked = false;
  #closed = false;

  constructor(db: Db, bus: EventBus, intervalMs = DEFAULT_INTERVAL_MS) {
    this.#db = db;
    this.#bus = bus;
    this.#intervalMs = intervalMs;
  }

  /**
   * Follows a run from now on: what any process commits for it after this call is
   * published here. Resolves once the starting point is read; the function it gives
   * stops following.
   */
  async follow(runId: string): Promise<() => void> {
    const followed = this.#runs.get(runId);
    if (followed) followed.followers++;
    else {
      // Nothing is read from the store until the starting point is known.
      const entry: Followed = { followers: 1, cursor: Number.MAX_SAFE_INTEGER, local: new Set() };
      this.#runs.set(runId, entry);
      entry.cursor = await lastEventSeq(this.#db, runId);
    }
    this.#schedule();
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      const entry = this.#runs.get(runId);
      if (entry && --entry.followers === 0) this.#runs.delete(runId);
    };
  }

  /** Another process committed events of these runs: the followed ones are read now. */
  poke(runIds: readonly string[]): void {
    if (this.#closed || !runIds.some((runId) => this.#runs.has(runId))) return;
    this.#poked = true;
    if (this.#polling) return; // The look under way is followed by one more (#schedule).
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#look();
  }

  /** Notes events this process committed and published itself, so they are not published twice. */
  publishedHere(events: readonly RunEvent[]): void {
    for (const event of events) {
      const followed = this.#runs.get(event.run);
      // Also while the starting point is being read: the poll drops those it passes.
      if (followed) followed.local.add(event.seq);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    await this.#polling;
  }

  #schedule(): void {
    if (this.#timer || this.#polling || this.#closed || this.#runs.size === 0) return;
    if (this.#poked) {
      this.#look();
      return;
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#look();
    }, this.#intervalMs);
    this.#timer.unref();
  }

  #look(): void {
    this.#poked = false;
    this.#polling = this.#poll().finally(() => {
      this.#polling = undefined;
      this.#schedule();
    });
  }

  async #poll(): Promise<void> {
    for (const [runId, followed] of this.#runs) {
      let events;
      try {
        events = await eventsAfter(this.#db, followed.cursor, { run: runId, limit: eventsPerLook });
      } catch {
        return; // The store is busy or closing: the next look catches up.
      }
      const fresh: RunEvent[] = [];
      for (const event of events) {
        followed.cursor = Math.max(followed.cursor, event.seq);
        if (!followed.local.delete(event.seq)) fresh.push(event);
      }
      for (const seq of followed.local) if (seq <= followed.cursor) followed.local.delete(seq);
      this.#bus.publish(fresh);
    }
  }
}
