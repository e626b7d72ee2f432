import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { stateDir } from '../config/paths.ts';
import { LogFiles } from '../coordinator/log-files.ts';
import { resolveRunId } from '../store/run-report.ts';
import type { Db } from '../store/store.ts';
import { openLocalStore } from './local-state.ts';
import { UsageError } from './usage-error.ts';

interface LogsOptions { worker?: string; attempt?: string; db?: string }

export function registerLogs(program: Command): void {
  program.command('logs')
    .description('print the logs of a run: every attempt, one task\'s attempts, or one worker\'s whole log')
    .argument('<run>', 'a run id, or a unique prefix of one')
    .argument('[task]', 'a task id such as \'build[version=1.0.0]\' (or a unique part of one)')
    .option('--attempt <n>', 'only this attempt of the task')
    .option('--worker <id-or-name>', 'the log of one worker (init, every task, cleanup), by id or by a name it had')
    .option('--db <path>', 'the store to read (default: the state directory\'s)')
    .addHelpText('after', `
Examples:
  slipway logs r-3f2a                              every attempt of the run
  slipway logs r-3f2a 'build[version=1.0.0,config=debug]'
  slipway logs r-3f2a build --attempt 2            a unique part of a task id is enough
  slipway logs r-3f2a --worker w-91c2e0aa`)
    .action(async (run: string, task: string | undefined, options: LogsOptions) => {
      const store = await openLocalStore(options.db);
      try {
        const runId = await resolveRunId(store.db, run).catch((e: Error) => { throw new UsageError(e.message); });
        const logs = new LogFiles(join(stateDir(), 'logs'));
        if (options.worker) {
          const workerId = await resolveWorker(store.db, runId, options.worker);
          await print(logs.workerPath(runId, workerId));
          return;
        }
        const key = task === undefined ? undefined : await resolveTask(store.db, runId, task);
        let query = store.db.selectFrom('attempts').innerJoin('tasks', (j) => j.onRef('tasks.run_id', '=', 'attempts.run_id').onRef('tasks.key', '=', 'attempts.task_key'))
          .select(['attempts.id', 'attempts.task_key', 'attempts.kind', 'attempts.number', 'attempts.worker_id', 'attempts.outcome'])
          .where('attempts.run_id', '=', runId).orderBy('tasks.seq').orderBy('attempts.kind', 'desc').orderBy('attempts.number');
        if (key !== undefined) query = query.where('attempts.task_key', '=', key);
        if (options.attempt !== undefined) query = query.where('attempts.number', '=', Number(options.attempt)).where('attempts.kind', '=', 'run');
        const attempts = await query.execute();
        if (attempts.length === 0) throw new UsageError(key ? `task ${key} has no attempts${options.attempt ? ` numbered ${options.attempt}` : ''}` : `run ${runId} has no attempts yet`);
        for (const attempt of attempts) {
          const what = attempt.kind === 'check' ? `done_if check ${attempt.number}` : `attempt ${attempt.number}`;
          process.stdout.write(`==> ${attempt.task_key} ${what} on ${attempt.worker_id}: ${attempt.outcome ?? 'running'} <==\n`);
          await print(logs.attemptPath(runId, attempt.id));
        }
      } finally {
        await store.close();
      }
    });
}

async function print(path: string): Promise<void> {
  if (!existsSync(path)) return;
  await pipeline(createReadStream(path), process.stdout, { end: false });
}

async function resolveTask(db: Db, runId: string, task: string): Promise<string> {
  const keys = (await db.selectFrom('tasks').select('key').where('run_id', '=', runId).orderBy('seq').execute()).map((t) => t.key);
  if (keys.includes(task)) return task;
  const matches = keys.filter((key) => key.includes(task));
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new UsageError(`run ${runId} has no task matching '${task}'`);
  throw new UsageError(`'${task}' matches ${matches.length} tasks: ${matches.slice(0, 5).join(', ')}${matches.length > 5 ? ', …' : ''}`);
}

async function resolveWorker(db: Db, runId: string, worker: string): Promise<string> {
  const byId = await db.selectFrom('workers').select('id').where('run_id', '=', runId).where('id', '=', worker).executeTakeFirst();
  if (byId) return byId.id;
  const byName = await db.selectFrom('events').select('worker_id').distinct()
    .where('run_id', '=', runId).where('worker_name', '=', worker).where('worker_id', 'is not', null).execute();
  if (byName.length === 1) return byName[0]!.worker_id!;
  if (byName.length > 1) throw new UsageError(`more than one worker was named ${worker}; give its id (w-…)`);
  throw new UsageError(`run ${runId} has no worker ${worker}`);
}
