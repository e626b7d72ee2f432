import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/api/app.ts';
import { Coordinator } from '../../src/coordinator/coordinator.ts';
import { systemClock } from '../../src/engine/clock.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import { providerLifecycle } from '../../src/providers/provider.ts';
import { GroupCommit } from '../../src/store/group-commit.ts';
import { StoreUnavailable } from '../../src/store/store-errors.ts';
import { openSqliteStore, type Store } from '../../src/store/store.ts';
import { createToken, listTokens } from '../../src/store/tokens.ts';
import { repoRoot } from '../helpers/cli.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { tempDir } from '../helpers/temp.ts';

const busyTimeoutMs = 300;
const isRoot = process.getuid?.() === 0;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function scratch(): string {
  const dir = tempDir('slipway-unwritable-');
  cleanups.push(() => dir.remove());
  return dir.path;
}

async function openStore(path: string): Promise<Store> {
  const store = await openSqliteStore(path, { busyTimeoutMs, writable: true });
  cleanups.push(() => store.close());
  return store;
}

/** Another process's connection holding the write lock, as a second server or an sqlite3 shell would. */
function lockedBySomeoneElse(path: string): { release: () => void } {
  const other = new DatabaseSync(path);
  other.exec('BEGIN EXCLUSIVE');
  let open = true;
  const release = () => {
    if (!open) return;
    open = false;
    other.exec('ROLLBACK');
    other.close();
  };
  cleanups.push(release);
  return { release };
}

let added = 0;
/** A small write: tokens list in the order they were added. */
const addToken = (db: Store['db'], name: string) => {
  added += 1;
  return db.insertInto('tokens').values({ id: `t-${added}`, name, scopes: 'read', secret_hash: `hash-${added}`, created_at: added, revoked_at: null }).execute();
};

const tokenNames = async (store: Store) => (await listTokens(store.db)).map((t) => t.name);

async function rejection(promise: Promise<unknown>): Promise<StoreUnavailable> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(StoreUnavailable);
  return error as StoreUnavailable;
}

describe('a store locked by another process', () => {
  it('fails a write with a clear error once the busy timeout has passed, and takes it after the lock is released', async () => {
    const path = join(scratch(), 'slipway.db');
    const store = await openStore(path);
    await addToken(store.db, 'before');
    const lock = lockedBySomeoneElse(path);

    const started = Date.now();
    const error = await rejection(store.transaction((trx) => addToken(trx, 'during')));
    const waited = Date.now() - started;
    expect(error.message).toBe(`the store ${path} cannot be written: it is locked by another process (busy for 0.3s; is another slipway server, or an sqlite3 shell, using it?)`);
    expect(error.trouble).toBe('locked');
    expect(waited).toBeGreaterThanOrEqual(busyTimeoutMs - 50);
    expect(waited).toBeLessThan(busyTimeoutMs + 2000);
    // Readers are not held up by a writer's lock.
    expect(await tokenNames(store)).toEqual(['before']);

    lock.release();
    await store.transaction((trx) => addToken(trx, 'after'));
    expect(await tokenNames(store)).toEqual(['before', 'after']);
  });

  it('fails a whole group-commit batch after one wait, keeps none of it, and commits the next batch', async () => {
    const path = join(scratch(), 'slipway.db');
    const store = await openStore(path);
    const writes = new GroupCommit(store.transaction);
    const lock = lockedBySomeoneElse(path);

    const started = Date.now();
    const batch = ['a', 'b', 'c', 'd'].map((name) => writes.run((trx) => addToken(trx, name)));
    const errors = await Promise.all(batch.map(rejection));
    // The lock is waited out once for the batch, not once per operation.
    expect(Date.now() - started).toBeLessThan(busyTimeoutMs * 3);
    for (const error of errors) expect(error.trouble).toBe('locked');

    lock.release();
    await Promise.all(['e', 'f'].map((name) => writes.run((trx) => addToken(trx, name))));
    expect(await tokenNames(store)).toEqual(['e', 'f']);
  });

  it('is not opened for writing, and is opened for reading', async () => {
    const path = join(scratch(), 'slipway.db');
    await (await openSqliteStore(path)).close();
    lockedBySomeoneElse(path);
    expect((await rejection(openSqliteStore(path, { busyTimeoutMs, writable: true }))).trouble).toBe('locked');
    const reader = await openSqliteStore(path, { busyTimeoutMs });
    cleanups.push(() => reader.close());
    expect(await tokenNames(reader)).toEqual([]);
  });

  it('is written by a transaction only before or after it, never in its middle', async () => {
    // Were the write lock taken at the first write, another process could commit after
    // the transaction had read: SQLite then fails the write at once (SQLITE_BUSY_SNAPSHOT).
    const path = join(scratch(), 'slipway.db');
    const store = await openStore(path);
    const other = new DatabaseSync(path);
    cleanups.push(() => other.close());
    const meanwhile = await store.transaction(async (trx) => {
      const before = (await trx.selectFrom('tokens').select('name').execute()).map((t) => t.name);
      let outcome: string;
      try {
        other.exec(`insert into tokens values ('t-other', 'other', 'read', 'hash-other', 0, null)`);
        outcome = 'the other process wrote';
      } catch (error) {
        outcome = (error as Error).message;
      }
      await addToken(trx, 'mine');
      return { before, outcome };
    });
    expect(meanwhile).toEqual({ before: [], outcome: 'database is locked' });
    expect(await tokenNames(store)).toEqual(['mine']);
  });
});

describe('a read-only store', () => {
  it('fails a write with a clear error, and takes writes again once it is writable', async () => {
    // query_only is SQLite's own read-only switch, and holds for root too.
    const path = join(scratch(), 'slipway.db');
    const store = await openStore(path);
    await addToken(store.db, 'before');
    await sql`pragma query_only = 1`.execute(store.db);
    const error = await rejection(store.transaction((trx) => addToken(trx, 'during')));
    expect(error.message).toBe(`the store ${path} cannot be written: it is read-only (check the permissions of the file, its -wal and -shm files and its directory)`);
    expect(error.trouble).toBe('read-only');
    expect(await tokenNames(store)).toEqual(['before']);
    await sql`pragma query_only = 0`.execute(store.db);
    await store.transaction((trx) => addToken(trx, 'after'));
    expect(await tokenNames(store)).toEqual(['before', 'after']);
  });

  it.skipIf(isRoot)('whose file is mode 0444 is refused at open for writing, and still opens for reading (root ignores file modes: covered by the server test, run as nobody)', async () => {
    const path = join(scratch(), 'slipway.db');
    const first = await openSqliteStore(path);
    await addToken(first.db, 'kept');
    await first.close();
    for (const name of readdirSync(join(path, '..'))) chmodSync(join(path, '..', name), 0o444);
    const error = await rejection(openSqliteStore(path, { busyTimeoutMs, writable: true }));
    expect(error.message).toMatch(/cannot be written: it is read-only/);
    const reader = await openSqliteStore(path, { busyTimeoutMs });
    cleanups.push(() => reader.close());
    expect(await tokenNames(reader)).toEqual(['kept']);
  });
});

describe('a full disk', () => {
  async function fillUp(store: Store): Promise<number> {
    const { page_count: pages } = (await sql<{ page_count: number }>`pragma page_count`.execute(store.db)).rows[0]!;
    await sql.raw(`pragma max_page_count = ${pages}`).execute(store.db);
    return pages;
  }
  const big = 'x'.repeat(200_000);

  it('fails a write with "the disk is full", keeps earlier data intact and readable, and writes again once there is room', async () => {
    const path = join(scratch(), 'slipway.db');
    const store = await openStore(path);
    await addToken(store.db, 'before');
    const pages = await fillUp(store);

    const error = await rejection(store.transaction((trx) => addToken(trx, big)));
    expect(error.message).toBe(`the store ${path} cannot be written: the disk is full (free some space)`);
    expect(error.trouble).toBe('full');
    expect(await tokenNames(store)).toEqual(['before']);
    expect((await sql<{ integrity_check: string }>`pragma integrity_check`.execute(store.db)).rows).toEqual([{ integrity_check: 'ok' }]);

    await sql.raw(`pragma max_page_count = ${pages + 1000}`).execute(store.db);
    await store.transaction((trx) => addToken(trx, big));
    expect(await tokenNames(store)).toEqual(['before', big]);
  });

  it('undoes the whole group-commit batch, even the operations that fitted', async () => {
    const path = join(scratch(), 'slipway.db');
    const store = await openStore(path);
    const writes = new GroupCommit(store.transaction);
    await fillUp(store);
    const small = writes.run((trx) => addToken(trx, 'small'));
    const large = writes.run((trx) => addToken(trx, big));
    expect((await rejection(small)).trouble).toBe('full');
    expect((await rejection(large)).trouble).toBe('full');
    expect(await tokenNames(store)).toEqual([]);
    await sql`pragma max_page_count = 1073741823`.execute(store.db);
    await writes.run((trx) => addToken(trx, 'small'));
    expect(await tokenNames(store)).toEqual(['small']);
  });
});

describe('a transaction that fails', () => {
  it('at COMMIT is rolled back, so the connection takes the next one', async () => {
    const store = await openStore(join(scratch(), 'slipway.db'));
    const writes = new GroupCommit(store.transaction);
    // A deferred foreign key is checked at COMMIT, and SQLite keeps the transaction open when it fails.
    const orphan = async (trx: Store['db']) => {
      await sql`pragma defer_foreign_keys = on`.execute(trx);
      await sql`insert into tasks (run_id, key, seq, step, matrix, status, pool, pending_needs) values ('r-missing', 'k', 0, 's', '{}', 'waiting', 'p', 0)`.execute(trx);
    };
    const failed = await writes.run(orphan).then(() => undefined, (e: Error) => e);
    expect(failed?.message).toMatch(/FOREIGN KEY constraint failed/);
    await writes.run((trx) => addToken(trx, 'next'));
    expect(await tokenNames(store)).toEqual(['next']);
    expect(await store.db.selectFrom('tasks').selectAll().execute()).toEqual([]);
  });

  it('that SQLite already rolled back reports its own failure, not the ROLLBACK that follows', async () => {
    const store = await openStore(join(scratch(), 'slipway.db'));
    // SQLite ends the transaction itself on some I/O errors; a statement can do the same.
    const failed = await store.transaction(async (trx) => {
      await addToken(trx, 'lost');
      await sql`rollback`.execute(trx);
      throw new Error('the real failure');
    }).then(() => undefined, (e: Error) => e);
    expect(failed?.message).toBe('the real failure');
    await store.transaction((trx) => addToken(trx, 'next'));
    expect(await tokenNames(store)).toEqual(['next']);
  });
});

describe('the HTTP API on a locked store', () => {
  it('answers 503 with the reason and a retry-after, reports one fault line, and answers 2xx once the lock is gone', async () => {
    const dir = scratch();
    const path = join(dir, 'slipway.db');
    const store = await openStore(path);
    const coordinator = new Coordinator(store, systemClock, {
      stateDir: dir, heartbeatTimeoutMs: 60_000, healthIntervalMs: 3_600_000, startTimeoutMs: 120_000,
      providerRetry: { attempts: 1, delayMs: 0, backoff: 1, maxDelayMs: 0 },
    }, []);
    cleanups.push(() => coordinator.close());
    const faults: string[] = [];
    coordinator.onFault((message) => faults.push(message));
    mkdirSync(join(dir, 'source'));
    const pipeline = pipelineOf([{ name: 'build' }], { sourceDir: join(dir, 'source') });
    const run = await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
    const submit = (await createToken(store.db, 'submitter', ['submit'], Date.now())).secret;
    const app = createApp(coordinator, store.db);
    const cancel = () => app.request(`/api/v1/runs/${run.runId}/cancel`, { method: 'POST', headers: { authorization: `Bearer ${submit}` } });
    const register = () => app.request('/api/v1/worker/register', {
      method: 'POST', body: JSON.stringify({ activity: 'builder', hostname: 'test', pid: 1 }), headers: { authorization: `Bearer ${run.joinToken}` },
    });

    const lock = lockedBySomeoneElse(path);
    const expected = `the store ${path} cannot be written: it is locked by another process (busy for 0.3s; is another slipway server, or an sqlite3 shell, using it?)`;
    for (const response of [await cancel(), await register()]) {
      expect(response.status).toBe(503);
      expect(response.headers.get('retry-after')).toBe('5');
      expect(await response.json()).toEqual({ error: expected });
    }
    // Both requests failed alike: the operator hears it once. Work the coordinator started
    // on its own (provisioning the new run's pool) may fail too: each fault is one line.
    expect(faults.filter((fault) => fault.startsWith('POST'))).toEqual([`POST /api/v1/runs/${run.runId}/cancel failed: ${expected}`]);
    for (const fault of faults) {
      expect(fault.endsWith(` failed: ${expected}`), fault).toBe(true);
      expect(fault).not.toContain('\n');
    }

    lock.release();
    expect((await register()).status).toBe(200);
    const cancelled = await cancel();
    expect(cancelled.status).toBe(200);
    expect(((await cancelled.json()) as { run: { status: string } }).run.status).toBe('cancelled');
  });
});

describe('a coordinator whose background work finds the store unavailable', () => {
  it('reports a machine that exited while the store was locked as one fault line, and loses the worker once it is writable', async () => {
    const dir = scratch();
    const path = join(dir, 'slipway.db');
    const store = await openStore(path);
    let exited: ((workerId: string, description: string, clean: boolean) => void) | undefined;
    const provider = {
      name: 'local', async start() { return { pid: 0 }; }, async stop() {},
      onExit(listener: typeof exited) { exited = listener; },
    };
    const coordinator = new Coordinator(store, systemClock, {
      stateDir: dir, heartbeatTimeoutMs: 60_000, healthIntervalMs: 3_600_000, startTimeoutMs: 120_000,
      providerRetry: { attempts: 1, delayMs: 0, backoff: 1, maxDelayMs: 0 },
    }, [providerLifecycle(provider)]);
    cleanups.push(() => coordinator.close());
    const faults: string[] = [];
    coordinator.onFault((message) => faults.push(message));
    mkdirSync(join(dir, 'source'));
    const pipeline = pipelineOf([{ name: 'build' }], { sourceDir: join(dir, 'source') });
    const run = await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: false });
    await coordinator.settled();
    const worker = await store.db.selectFrom('workers').select('id').where('run_id', '=', run.runId).executeTakeFirstOrThrow();

    const lock = lockedBySomeoneElse(path);
    exited!(worker.id, 'agent process 1 killed by SIGKILL', false);
    while (faults.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(faults).toEqual([expect.stringMatching(/^noting a machine that exited failed: the store \S+ cannot be written: it is locked by another process/)]);
    lock.release();

    exited!(worker.id, 'agent process 1 killed by SIGKILL', false);
    const stateOf = async () => (await store.db.selectFrom('workers').select('state').where('id', '=', worker.id).executeTakeFirstOrThrow()).state;
    for (let tries = 0; tries < 100 && await stateOf() !== 'lost'; tries++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await stateOf()).toBe('lost');
    expect(faults).toHaveLength(1);
  });
});

/** Root ignores file modes; a server run as nobody does not. */
function unprivileged(): { uid?: number; gid?: number; skip?: string } {
  if (!isRoot) return {};
  const probe = spawnSync(process.execPath, ['-e', '0'], { uid: 65534, gid: 65534 });
  if (probe.status !== 0) return { skip: `running as root, and cannot run a process as nobody (${probe.error?.message ?? `exit ${probe.status}`})` };
  return { uid: 65534, gid: 65534 };
}

describe('slipway server on a store it cannot write', () => {
  const as = unprivileged();

  /** Starts the server on `db`; it must give up on its own, and is killed if it does not. */
  async function server(dir: string, db: string): Promise<{ code: number | null; stderr: string }> {
    const child = spawn(process.execPath, [join(repoRoot, 'src/cli/main.ts'), 'server', '--listen', '127.0.0.1:0', '--db', db], {
      cwd: dir, env: { ...process.env, XDG_STATE_HOME: join(dir, 'state'), NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'], uid: as.uid, gid: as.gid,
    });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.stdout!.resume();
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    try {
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      return { code, stderr };
    } finally {
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
    }
  }

  function ownedByServer(dir: string): void {
    if (as.uid !== undefined) chownSync(dir, as.uid, as.gid!);
  }

  it.skipIf(Boolean(as.skip))(`exits 1 with one line when the store file is read-only${as.skip ? ` (skipped: ${as.skip})` : ''}`, async () => {
    const dir = scratch();
    ownedByServer(dir);
    const stores = join(dir, 'stores');
    mkdirSync(stores);
    ownedByServer(stores);
    const db = join(stores, 'slipway.db');
    await (await openSqliteStore(db)).close();
    for (const name of readdirSync(stores)) {
      ownedByServer(join(stores, name));
      chmodSync(join(stores, name), 0o444);
    }
    const { code, stderr } = await server(dir, db);
    expect(stderr).toBe(`slipway: the store ${db} cannot be written: it is read-only (check the permissions of the file, its -wal and -shm files and its directory)\n`);
    expect(code).toBe(1);
  });

  it.skipIf(Boolean(as.skip))(`exits 1 with one line when the store's directory is not writable${as.skip ? ` (skipped: ${as.skip})` : ''}`, async () => {
    const dir = scratch();
    ownedByServer(dir);
    const stores = join(dir, 'stores');
    mkdirSync(stores);
    ownedByServer(stores);
    chmodSync(stores, 0o555);
    cleanups.push(() => chmodSync(stores, 0o755));
    const fresh = await server(dir, join(stores, 'slipway.db'));
    expect(fresh.stderr).toBe(`slipway: the store ${join(stores, 'slipway.db')} cannot be opened: unable to open database file (check that its directory exists and that you can write to it)\n`);
    expect(fresh.code).toBe(1);
    const nested = await server(dir, join(stores, 'more', 'slipway.db'));
    expect(nested.stderr).toBe(`slipway: the store ${join(stores, 'more', 'slipway.db')} cannot be opened: its directory cannot be created (EACCES: permission denied, mkdir '${join(stores, 'more')}')\n`);
    expect(nested.code).toBe(1);
  });
});
