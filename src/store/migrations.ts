import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { claimableTask } from './claimable.ts';
import { isPostgres } from './postgres-dialect.ts';

/**
 * Forward-only migrations, applied in order at open. Each is one transaction; the
 * version reached is kept in schema_version.
 */
const migrations: ((db: Kysely<any>) => Promise<void>)[] = [
  async (db) => {
    await db.schema.createTable('runs')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('pipeline', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('spec', 'text', (c) => c.notNull())
      .addColumn('selection', 'text', (c) => c.notNull())
      .addColumn('options', 'text', (c) => c.notNull())
      .addColumn('source_dir', 'text', (c) => c.notNull())
      .addColumn('source_digest', 'text')
      .addColumn('join_token_hash', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('finished_at', 'bigint')
      .execute();
    await db.schema.createIndex('runs_created').on('runs').columns(['created_at']).execute();

    await db.schema.createTable('tasks')
      .addColumn('run_id', 'text', (c) => c.notNull().references('runs.id'))
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('seq', 'integer', (c) => c.notNull())
      .addColumn('step', 'text', (c) => c.notNull())
      .addColumn('matrix', 'text', (c) => c.notNull())
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('pool', 'text', (c) => c.notNull())
      .addColumn('pending_needs', 'integer', (c) => c.notNull())
      .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('checks', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('active_attempt', 'text')
      .addColumn('not_before', 'bigint')
      .addColumn('error', 'text')
      .addPrimaryKeyConstraint('tasks_pk', ['run_id', 'key'])
      .execute();
    // Claims walk this in queue order and stop at the first task they may take.
    await db.schema.createIndex('tasks_claimable').on('tasks').columns(['run_id', 'pool', 'seq'])
      .where(claimableTask).execute();
    await db.schema.createIndex('tasks_status').on('tasks').columns(['run_id', 'status']).execute();

    await db.schema.createTable('task_needs')
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('needs_key', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('task_needs_pk', ['run_id', 'needs_key', 'key'])
      .execute();

    await db.schema.createTable('attempts')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('task_key', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('number', 'integer', (c) => c.notNull())
      .addColumn('worker_id', 'text', (c) => c.notNull())
      .addColumn('outcome', 'text')
      .addColumn('exit_code', 'integer')
      .addColumn('error', 'text')
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('finished_at', 'bigint')
      .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.createIndex('attempts_task').on('attempts').columns(['run_id', 'task_key']).execute();
    await db.schema.createIndex('attempts_worker').on('attempts').columns(['worker_id']).execute();

    await db.schema.createTable('workers')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('activity', 'text', (c) => c.notNull())
      .addColumn('provider', 'text', (c) => c.notNull())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('state', 'text', (c) => c.notNull())
      .addColumn('tasks_done', 'integer', (c) => c.notNull().defaultTo(0))
      .addColumn('last_task', 'text')
      .addColumn('registration_hash', 'text')
      .addColumn('credential_hash', 'text')
      .addColumn('machine', 'text')
      .addColumn('error', 'text')
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('registered_at', 'bigint')
      .addColumn('last_seen_at', 'bigint')
      .addColumn('stopped_at', 'bigint')
      .execute();
    await db.schema.createIndex('workers_pool').on('workers').columns(['run_id', 'activity', 'state']).execute();
    await db.schema.createIndex('workers_state').on('workers').columns(['state']).execute();
    await db.schema.createIndex('workers_credential').on('workers').columns(['credential_hash']).execute();
    await db.schema.createIndex('workers_registration').on('workers').columns(['registration_hash']).execute();

    await db.schema.createTable('events')
      .$call((table) => (isPostgres(db) ? table.addColumn('seq', 'bigserial', (c) => c.primaryKey()) : table.addColumn('seq', 'integer', (c) => c.primaryKey().autoIncrement())))
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('kind', 'text', (c) => c.notNull())
      .addColumn('task_key', 'text')
      .addColumn('worker_id', 'text')
      .addColumn('worker_name', 'text')
      .addColumn('attempt', 'integer')
      .addColumn('message', 'text')
      .execute();
    await db.schema.createIndex('events_run').on('events').columns(['run_id', 'seq']).execute();
  },
  async (db) => {
    await db.schema.alterTable('workers').addColumn('stop_cause', 'text').execute();
  },
  async (db) => {
    await db.schema.createTable('tokens')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('scopes', 'text', (c) => c.notNull())
      .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at', 'bigint')
      .execute();
  },
  async (db) => {
    // Attempts before the latest rerun: a rerun task gets its whole retry policy again.
    await db.schema.alterTable('tasks').addColumn('retry_base', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  },
  async (db) => {
    // What a worker's machine costs: its price when it was started, and since when it runs.
    await db.schema.alterTable('workers').addColumn('machine_at', 'bigint').execute();
    await db.schema.alterTable('workers').addColumn('hourly_usd', 'real').execute();
    await db.schema.alterTable('workers').addColumn('billing', 'text').execute();
  },
  async (db) => {
    // Which coordinator started a cloud machine: the store's id, on the machine's tags, so
    // coordinators with other stores in the same account never take it for a stray.
    await db.schema.createTable('store_identity').addColumn('id', 'text', (c) => c.primaryKey()).execute();
    await db.insertInto('store_identity').values({ id: `s-${randomBytes(8).toString('hex')}` }).execute();
  },
  async (db) => {
    // The heartbeat timeout of the coordinator a worker talks to: every coordinator on the store judges its silence by it.
    await db.schema.alterTable('workers').addColumn('heartbeat_timeout_ms', 'bigint').execute();
  },
  async (db) => {
    // The coordinator processes on the store, each with a lease it renews while it lives, and
    // which of them started each worker's machine: only that one stops it while it lives.
    await db.schema.createTable('coordinators')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('pid', 'integer', (c) => c.notNull())
      .addColumn('host', 'text', (c) => c.notNull())
      .addColumn('started_at', 'bigint', (c) => c.notNull())
      .addColumn('lease_until', 'bigint', (c) => c.notNull())
      .execute();
    await db.schema.alterTable('workers').addColumn('owner', 'text').execute();
  },
  async (db) => {
    // Pools belong to the fleet: runs whose activities have the same identity share one, and a
    // worker serves its pool's tasks of any run. Runs from before had a pool each.
    await db.schema.createTable('run_pools')
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('activity', 'text', (c) => c.notNull())
      .addColumn('pool_id', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('run_pools_pk', ['run_id', 'activity'])
      .execute();
    await db.schema.createIndex('run_pools_pool').on('run_pools').columns(['pool_id', 'run_id']).execute();
    await sql`INSERT INTO run_pools (run_id, activity, pool_id)
      SELECT DISTINCT run_id, pool, run_id || '/' || pool FROM tasks`.execute(db);
    await sql`INSERT INTO run_pools (run_id, activity, pool_id)
      SELECT DISTINCT run_id, activity, run_id || '/' || activity FROM workers WHERE true ON CONFLICT DO NOTHING`.execute(db);
    await db.schema.alterTable('workers').addColumn('pool_id', 'text').execute();
    await sql`UPDATE workers SET pool_id = run_id || '/' || activity`.execute(db);
    await db.schema.createIndex('workers_pool_id').on('workers').columns(['pool_id', 'state']).execute();
  },
  async (db) => {
    // Where a run's source came from (issue 14): the runs of a revision or branch are listed by it.
    for (const column of ['vcs', 'repository', 'revision', 'branch', 'base', 'author', 'message']) {
      await db.schema.alterTable('runs').addColumn(`source_${column}`, 'text').execute();
    }
    await db.schema.alterTable('runs').addColumn('source_try', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    await db.schema.createIndex('runs_source_revision').on('runs').columns(['source_revision']).execute();
    await db.schema.createIndex('runs_source_branch').on('runs').columns(['source_branch', 'created_at']).execute();
  },
  async (db) => {
    // Secrets a step may read (issue 15): sealed with the state directory's key, never stored in clear.
    await db.schema.createTable('secrets')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('sealed', 'text', (c) => c.notNull())
      .addColumn('updated_at', 'bigint', (c) => c.notNull())
      .execute();
  },
  async (db) => {
    // Files a task's successful attempt kept (issue 15), their bytes in the blob store by sha256.
    await db.schema.createTable('artifacts')
      .addColumn('run_id', 'text', (c) => c.notNull())
      .addColumn('task_key', 'text', (c) => c.notNull())
      .addColumn('attempt_id', 'text', (c) => c.notNull())
      .addColumn('path', 'text', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('content_type', 'text', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('expires_at', 'bigint')
      .addPrimaryKeyConstraint('artifacts_pk', ['run_id', 'task_key', 'attempt_id', 'path'])
      .execute();
    await db.schema.createIndex('artifacts_sha256').on('artifacts').columns(['sha256']).execute();
  },
  async (db) => {
    // Step caches (issue 15): entries by scope (a repository) and key, their bytes a blob; least recently used go first.
    await db.schema.createTable('caches')
      .addColumn('scope', 'text', (c) => c.notNull())
      .addColumn('key', 'text', (c) => c.notNull())
      .addColumn('sha256', 'text', (c) => c.notNull())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('created_at', 'bigint', (c) => c.notNull())
      .addColumn('used_at', 'bigint', (c) => c.notNull())
      .addPrimaryKeyConstraint('caches_pk', ['scope', 'key'])
      .execute();
    await db.schema.createIndex('caches_used').on('caches').columns(['scope', 'used_at']).execute();
    await db.schema.createIndex('caches_sha256').on('caches').columns(['sha256']).execute();
  },
  async (db) => {
    // Periodic work under a lease (issue 16): one coordinator of the store at a time does it.
    await db.schema.createTable('leases')
      .addColumn('name', 'text', (c) => c.primaryKey())
      .addColumn('holder', 'text', (c) => c.notNull())
      .addColumn('until', 'bigint', (c) => c.notNull())
      .execute();
  },
  async (db) => {
    // The coordinator URL a worker's machine was given, and those each coordinator serves: a
    // start whose starter is gone can register only with a coordinator serving that URL.
    await db.schema.alterTable('workers').addColumn('server_url', 'text').execute();
    await db.schema.alterTable('coordinators').addColumn('local_url', 'text').execute();
    await db.schema.alterTable('coordinators').addColumn('remote_url', 'text').execute();
  },
  async (db) => {
    // Logs in the store, on PostgreSQL (issue 16): any coordinator serves any log. A log's
    // bytes kept and dropped past the cap, and its text in chunks at their byte offsets.
    await db.schema.createTable('logs')
      .addColumn('path', 'text', (c) => c.primaryKey())
      .addColumn('kept', 'bigint', (c) => c.notNull())
      .addColumn('dropped', 'bigint', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createTable('log_chunks')
      .addColumn('path', 'text', (c) => c.notNull())
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('data', 'text', (c) => c.notNull())
      .addPrimaryKeyConstraint('log_chunks_pk', ['path', 'at'])
      .execute();
  },
  async (db) => {
    // Claims and provisioning look at a pool's running runs, oldest first: found through the
    // few running runs, not through every run the pool ever served (thousands on a server
    // with a long history, read on every claim).
    await db.schema.createIndex('runs_running').on('runs').columns(['status', 'created_at']).execute();
  },
  async (db) => {
    // A pool that keeps its warm workers by its recent load (min_idle = "auto") reads the
    // last hour's attempt starts on each look: found by time, not through its whole history.
    await db.schema.createIndex('attempts_started').on('attempts').columns(['started_at']).execute();
  },
  async (db) => {
    // Spend caps: what a run may spend and, once it is spent, why nothing more of it starts;
    // and whether a run was told that its pool's max_hourly_usd holds its starts back.
    await db.schema.alterTable('runs').addColumn('budget_usd', 'double precision').execute();
    await db.schema.alterTable('runs').addColumn('budget_spent', 'text').execute();
    await db.schema.alterTable('run_pools').addColumn('spend_capped', 'integer', (c) => c.notNull().defaultTo(0)).execute();
  },
  async (db) => {
    // A pool's boot time is read from its latest registered workers, and its give-up rule
    // from its latest started ones, on every provisioning look: found in order within the
    // pool, not by sorting every worker the pool ever had (thousands a day on a busy one).
    await db.schema.createIndex('workers_pool_registered').on('workers').columns(['pool_id', 'registered_at']).execute();
    await db.schema.createIndex('workers_pool_created').on('workers').columns(['pool_id', 'created_at']).execute();
    // A ramping pool's pace reads the latest finished attempts and the oldest open one:
    // found by time, not through the attempts of every worker the pool ever had.
    await db.schema.createIndex('attempts_finished').on('attempts').columns(['finished_at', 'started_at']).execute();
  },
  async (db) => {
    // How long each attempt's script ran, as its worker measured it: what Slipway adds to a
    // task is the attempt's time less this.
    await db.schema.alterTable('attempts').addColumn('script_ms', 'integer').execute();
  },
  async (db) => {
    // Blobs in the store (issue 16), PostgreSQL's default: artifacts and source archives
    // that any coordinator serves, whichever one received them. A blob's row is written
    // before its chunks and marked complete after them, so one cut short is never read and
    // retention finds it.
    await db.schema.createTable('blobs')
      .addColumn('sha256', 'text', (c) => c.primaryKey())
      .addColumn('size', 'bigint', (c) => c.notNull())
      .addColumn('stored_at', 'bigint', (c) => c.notNull())
      .addColumn('complete', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    await db.schema.createTable('blob_chunks')
      .addColumn('sha256', 'text', (c) => c.notNull().references('blobs.sha256').onDelete('cascade'))
      .addColumn('at', 'bigint', (c) => c.notNull())
      .addColumn('data', isPostgres(db) ? 'bytea' : 'blob', (c) => c.notNull())
      .addPrimaryKeyConstraint('blob_chunks_pk', ['sha256', 'at'])
      .execute();
  },
];

/**
 * Brings the store to the latest version, one migration per transaction. The version is
 * read again inside each: coordinators starting together on one store (a write transaction
 * lets one in at a time) apply each migration once, the others finding it done.
 */
export async function migrate(db: Kysely<any>): Promise<void> {
  // A store already at this version is only read: a reader may open one it cannot write.
  const current = await db.selectFrom('schema_version').select('version').executeTakeFirst().catch(() => undefined);
  if (current?.version === migrations.length) return;
  await db.transaction().execute((trx) => trx.schema.createTable('schema_version').ifNotExists()
    .addColumn('version', 'integer', (c) => c.notNull())
    .execute());
  for (let done = false; !done;) {
    done = await db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('schema_version').select('version').executeTakeFirst();
      const version: number = row?.version ?? 0;
      if (!row) await trx.insertInto('schema_version').values({ version: 0 }).execute();
      if (version > migrations.length) {
        throw new Error(`the store is at schema version ${version}, newer than this Slipway knows (${migrations.length}): another coordinator on it runs a newer Slipway; upgrade this one`);
      }
      if (version === migrations.length) return true;
      await migrations[version]!(trx);
      await trx.updateTable('schema_version').set({ version: version + 1 }).execute();
      return false;
    });
  }
}
