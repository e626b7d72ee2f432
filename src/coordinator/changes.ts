import type { RunEvent, RunEventKind } from '../engine/events.ts';
import type { Db } from '../store/store.ts';

type NewEvent = Omit<RunEvent, 'seq' | 'at' | 'run' | 'kind'>;

/**
 * What one transaction changed beyond its rows: the events it wrote, and the wake-ups
 * that may only happen once it has committed (a waiter woken earlier would not see the rows).
 */
export class Changes {
  readonly events: RunEvent[] = [];
  /** Pool key to the number of tasks that became claimable. */
  readonly queued = new Map<string, number>();
  /** Pool key to the time a delayed retry becomes claimable. */
  readonly delayed = new Map<string, number>();
  readonly finishedRuns = new Set<string>();
  readonly cancelledAttempts = new Set<string>();
  /** Workers told to stop: their waiting claims must hear it now. */
  readonly drained = new Set<string>();
  readonly now: number;

  constructor(now: number) {
    this.now = now;
  }

  async event(trx: Db, run: string, kind: RunEventKind, fields: NewEvent = {}): Promise<void> {
    const row = {
      at: this.now,
      run_id: run,
      kind,
      task_key: fields.task ?? null,
      worker_id: fields.worker ?? null,
      worker_name: fields.worker_name ?? null,
      attempt: fields.attempt ?? null,
      message: fields.message ?? null,
    };
    const result = await trx.insertInto('events').values(row).executeTakeFirst();
    this.events.push({ seq: Number(result.insertId), at: new Date(this.now).toISOString(), run, kind, ...fields });
  }

  queue(pool: string, count = 1): void {
    this.queued.set(pool, (this.queued.get(pool) ?? 0) + count);
  }

  delay(pool: string, at: number): void {
    this.delayed.set(pool, Math.min(at, this.delayed.get(pool) ?? Infinity));
  }
}
