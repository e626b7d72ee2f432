import pg from 'pg';
import { sql } from 'kysely';
import type { Db } from './store.ts';

/**
 * What a committed transaction changed that other coordinator processes on the store act
 * on at once: runs with new events (a follower there reads them), pools with new work (a
 * waiting claim there takes it), workers told to stop and attempts cancelled (their held
 * claims and heartbeats there hear it).
 */
export interface CommitNotice {
  /** The coordinator that committed: it acted on its own changes already. */
  origin: string;
  runs: string[];
  queued: [pool: string, count: number][];
  delayed: [pool: string, at: number][];
  drained: string[];
  cancelled: string[];
}

// PostgreSQL takes payloads under 8000 bytes.
const payloadLimit = 7900;

/**
 * Sends the notice with the transaction, on PostgreSQL only: it delivers it at commit, to
 * every coordinator listening on the store, and drops it with a rollback. SQLite tells no
 * other process; its coordinators read the store on a timer instead (store-watch.ts).
 */
export async function sendCommitNotice(trx: Db, notice: CommitNotice): Promise<void> {
  for (const payload of payloads(notice)) await sql`select ${noticeCall(payload)}`.execute(trx);
}

/** The call that sends a notice's payload, for a statement that carries it with its own work (see insertEvents). */
export function noticeCall(payload: unknown) {
  return sql<string>`pg_notify('slipway:' || current_schema(), ${payload})`;
}

/** The notice's payload when it fits in one, as a statement can carry it; undefined when it takes several. */
export function onePayload(notice: CommitNotice): string | undefined {
  const all = payloads(notice);
  return all.length === 1 ? all[0] : undefined;
}

/** The notice as JSON, in as many pieces as the payload limit asks (a run's creation queues many pools). */
function payloads(notice: CommitNotice): string[] {
  const whole = JSON.stringify(notice);
  if (whole.length <= payloadLimit) return [whole];
  const pieces: string[] = [];
  const empty = (): CommitNotice => ({ origin: notice.origin, runs: [], queued: [], delayed: [], drained: [], cancelled: [] });
  let piece = empty();
  let size = JSON.stringify(piece).length;
  for (const key of ['runs', 'queued', 'delayed', 'drained', 'cancelled'] as const) {
    for (const entry of notice[key]) {
      const entrySize = JSON.stringify(entry).length + 1;
      if (size + entrySize > payloadLimit) {
        pieces.push(JSON.stringify(piece));
        piece = empty();
        size = JSON.stringify(piece).length;
      }
      (piece[key] as unknown[]).push(entry);
      size += entrySize;
    }
  }
  pieces.push(JSON.stringify(piece));
  return pieces;
}

export interface CommitListener {
  close(): Promise<void>;
}

/**
 * Listens for the notices of the store at `url` on a connection of its own; `onNotice`
 * hears each, `onLost` that the connection broke, after which a new one is made (notices
 * sent meanwhile are lost: the caller's timer catches up).
 */
export async function listenForCommitNotices(url: string, onNotice: (notice: CommitNotice) => void, onLost: (error: Error) => void): Promise<CommitListener> {
  let client: pg.Client | undefined;
  let closed = false;
  let retry: NodeJS.Timeout | undefined;
  const reconnectSoon = (error: Error): void => {
    if (closed) return;
    onLost(error);
    retry = setTimeout(() => void connect().catch(reconnectSoon), 1000);
    retry.unref();
  };
  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: url });
    next.on('notification', (message) => {
      let notice: CommitNotice;
      try {
        notice = JSON.parse(message.payload ?? '') as CommitNotice;
      } catch {
        return; // Not a notice of ours: another program on the channel.
      }
      onNotice(notice);
    });
    next.on('error', (error) => {
      next.end().catch(() => undefined);
      if (client === next) client = undefined;
      reconnectSoon(error);
    });
    try {
      await next.connect();
      const { rows } = await next.query<{ schema: string }>('select current_schema() as schema');
      await next.query(`listen ${next.escapeIdentifier(`slipway:${rows[0]!.schema}`)}`);
    } catch (error) {
      await next.end().catch(() => undefined);
      throw error;
    }
    if (closed) await next.end();
    else client = next;
  };
  await connect();
  return {
    close: async () => {
      closed = true;
      clearTimeout(retry);
      await client?.end();
    },
  };
}
