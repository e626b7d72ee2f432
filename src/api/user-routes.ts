import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Hono, type Context } from 'hono';
import { streamSSE, type SSEStreamingApi } from 'hono/streaming';
import { z } from 'zod';
import { ArchiveTooLarge, UnsafeArchive } from '../archive/check.ts';
import { attachment, BlobDamaged } from '../blobs/blob-store.ts';
import { RunRefused, type Coordinator } from '../coordinator/coordinator.ts';
import { tailAttemptLog, tailIntervalMs, withLogTails } from '../coordinator/log-tail.ts';
import { fileName } from '../coordinator/run-artifacts.ts';
import { sourceArchive, sourceTree, storeSource } from '../coordinator/source-archive.ts';
import { BodyTooLarge } from '../util/save-body.ts';
import type { RunEvent } from '../engine/events.ts';
import type { Pipeline } from '../pipeline/types.ts';
import { allows, type Scope } from '../engine/scopes.ts';
import { runOfAttempt } from '../store/attempt-rows.ts';
import { eventsAfter, lastEventSeq } from '../store/event-history.ts';
import { activitySummaries, listWorkers, poolSummaries } from '../store/fleet.ts';
import { listRuns, revisionPrefix, runReport, taskCounts, taskReport } from '../store/run-report.ts';
import { runWithSpec, type RunWithSpec } from '../store/run-rows.ts';
import type { Db } from '../store/store.ts';
import { findToken, type TokenInfo } from '../store/tokens.ts';
import { workerRow } from '../store/worker-rows.ts';
import { PipelineError } from '../pipeline/errors.ts';
import { expandTasks, SelectionError } from '../pipeline/expand.ts';
import { parsePipeline } from '../pipeline/load.ts';
import { idPatterns } from '../util/ids.ts';
import { resolveInside } from '../util/inside.ts';
import { bearerToken, fail, readJson } from './errors.ts';
import { sendFile, sendLog } from './file-range.ts';

type Env = { Variables: { token: TokenInfo } };

export interface UserAccess {
  /** Requests without a token may read (never act). Off unless the server is told. */
  anonymousRead: boolean;
}

const anonymous: TokenInfo = { id: 'anonymous', name: 'anonymous', scopes: ['read'], created_at: new Date(0).toISOString(), revoked_at: null };

const { run: runId, attempt: attemptId, worker: workerId } = idPatterns;
/** Limits of the user API, documented in docs/api.md. */
export const userLimits = {
  sourceBytes: 256 * 1024 * 1024,
  jsonBytes: 256 * 1024,
};

/** One line of text a run page shows: no control characters. */
const shownText = (max: number) => z.string().max(max).regex(/^[^\0-\x1f\x7f]*$/, 'no control characters');
const revisionId = z.string().regex(/^[0-9a-f]{40}([0-9a-f]{24})?$/, 'a full git or hg id in lower-case hex');

export const sourceOrigin = z.object({
  vcs: z.enum(['git', 'hg']),
  repository: shownText(1000).nullable(),
  revision: revisionId.nullable(),
  branch: shownText(255).nullable(),
  base: revisionId.nullable(),
  author: shownText(1000).nullable(),
  // A commit message has lines and tabs; no other control character.
  message: z.string().max(64 * 1024).regex(/^[^\0-\x08\x0b-\x1f\x7f]*$/, 'no control characters but newlines and tabs').nullable(),
  try: z.boolean().default(false),
}).strict();

/** Axis to some of its values, as a selection's `set` and `exclude` name them. */
const axisValues = z.record(z.string().max(100), z.array(z.string().max(1000)).max(10_000));

export const submitBody = z.object({
  source: z.string().regex(idPatterns.digest).describe('sha256 of an uploaded source archive'),
  file: z.string().min(1).max(1000).regex(/^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[^\0]+$/, 'a relative path inside the source tree')
    .describe("the pipeline file's path inside the source tree"),
  label: z.string().max(1000).regex(/^[^\0-\x1f]*$/).optional().describe('how the user named the file, for positioned errors'),
  selection: z.object({
    only: z.array(z.string().max(100)).max(1000).optional(),
    set: axisValues.optional(),
    exclude: axisValues.optional()
      .describe("values left out of each axis, after `set`: their tasks are not run, and what needs them does not wait"),
    force: z.boolean().optional(),
  }).strict().default({}),
  fake_workers: z.boolean().default(false),
  budget_usd: z.number().positive().max(1e9).optional()
    .describe("what the run may spend on machines, in USD, over the pipeline's budget_usd: once spent, no new task starts and the run fails, saying so"),
  origin: sourceOrigin.optional().describe("where the source tree came from, as the submitter says: shown with the run and given to its tasks (SLIPWAY_REVISION, SLIPWAY_BRANCH, SLIPWAY_REPOSITORY)"),
}).strict();

export const listQuery = z.object({
  status: z.enum(['running', 'succeeded', 'failed', 'cancelled']).optional(),
  pipeline: z.string().max(100).optional(),
  revision: z.string().regex(revisionPrefix, 'hex digits: a revision id or the start of one').optional().describe("runs of this revision: its id or the start of it"),
  branch: z.string().max(255).optional().describe('runs of this git branch, hg bookmark or named branch'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  before: z.string().regex(runId).optional().describe('the `next` of the previous page'),
}).strict();
/** Streams send a comment this often when they have nothing to say. */
const keepAliveMs = 15_000;

/**
 * The API people and the CLI use: read runs, tasks, workers and logs, follow them live,
 * act on runs. Every route needs a token whose scopes allow it.
 */
/** Middleware: the request's token must exist, be live and hold `scope` (or better). */
export function requireScope(db: Db, access: UserAccess) {
  return (scope: Scope) => async (c: Context<Env>, next: () => Promise<void>) => {
    const secret = bearerToken(c);
    const token = secret ? await findToken(db, secret) : access.anonymousRead && !c.req.header('authorization') ? anonymous : undefined;
    if (!token) return fail(c, 401, 'a valid token is required: Authorization: Bearer TOKEN (slipway tokens create)');
    if (!allows(token.scopes, scope)) return fail(c, 403, `this token may not do that: it needs the ${scope} scope`);
    c.set('token', token);
    await next();
  };
}

export function userRoutes(coordinator: Coordinator, db: Db, access: UserAccess = { anonymousRead: false }): Hono<Env> {
  const app = new Hono<Env>();
  const need = requireScope(db, access);
  const findRun = async (c: Context<Env>) => {
    const id = c.req.param('run') ?? '';
    if (!runId.test(id)) return { response: fail(c, 400, `not a run id: ${id.slice(0, 40)}`) };
    const row = await runWithSpec(db, id);
    return row ? { run: row } : { response: fail(c, 404, `no run ${id}`) };
  };

  app.get('/me', need('read'), (c) => c.json({ name: c.get('token').name, scopes: c.get('token').scopes }));

  app.get('/runs', need('read'), async (c) => {
    const query = listQuery.safeParse(c.req.query());
    if (!query.success) return fail(c, 400, query.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
    const runs = await listRuns(db, query.data);
    const counts = await taskCounts(db, runs.map((r) => r.id));
    return c.json({
      runs: runs.map((run) => ({ ...run, counts: counts.get(run.id) ?? {} })),
      next: runs.length === query.data.limit ? runs.at(-1)!.id : null,
    });
  });

  app.get('/runs/:run', need('read'), async (c) => {
    const found = await findRun(c);
    if (!found.run) return found.response;
    return c.json(await withLogTails(await runDetail(db, found.run), coordinator.logs));
  });

  app.get('/runs/:run/tasks/:task', need('read'), async (c) => {
    const found = await findRun(c);
    if (!found.run) return found.response;
    const key = (c.req.param('task') ?? '');
    const task = await taskReport(db, found.run.id, key);
    return task ? c.json(task) : fail(c, 404, `run ${found.run.id} has no task ${key.slice(0, 200)}`);
  });

  app.get('/runs/:run/artifacts', need('read'), async (c) => {
    const found = await findRun(c);
    if (!found.run) return found.response;
    return c.json({ artifacts: await coordinator.artifacts.list(found.run.id, c.req.query('task')) });
  });

  // Bytes a task made: downloaded, never shown as a page of this origin (an .html artifact is anyone's HTML).
  app.get('/runs/:run/artifacts/file', need('read'), async (c) => {
    const found = await findRun(c);
    if (!found.run) return found.response;
    const { task, path } = c.req.query();
    if (!task || !path) return fail(c, 400, 'which artifact: ?task=TASK&path=PATH (slipway artifacts RUN lists them)');
    let kept;
    try {
      kept = await coordinator.artifacts.file(found.run.id, task, path);
    } catch (error) {
      if (error instanceof BlobDamaged) return fail(c, 409, `artifact ${path.slice(0, 200)} of task ${task.slice(0, 200)}: ${error.message}`);
      throw error;
    }
    if (!kept) return fail(c, 404, `run ${found.run.id} has no artifact ${path.slice(0, 200)} of task ${task.slice(0, 200)}`);
    c.header('x-slipway-sha256', kept.artifact.sha256);
    // A browser cannot follow a redirect to another origin with fetch (CORS): it asks where
    // the bytes are, and goes there itself; null means here, with its token.
    if (c.req.query('link') !== undefined) return c.json({ url: 'url' in kept.target ? kept.target.url : null });
    // A bucket's blob: to a signed URL of another origin, which answers it as an attachment too.
    if ('url' in kept.target) {
      c.header('cache-control', 'no-store');
      return c.redirect(kept.target.url, 302);
    }
    c.header('content-disposition', attachment(fileName(path)));
    c.header('x-content-type-options', 'nosniff');
    c.header('content-security-policy', 'sandbox');
    return sendFile(c, kept.target.file, kept.artifact.content_type);
  });

  app.post('/runs/:run/cancel', need('submit'), async (c) => {
    const found = await findRun(c);
    if (!found.run) return found.response;
    if (!(await coordinator.cancelRun(found.run.id, `cancelled by ${c.get('token').name}`))) return fail(c, 409, `run ${found.run.id} is not running`);
    return c.json({ run: (await runDetail(db, found.run)).run });
  });

  app.post('/sources', need('submit'), async (c) => {
    const declared = Number(c.req.header('content-length') ?? 0);
    if (declared > userLimits.sourceBytes) return fail(c, 413, new BodyTooLarge(sourceArchive, userLimits.sourceBytes).message);
    if (!c.req.raw.body) return fail(c, 400, 'the body must be the source tree as a .tar.gz');
    try {
      return c.json({ digest: await storeSource(c.req.raw.body, await coordinator.sources(), userLimits.sourceBytes, coordinator.archiveLimits) }, 201);
    } catch (error) {
      if (error instanceof BodyTooLarge || error instanceof ArchiveTooLarge) return fail(c, 413, error.message);
      if (error instanceof UnsafeArchive) return fail(c, 400, `the source archive is refused: ${error.message}`);
      // A client that went away mid-body is no fault of the coordinator's; nobody reads the answer.
      if (c.req.raw.signal.aborted) return fail(c, 400, 'the upload ended before its body did');
      throw error;
    }
  });

  app.post('/runs', need('submit'), async (c) => {
    const body = await readJson(c, submitBody, userLimits.jsonBytes);
    if (!body.ok) return body.response;
    const { source, file, label, selection, fake_workers: fakeWorkers, budget_usd: budgetUsd, origin } = body.value;
    const sources = await coordinator.sources();
    if ((await sources.blobs.size(source)) === undefined) return fail(c, 404, `no source archive ${source}: upload it first (POST /api/v1/sources)`);
    let tree;
    try {
      tree = await sourceTree(sources, source, coordinator.archiveLimits);
    } catch (error) {
      if (error instanceof UnsafeArchive) return fail(c, 400, `the source archive ${source} is refused: ${error.message}`);
      return fail(c, 400, `the source archive ${source} is not a valid .tar.gz`);
    }
    // Links in the tree are followed only while they stay inside it.
    const found = resolveInside(tree, file);
    if (found.kind !== 'inside' || !found.stats.isFile()) return fail(c, 400, `the source tree has no file ${file}`);
    let pipeline;
    let tasks;
    try {
      pipeline = parsePipeline(readFileSync(found.path, 'utf8'), label ?? file, dirname(join(tree, file)), coordinator.pipelineRules);
      tasks = expandTasks(pipeline, selection);
    } catch (error) {
      if (error instanceof PipelineError) return c.json({ error: error.message, diagnostics: error.diagnostics }, 422);
      if (error instanceof SelectionError) return fail(c, 400, error.message);
      throw error;
    }
    let id;
    try {
      ({ runId: id } = await coordinator.createRun(pipeline, tasks, selection, { fakeWorkers, noProvision: false, ...(budgetUsd !== undefined && { budgetUsd }) }, source, origin));
    } catch (error) {
      if (error instanceof RunRefused) return fail(c, 422, error.message);
      throw error;
    }
    const row = await runWithSpec(db, id);
    // Created just above, and the store never deletes a run: a missing row is a broken store.
    if (!row) throw new Error(`run ${id} is missing from the store just after it was created`);
    return c.json({ run: (await runDetail(db, row)).run }, 201);
  });

  app.post('/runs/:run/rerun', need('submit'), async (c) => {
    const found = await findRun(c);
    if (!found.run) return found.response;
    const result = await coordinator.rerun(found.run.id);
    if (result.kind === 'refused') return fail(c, 409, result.reason);
    return c.json({ run: (await runDetail(db, found.run)).run, since: result.since });
  });

  app.get('/workers', need('read'), async (c) => {
    const { run, state, pool } = c.req.query();
    return c.json({ workers: await listWorkers(db, { run, state, pool }, Date.now()) });
  });

  app.get('/pools', need('read'), async (c) => c.json({ pools: await poolSummaries(db) }));

  app.get('/activities', need('read'), async (c) => c.json({ activities: await activitySummaries(db) }));

  app.get('/attempts/:attempt/log', need('read'), async (c) => {
    const path = await attemptLog((c.req.param('attempt') ?? ''));
    if (!path) return fail(c, 404, 'no such attempt');
    return sendLog(c, coordinator.logs, path);
  });

  app.get('/workers/:worker/log', need('read'), async (c) => {
    const id = (c.req.param('worker') ?? '');
    if (!workerId.test(id)) return fail(c, 400, 'not a worker id');
    const worker = await workerRow(db, id);
    if (!worker) return fail(c, 404, `no worker ${id}`);
    return sendLog(c, coordinator.logs, coordinator.logs.workerPath(worker.run_id, id));
  });

  app.get('/attempts/:attempt/log/stream', need('read'), async (c) => {
    const id = (c.req.param('attempt') ?? '');
    const path = await attemptLog(id);
    if (!path) return fail(c, 404, 'no such attempt');
    const resume = c.req.header('last-event-id');
    if (resume !== undefined && !/^\d{1,15}$/.test(resume)) return fail(c, 400, 'Last-Event-ID: expected the id of a log event (a byte offset)');
    return streamSSE(c, async (stream) => {
      let quietSince = Date.now();
      for await (const piece of tailAttemptLog(coordinator.logs, db, id, path, Number(resume ?? 0), () => stream.sleep(tailIntervalMs))) {
        if (stream.aborted) return;
        if (piece) {
          // The id is where the next event starts: Last-Event-ID resumes there.
          await stream.writeSSE({ event: 'log', id: String(piece.end), data: JSON.stringify({ text: piece.text }) });
          quietSince = Date.now();
        } else if (Date.now() - quietSince > keepAliveMs) {
          // A quiet task must not look like a dead connection to a proxy.
          await stream.write(': keep-alive\n\n');
          quietSince = Date.now();
        }
      }
      if (!stream.aborted) await stream.writeSSE({ event: 'end', data: '{}' });
    });
  });

  app.get('/events', need('read'), async (c) => {
    const run = c.req.query('run');
    if (run !== undefined && !runId.test(run)) return fail(c, 400, 'not a run id');
    const after = Number(c.req.header('last-event-id') ?? 0) || 0;
    return streamSSE(c, async (stream) => {
      const pending: RunEvent[] = [];
      let wake: (() => void) | undefined;
      const subscription = coordinator.events.subscribe((event) => {
        if (run !== undefined && event.run !== run) return;
        pending.push(event);
        wake?.();
      });
      // A run another process on the store drives (a `slipway run`) is followed through the store.
      const unfollow = run === undefined ? undefined : await coordinator.follow(run);
      const unsubscribe = (): void => { subscription(); unfollow?.(); };
      stream.onAbort(() => { unsubscribe(); wake?.(); });
      try {
        let last = after;
        // What happened before this stream opened, when it resumes or follows one run.
        if (after > 0 || run !== undefined) {
          for (const event of await eventsAfter(db, after, { run, limit: 10_000 })) {
            last = event.seq;
            await send(stream, event);
          }
        }
        while (!stream.aborted) {
          for (const event of pending.splice(0)) if (event.seq > last) await send(stream, event);
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, keepAliveMs).unref();
          });
          wake = undefined;
          if (pending.length === 0 && !stream.aborted) await stream.write(': keep-alive\n\n');
        }
      } finally {
        unsubscribe();
      }
    });
  });

  async function attemptLog(id: string): Promise<string | undefined> {
    if (!attemptId.test(id)) return undefined;
    const run = await runOfAttempt(db, id);
    return run === undefined ? undefined : coordinator.logs.attemptPath(run, id);
  }

  return app;
}

function send(stream: SSEStreamingApi, event: RunEvent): Promise<void> {
  return stream.writeSSE({ event: 'run-event', id: String(event.seq), data: JSON.stringify(event) });
}

/** A run's report with its counts and the shape of its matrix, for the run page. */
async function runDetail(db: Db, row: RunWithSpec) {
  const report = await runReport(db, row.id);
  const counts = (await taskCounts(db, [row.id])).get(row.id) ?? {};
  const pipeline = JSON.parse(row.spec) as Pipeline;
  const lastSeq = await lastEventSeq(db, row.id);
  return {
    ...report,
    run: { ...report.run, counts },
    /** The run's last event: follow `/events?run=` from after it with Last-Event-ID. */
    last_seq: lastSeq,
    steps: Object.values(pipeline.steps).map((s) => ({ name: s.name, over: s.over, needs: s.needs, activity: s.activity })),
    matrix: pipeline.matrix,
  };
}
