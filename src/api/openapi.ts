import { Hono } from 'hono';
import { z } from 'zod';
import { isScope, scopes, type Scope } from '../engine/scopes.ts';
import { gcBody } from './gc-routes.ts';
import { secretBody } from './secret-routes.ts';
import { fetchBody, knownBody, tryQuery } from './try-routes.ts';
import { listQuery, submitBody, userLimits } from './user-routes.ts';
import { maxCacheEntryBytes } from '../coordinator/run-caches.ts';
import { cacheLookupBody, claimBody, finishBody, heartbeatBody, offerBody, registerBody, stoppedBody, workerLimits } from './worker-routes.ts';
import { maxArtifactBytes } from '../coordinator/run-artifacts.ts';

/**
 * `GET /api/v1/openapi.json`: the user API and the worker protocol as OpenAPI 3.1. Shapes
 * are zod schemas turned into JSON Schema, so the tests can also hold real answers to them;
 * test/api/openapi.test.ts fails when a route exists on one side only.
 */
export function openApiRoutes(): Hono {
  const app = new Hono();
  // Built on first use: it never changes while the server runs.
  let document: object | undefined;
  app.get('/openapi.json', (c) => c.json(document ??= openApiDocument()));
  return app;
}

/** Every named schema, as `#/components/schemas/<id>`. */
const named = z.registry<{ id: string }>();
function name<T extends z.ZodType>(id: string, schema: T): T {
  named.add(schema as z.ZodType, { id });
  return schema;
}

// ---- request bodies: the routes' own schemas ------------------------------------------

const runIdPattern = /^r-[0-9a-f]{8}$/;

const requests = {
  submit: name('SubmitRun', submitBody),
  known: name('MirrorQuestion', knownBody),
  fetch: name('Fetch', fetchBody),
  secret: name('SecretValue', secretBody),
  cacheLookup: name('CacheLookup', cacheLookupBody),
  gc: name('GcRequest', gcBody),
  listRuns: listQuery,
  register: name('Register', registerBody),
  claim: name('Claim', claimBody),
  heartbeat: name('Heartbeat', heartbeatBody),
  finish: name('Finish', finishBody),
  stopped: name('Stopped', stoppedBody),
  artifactOffer: name('ArtifactOffer', offerBody),
};

// ---- answers: the types of docs/api.md and docs/worker-protocol.md ----------------------

const time = z.string().describe('ISO-8601');
const matrix = z.record(z.string(), z.string());
const runStatus = name('RunStatus', z.enum(['running', 'succeeded', 'failed', 'cancelled']));
const taskStatus = name('TaskStatus', z.enum(['waiting', 'checking', 'queued', 'running', 'succeeded', 'failed', 'skipped', 'blocked', 'cancelled']));
const script = name('Script', z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('file'), path: z.string() }),
  z.object({ kind: z.literal('inline'), text: z.string() }),
]));
const workerScript = z.object({ script, env: z.record(z.string(), z.string()) });
const attemptOrder = name('AttemptOrder', z.object({
  id: z.string(), kind: z.enum(['run', 'check']), number: z.int(), run: z.string(), source_digest: z.string().nullable(), task: z.string(), step: z.string(),
  script, env: z.record(z.string(), z.string()),
  secrets: z.record(z.string(), z.string()).optional().describe("the step's secrets: environment variables of this attempt only, masked in its output"),
  timeout_ms: z.int().nullable(),
}));
const handedOut = name('HandedOut', z.object({ attempt: attemptOrder, name: z.string().describe("the worker's new name") }));

const answers = {
  error: name('Error', z.object({ error: z.string() })),
  stop: name('Stop', z.object({ stop: z.string().describe('why the worker should stop') })),
  me: name('Me', z.object({ name: z.string(), scopes: z.array(z.enum(scopes)) })),
  run: name('Run', z.object({
    id: z.string(), pipeline: z.string(), status: runStatus,
    source: name('RunSource', z.object({
      digest: z.string().nullable().describe("the sha256 of the run's source tree archive"),
      vcs: z.enum(['git', 'hg']).nullable().describe('null for a plain directory'),
      repository: z.string().nullable().describe("the working copy's root, or the remote the server fetched from"),
      revision: z.string().nullable().describe('the full id of the committed revision run; null for a working tree'),
      branch: z.string().nullable().describe("git's branch; hg's bookmark, or else its named branch"),
      base: z.string().nullable().describe("a working tree's parent revision; a try's last revision the server had"),
      author: z.string().nullable(), message: z.string().nullable(),
      try: z.boolean().describe('a revision sent with slipway try'),
    })).describe('where the source tree came from'),
    started_at: time, finished_at: time.nullable(),
    cost_usd: z.number().optional().describe("what the run spent on priced machines (so far, while running): its attempts' time on each, and the rest of the time of the machines started for it; absent when none has a price"),
    budget_usd: z.number().optional().describe('what the run may spend (--budget, or the pipeline\'s budget_usd); absent without a budget'),
    spend_cap: z.string().optional().describe("why a spend cap holds the run back: its budget is spent (no new task starts), or, while it runs, its pool's max_hourly_usd (new workers wait)"),
    cancel_reason: z.string().optional().describe('why a cancelled run was cancelled: by whom or what (slipway cancel, Ctrl-C, a closed terminal, …)'),
    counts: z.partialRecord(taskStatus, z.int()),
  })),
  attempt: name('Attempt', z.object({
    id: z.string(), number: z.int(), worker: z.string().nullable(), worker_name: z.string().nullable(),
    pool: z.string().nullable().describe('the pool its worker served (GET /api/v1/pools); null when no worker is known'),
    hand_started: z.literal(true).optional().describe('present when the worker that ran it was started by hand (`slipway worker`), not by a provider'),
    outcome: z.enum(['succeeded', 'failed', 'timed_out', 'lost', 'cancelled']).nullable(),
    exit_code: z.int().nullable(), error: z.string().nullable(), started_at: time, finished_at: time.nullable(),
    script_ms: z.int().nullable().describe("how long its script ran, from its start to its exit, as its worker measured it: the rest of the attempt is Slipway's; null while running, and when no script ran or its worker was lost"),
  })),
  worker: name('Worker', z.object({
    id: z.string(), name: z.string(), run: z.string().describe('the run it was started for'), activity: z.string(),
    pool: z.string().nullable().describe('the pool it serves: tasks of every run whose activity is in it'), provider: z.string(),
    state: z.enum(['starting', 'idle', 'busy', 'draining', 'stopped', 'lost', 'failed']), tasks_done: z.int(),
    machine: z.string().nullable().describe('its machine in a few words: a pid, a host, an instance id and type; null before it has one, or when started by hand'),
    current: z.object({
      run: z.string(), task: z.string(), attempt: z.string().describe("the attempt's id"), number: z.int(),
      kind: z.enum(['run', 'check']).describe('`check` while it runs the task\'s done_if check'), since: time,
    }).nullable().describe('the attempt it has in hand'),
    hourly_usd: z.number().nullable().describe("its machine's configured price; null when none is known"),
    cost_usd: z.number().nullable().describe('what its machine cost so far, as it is billed (up to now while it runs); null when it has no known price'),
    started_at: time, stopped_at: time.nullable(), stop_reason: z.string().nullable(),
  })),
  pool: name('Pool', z.object({
    id: z.string(), activity: z.string(), provider: z.string(),
    runs: z.array(z.string()).describe('the running runs it serves now, oldest first'),
    max_workers: z.int().describe('the largest max_workers of the runs it serves (of its live workers\' runs when it serves none now)'),
    live: z.int().describe('workers starting, idle, busy or draining'),
    queued: z.int().describe('tasks of its runs a worker could take now'),
  })),
  event: name('RunEvent', z.object({
    seq: z.int(), at: time, run: z.string(),
    kind: z.enum(['run.started', 'run.finished', 'run.capped', 'task.checking', 'task.queued', 'task.started', 'task.retrying', 'task.succeeded',
      'task.failed', 'task.skipped', 'task.blocked', 'task.cancelled', 'worker.starting', 'worker.registered', 'worker.stopping',
      'worker.stopped', 'worker.lost']),
    task: z.string().optional(), worker: z.string().optional(), worker_name: z.string().optional(),
    attempt: z.int().optional(), message: z.string().optional(),
  })),
  handedOut,
};
const task = name('Task', z.object({ id: z.string(), step: z.string(), matrix, status: taskStatus, attempts: z.array(answers.attempt) }));
const bodies = {
  runs: name('RunList', z.object({ runs: z.array(answers.run), next: z.string().nullable().describe('the `before` of the next page') })),
  runDetail: name('RunDetail', z.object({
    run: answers.run, tasks: z.array(task),
    failures: z.array(z.object({
      task: z.string(), step: z.string(), matrix, worker: z.string().nullable(), error: z.string(),
      log_tail: z.string().optional().describe('the last lines its last attempt printed, which often say why; absent when it printed nothing, and past the first 20 failures'),
    })),
    steps: z.array(z.object({ name: z.string(), over: z.array(z.string()), needs: z.array(z.string()), activity: z.string() })),
    matrix: z.record(z.string(), z.array(z.string())),
    last_seq: z.int().describe('follow /events?run= from after it (Last-Event-ID)'),
  })),
  oneRun: name('RunAnswer', z.object({ run: answers.run })),
  rerun: name('RerunAnswer', z.object({ run: answers.run, since: z.int().describe("the run's last event before the rerun") })),
  digest: name('SourceDigest', z.object({ digest: z.string().describe('sha256 of the archive') })),
  known: name('MirrorAnswer', z.object({ known: z.array(z.string()).describe('the candidates the mirror holds') })),
  secret: name('Secret', z.object({ name: z.string(), updated_at: z.string().describe('when it was set') })),
  secretName: name('SecretName', z.object({ name: z.string() })),
  cacheFound: name('CacheFound', z.object({
    entry: z.object({ key: z.string(), sha256: z.string(), size: z.int(), exact: z.boolean().describe('its key is the one asked, not a restore key\'s') }).nullable(),
  })),
  gc: name('GcReport', z.object({
    dry_run: z.boolean().describe('true: nothing was deleted; the counts are what would be'),
    runs: z.object({ count: z.int(), bytes: z.int() }).describe('finished runs deleted with their rows; bytes: their logs'),
    artifacts: z.object({ count: z.int(), bytes: z.int() }).describe('artifact rows; bytes: the sizes they name'),
    blobs: z.object({ count: z.int(), bytes: z.int() }).describe('blobs no artifact, cache entry or run (its source archive) names any more'),
    source_archives: z.object({ count: z.int(), bytes: z.int() }).describe("the coordinator's unpacked source trees no run names (the archives themselves are blobs)"),
    images: z.object({ count: z.int(), bytes: z.int() }).nullable().describe('EC2 prepared images; null: EC2 not set up, or kept forever'),
    caches: z.object({ count: z.int(), bytes: z.int() }).nullable().describe('step cache entries unused for [retention] caches; null: kept forever'),
  })),
  artifact: name('Artifact', z.object({
    task: z.string(), path: z.string().describe("relative to the task's tree"), size: z.int(), sha256: z.string(), content_type: z.string(),
    created_at: z.int().describe('ms since the epoch'), expires_at: z.int().nullable().describe('when retention may remove it; null: kept with its run'),
  })),
  artifactUpload: name('ArtifactUpload', z.object({
    upload: z.union([
      z.object({ send: z.literal(true) }).describe('POST the bytes to /api/v1/worker/attempts/:id/artifacts?path=PATH'),
      z.object({ put: z.object({ url: z.string(), headers: z.record(z.string(), z.string()) }) })
        .describe('PUT the bytes to this signed URL with exactly these headers (content-length, x-amz-checksum-sha256), then offer again'),
    ]),
  })),
  mirrored: name('MirroredRevision', z.object({
    vcs: z.enum(['git', 'hg']), repository: z.string().describe("the repository's identity: its first revision's full id"), revision: z.string(),
    try: z.string().nullable().describe('the id a try is kept under until [server] try_expiry; null for a fetch'),
    source: z.string().describe("sha256 of the revision's archive: POST /runs takes it as `source`"),
    bundle_bytes: z.int().optional().describe("a try: the bundle's size"),
    author: z.string().optional().describe('a fetch: as the VCS recorded it'), message: z.string().optional(),
  })),
  invalid: name('InvalidPipeline', z.object({
    error: z.string(), diagnostics: z.array(z.object({ file: z.string(), line: z.int(), column: z.int(), message: z.string() })),
  })),
  workers: name('WorkerList', z.object({ workers: z.array(answers.worker) })),
  pools: name('PoolList', z.object({ pools: z.array(answers.pool) })),
  activities: name('ActivityList', z.object({
    activities: z.array(z.object({ run: z.string(), name: z.string(), provider: z.string(), max_workers: z.int(), live: z.int(), queued: z.int() })),
  })),
  registered: name('Registered', z.object({
    worker: z.object({ id: z.string(), name: z.string(), activity: z.string(), run: z.string() }),
    credential: z.string().describe("the worker's own credential for every later request"),
    settings: z.object({
      idle_timeout_ms: z.int(), heartbeat_interval_ms: z.int(),
      keep_warm: z.boolean().optional().describe('its pool keeps idle workers warm (min_idle): past idle_timeout it claims with `idle` rather than stopping by itself'),
      prepare: workerScript.extend({ fingerprint: z.string().describe("sha256 of the script's text") }).nullable()
        .describe('runs once per machine and fingerprint, before init; a machine that ran it keeps a marker'),
      init: workerScript.nullable(), cleanup: workerScript.nullable(),
      source_digest: z.string().nullable(),
      source_limits: z.object({ max_unpacked_bytes: z.int(), max_archive_members: z.int() }).optional()
        .describe("the coordinator's limits on source archives: the worker refuses to unpack one past them"),
    }),
  })),
  beat: name('HeartbeatAnswer', z.object({ cancel: z.boolean() })),
  finished: name('Finished', z.object({ name: z.string(), stop: z.boolean(), next: handedOut.optional() })),
};
/** Every answer's schema: the tests hold real answers to them. */
export const responses = { ...answers, task, ...bodies };

// ---- routes ------------------------------------------------------------------------------

/** A user token's scope, or one of the worker protocol's own secrets. */
type Auth = Scope | 'none' | 'registration' | 'download' | 'credential';
type Answer = { schema?: z.ZodType; content?: string; description: string };
interface Route {
  method: 'get' | 'post';
  /** Hono's spelling: `/runs/:run`. */
  path: string;
  id: string;
  summary: string;
  auth: Auth;
  query?: z.ZodObject;
  headers?: Record<string, string>;
  body?: z.ZodType | { content: string; description: string };
  answers: Record<number, Answer | string>;
}

const ok = (schema: z.ZodType, description = 'done'): Answer => ({ schema, description });
const sse = (description: string): Answer => ({ content: 'text/event-stream', description });
const text = (description: string): Answer => ({ content: 'text/plain', description });
const none = (description: string): Answer => ({ description });
const stop = (description: string): Answer => ({ schema: answers.stop, description });
const logRange = 'one range of bytes: bytes=N-, bytes=N-M or bytes=-N (the last N), to resume from an offset';
const workerState = answers.worker.shape.state;

const user: Route[] = [
  { method: 'get', path: '/api/v1/me', id: 'me', summary: 'Who the token is', auth: 'read', answers: { 200: ok(answers.me) } },
  { method: 'get', path: '/api/v1/runs', id: 'listRuns', summary: 'Runs, newest first', auth: 'read', query: requests.listRuns, answers: { 200: ok(bodies.runs), 400: 'a bad query' } },
  { method: 'get', path: '/api/v1/runs/:run', id: 'getRun', summary: "A run's report, counts and matrix", auth: 'read', answers: { 200: ok(bodies.runDetail), 400: 'not a run id', 404: 'no such run' } },
  { method: 'get', path: '/api/v1/runs/:run/tasks/:task', id: 'getTask', summary: 'One task with its attempts', auth: 'read', answers: { 200: ok(task), 400: 'not a run id', 404: 'no such run or task' } },
  {
    method: 'post', path: '/api/v1/sources', id: 'uploadSource', summary: `Upload a source tree (.tar.gz, at most ${userLimits.sourceBytes} bytes)`, auth: 'submit',
    body: { content: 'application/gzip', description: 'the source tree as a .tar.gz' }, answers: { 201: ok(bodies.digest, 'stored'), 400: 'no body', 413: 'too large' },
  },
  {
    method: 'post', path: '/api/v1/runs', id: 'submitRun', summary: `Start a run (a body of at most ${userLimits.jsonBytes} bytes)`, auth: 'submit', body: requests.submit,
    answers: { 201: ok(bodies.oneRun, 'started'), 400: 'bad input', 404: 'no such source archive', 413: 'too large', 422: ok(bodies.invalid, 'an invalid pipeline') },
  },
  {
    method: 'post', path: '/api/v1/mirrors/known', id: 'mirrorKnows', summary: "Which of some revisions the server's mirror of a repository holds (a try's bundle negotiation)", auth: 'submit',
    body: requests.known, answers: { 200: ok(bodies.known), 400: 'bad input', 413: 'too large' },
  },
  {
    method: 'post', path: '/api/v1/tries', id: 'sendTry', summary: `Try a revision: the bundle of what the mirror lacks (at most ${userLimits.sourceBytes} bytes)`, auth: 'submit', query: tryQuery,
    body: { content: 'application/octet-stream', description: 'a git or hg bundle; empty when the mirror has the revision already' },
    answers: { 201: ok(bodies.mirrored, 'kept under a try id, its files archived'), 400: 'a bad query', 413: 'too large', 422: "a bundle the server cannot apply, with git's or hg's words" },
  },
  {
    method: 'post', path: '/api/v1/fetches', id: 'fetchRevision', summary: 'Fetch a revision from a remote repository into the mirror', auth: 'submit', body: requests.fetch,
    answers: { 201: ok(bodies.mirrored, 'fetched, its files archived'), 400: 'bad input', 413: 'too large', 422: "a remote refused or a fetch that failed, with the VCS's words" },
  },
  { method: 'get', path: '/api/v1/secrets', id: 'listSecrets', summary: 'Secrets by name and when each was set; never a value', auth: 'admin', answers: { 200: ok(z.object({ secrets: z.array(bodies.secret) })) } },
  {
    method: 'post', path: '/api/v1/secrets/:name', id: 'setSecret', summary: 'Set a secret steps may list (sealed at rest); replaces one of the same name', auth: 'admin',
    body: requests.secret, answers: { 200: ok(bodies.secret, 'set'), 400: 'a bad name or value', 413: 'too large' },
  },
  {
    method: 'post', path: '/api/v1/gc', id: 'collectGarbage', summary: 'Delete what [retention] says has expired (or, with dry_run, count it); running runs are never touched', auth: 'admin',
    body: requests.gc, answers: { 200: ok(bodies.gc, 'deleted, or counted'), 400: 'bad input', 413: 'too large', 503: 'this coordinator does not collect' },
  },
  { method: 'post', path: '/api/v1/secrets/:name/delete', id: 'deleteSecret', summary: 'Delete a secret', auth: 'admin', answers: { 200: ok(bodies.secretName, 'deleted'), 404: 'no such secret' } },
  {
    method: 'get', path: '/api/v1/runs/:run/artifacts', id: 'listArtifacts', summary: "The files the run's tasks kept: each task's latest successful attempt's", auth: 'read',
    query: z.object({ task: z.string().optional().describe("only this task's") }),
    answers: { 200: ok(z.object({ artifacts: z.array(bodies.artifact) })), 400: 'not a run id', 404: 'no such run' },
  },
  {
    method: 'get', path: '/api/v1/runs/:run/artifacts/file', id: 'downloadArtifact', summary: 'One artifact, as a download (Content-Disposition: attachment)', auth: 'read',
    query: z.object({ task: z.string(), path: z.string(), link: z.string().optional().describe('answer { url } (a signed URL of the bucket, or null: this route serves the bytes) instead of the bytes or a redirect') }), headers: { Range: logRange },
    answers: {
      200: { content: '(its content type)', description: 'its bytes; sha256 in x-slipway-sha256 (files store)' },
      302: none('to a signed URL of the bucket that serves it as an attachment, valid a few minutes; sha256 in x-slipway-sha256 (S3 store)'),
      400: 'not a run id, or no task and path', 404: 'no such run or artifact', 409: 'the bucket holds other bytes under its sha256',
    },
  },
  { method: 'post', path: '/api/v1/runs/:run/cancel', id: 'cancelRun', summary: 'Cancel a running run', auth: 'submit', answers: { 200: ok(bodies.oneRun), 400: 'not a run id', 404: 'no such run', 409: 'the run is not running' } },
  {
    method: 'post', path: '/api/v1/runs/:run/rerun', id: 'rerunRun', summary: 'Run the failed, blocked and cancelled tasks again, in the same run', auth: 'submit',
    answers: { 200: ok(bodies.rerun), 400: 'not a run id', 404: 'no such run', 409: 'the run is running, or has nothing to rerun' },
  },
  {
    method: 'get', path: '/api/v1/workers', id: 'listWorkers', summary: 'Workers, newest first (at most 1000)', auth: 'read',
    query: z.object({
      run: z.string().optional().describe('the run they were started for'), state: workerState.optional(), pool: z.string().optional(),
    }), answers: { 200: ok(bodies.workers) },
  },
  {
    method: 'get', path: '/api/v1/pools', id: 'listPools', summary: 'The pools that serve a running run or have a live worker: runs, live workers, cap, queue', auth: 'read',
    answers: { 200: ok(bodies.pools) },
  },
  { method: 'get', path: '/api/v1/activities', id: 'listActivities', summary: 'The activities of the latest 50 runs, with live workers and queued tasks', auth: 'read', answers: { 200: ok(bodies.activities) } },
  {
    method: 'get', path: '/api/v1/attempts/:attempt/log', id: 'attemptLog', summary: "An attempt's log", auth: 'read', headers: { Range: logRange },
    answers: { 200: text('the log'), 206: text('the range asked for, with Content-Range'), 400: 'a Range that is not one range of bytes', 404: 'no such attempt', 416: 'a range past the end (Content-Range: bytes */SIZE)' },
  },
  {
    method: 'get', path: '/api/v1/workers/:worker/log', id: 'workerLog', summary: "A worker's log: init, every task, cleanup", auth: 'read', headers: { Range: logRange },
    answers: { 200: text('the log'), 206: text('the range asked for, with Content-Range'), 400: 'not a worker id, or a Range that is not one range of bytes', 404: 'no such worker', 416: 'a range past the end (Content-Range: bytes */SIZE)' },
  },
  {
    method: 'get', path: '/api/v1/attempts/:attempt/log/stream', id: 'followAttemptLog', summary: "An attempt's log as it is written", auth: 'read',
    headers: { 'Last-Event-ID': 'resume at this byte offset: the id of the last log event seen' },
    answers: { 200: sse('`event: log`, `id: OFFSET`, `data: {"text": "…"}` from the start; `event: end` when the attempt is over and its log sent'), 400: 'a Last-Event-ID that is not an offset', 404: 'no such attempt' },
  },
  {
    method: 'get', path: '/api/v1/events', id: 'followEvents', summary: 'Run events as they happen', auth: 'read',
    query: z.object({ run: z.string().regex(runIdPattern).optional().describe("one run's events, from its start") }),
    headers: { 'Last-Event-ID': 'resume after this event (its seq)' },
    answers: { 200: sse('`event: run-event`, `id: seq`, `data: RunEvent`; a comment every 15 s keeps idle streams open'), 400: 'not a run id' },
  },
  { method: 'get', path: '/api/v1/openapi.json', id: 'openApi', summary: 'This document', auth: 'none', answers: { 200: { content: 'application/json', description: 'OpenAPI 3.1' } } },
  { method: 'get', path: '/metrics', id: 'metrics', summary: 'Prometheus metrics, read from the store when scraped', auth: 'read', answers: { 200: text('Prometheus text format 0.0.4') } },
];

const worker: Route[] = [
  {
    method: 'post', path: '/api/v1/worker/register', id: 'workerRegister', summary: 'Trade a registration or join token for a worker credential', auth: 'registration',
    body: requests.register, answers: { 200: ok(bodies.registered, 'registered'), 403: 'a user token without the worker scope', 410: stop('the worker is no longer wanted') },
  },
  {
    method: 'post', path: '/api/v1/worker/claim', id: 'workerClaim', summary: 'Long poll for an attempt', auth: 'credential', body: requests.claim,
    answers: { 200: ok(handedOut, 'an attempt to run'), 204: none('nothing within wait_ms'), 410: stop('the worker is no longer wanted') },
  },
  {
    method: 'post', path: '/api/v1/worker/attempts/:id/heartbeat', id: 'workerHeartbeat', summary: 'Held up to hold_ms; answered at once on cancel or when the attempt ends', auth: 'credential',
    body: requests.heartbeat, answers: { 200: ok(bodies.beat), 400: 'not an attempt id', 409: stop('the attempt is no longer this worker’s') },
  },
  {
    method: 'post', path: '/api/v1/worker/attempts/:id/output', id: 'workerOutput', summary: `A chunk of the attempt's output (at most ${workerLimits.outputChunkBytes} bytes)`, auth: 'credential',
    body: { content: 'text/plain', description: 'output' }, answers: { 204: none('appended'), 400: 'not an attempt id', 409: stop('the attempt is no longer this worker’s'), 413: 'too large' },
  },
  {
    method: 'post', path: '/api/v1/worker/attempts/:id/finish', id: 'workerFinish', summary: "Report an attempt's end; optionally claim the next in the same call", auth: 'credential',
    body: requests.finish, answers: { 200: ok(bodies.finished, 'recorded'), 400: 'bad input', 404: 'no such attempt of this worker', 409: stop('the attempt had already ended; a newer result stands') },
  },
  {
    method: 'post', path: '/api/v1/worker/log', id: 'workerLogChunk', summary: `The worker's own output: init, cleanup (at most ${workerLimits.outputChunkBytes} bytes)`, auth: 'credential',
    body: { content: 'text/plain', description: 'output' }, answers: { 204: none('appended'), 413: 'too large' },
  },
  { method: 'post', path: '/api/v1/worker/stopped', id: 'workerStopped', summary: 'The agent ran its cleanup and exits', auth: 'credential', body: requests.stopped, answers: { 204: none('recorded') } },
  {
    method: 'post', path: '/api/v1/worker/attempts/:id/artifacts', id: 'workerArtifact', summary: `A file the attempt keeps, its bytes as the body (at most ${maxArtifactBytes} bytes)`, auth: 'credential',
    query: z.object({ path: z.string().describe("relative to the task's tree; must match one of the step's artifacts") }),
    body: { content: 'application/octet-stream', description: "the file's bytes" },
    answers: { 201: ok(bodies.artifact, 'kept'), 400: 'a path the step does not declare, or not a plain relative one', 409: 'the attempt is not in hand', 413: 'too large' },
  },
  {
    method: 'post', path: '/api/v1/worker/attempts/:id/artifacts/offer', id: 'workerArtifactOffer',
    summary: 'A file the attempt keeps, by its sha256 and size: kept at once when the blob store has those bytes, else where to upload them (then offered again)', auth: 'credential',
    body: requests.artifactOffer,
    answers: {
      200: ok(bodies.artifactUpload, 'upload the bytes: to the coordinator (send), or PUT to the signed URL with those headers'),
      201: ok(z.object({ kept: bodies.artifact }), 'kept: the store has those bytes'),
      400: 'a path the step does not declare, or not a plain relative one; not a sha256', 409: 'the attempt is not in hand; or the store holds other bytes under that sha256', 413: 'too large',
    },
  },
  {
    method: 'get', path: '/api/v1/worker/attempts/:id/inputs/:sha256', id: 'workerInput', summary: 'An artifact of a task the attempt needs (its inputs, by sha256)', auth: 'credential',
    answers: {
      200: { content: 'application/octet-stream', description: 'its bytes (files store)' }, 302: none('to a signed URL of the bucket (S3 store): follow it without the credential'),
      400: 'not an attempt id or a sha256', 404: "the attempt is not in hand, or its run has no such artifact", 409: 'the bucket holds other bytes under that sha256',
    },
  },
  {
    method: 'post', path: '/api/v1/worker/attempts/:id/cache/lookup', id: 'workerCacheLookup', summary: "The entry of the step's cache to restore: the key's, or the newest under a restore key", auth: 'credential',
    body: requests.cacheLookup,
    answers: { 200: ok(bodies.cacheFound), 400: 'bad input, or a step without a cache', 409: 'the attempt is not in hand' },
  },
  {
    method: 'get', path: '/api/v1/worker/attempts/:id/cache/entries/:sha256', id: 'workerCacheEntry', summary: "A cache entry's bytes (a .tar.gz), by sha256", auth: 'credential',
    answers: { 200: { content: 'application/gzip', description: 'its bytes' }, 302: 'to the bucket that holds them', 400: 'not an attempt id or a sha256', 404: "the attempt is not in hand, or its repository has no such entry" },
  },
  {
    method: 'post', path: '/api/v1/worker/attempts/:id/cache/entries', id: 'workerCacheSave', summary: `Save the step's cache paths (a .tar.gz) under a key its template gives (at most ${maxCacheEntryBytes} bytes)`, auth: 'credential',
    query: z.object({ key: z.string().describe("the key as the agent computed it from the step's template") }),
    body: { content: 'application/gzip', description: 'the entry' },
    answers: { 201: { description: 'saved; `evicted` names the keys the cap removed' }, 400: 'a key the template cannot give, or a step without a cache', 403: 'a try never saves', 409: 'the attempt is not in hand', 413: 'too large' },
  },
  {
    method: 'get', path: '/api/v1/worker/source', id: 'workerSource', summary: "A run's source tree: the worker's own run's, or one whose task it has in hand", auth: 'credential',
    query: z.object({ run: z.string().regex(runIdPattern).optional().describe("a run of the worker's pool whose attempt it holds (default: its own run)") }),
    answers: { 200: { content: 'application/gzip', description: 'named by its sha256 in x-slipway-digest' }, 403: 'the worker holds no attempt of that run', 404: 'the run has no source archive' },
  },
  ...([
    ['bootstrap.sh', 'agentBootstrap', 'text/x-shellscript', 'A POSIX sh script that fetches node and the agent (cached by sha256) and starts the agent'],
    ['slipway-agent.mjs', 'agentBundle', 'text/javascript', 'The agent, bundled into one file'],
    ['node', 'agentRuntime', 'application/octet-stream', "The node executable the coordinator runs (Linux, the coordinator's architecture)"],
  ] as const).map(([file, id, content, summary]): Route => ({
    method: 'get', path: `/api/v1/agent/${file}`, id, summary, auth: 'download',
    answers: { 200: { content, description: 'its sha256 in x-slipway-sha256' } },
  })),
  {
    method: 'get', path: '/api/v1/agent/bootstrap.ps1', id: 'agentBootstrapWindows', auth: 'download',
    summary: "A PowerShell script that fetches the agent and the coordinator's node.exe if it has one (cached by sha256), checks for bash and starts the agent",
    answers: { 200: text('the script, holding the sha256 of each file it fetches') },
  },
  {
    method: 'get', path: '/api/v1/agent/node.exe', id: 'agentRuntimeWindows', summary: 'A Windows node.exe, when the config sets [providers.ec2] windows_node', auth: 'download',
    answers: { 200: { content: 'application/octet-stream', description: 'its sha256 in x-slipway-sha256' }, 404: 'no windows_node is configured' },
  },
];

// ---- the document --------------------------------------------------------------------------

const pathParams: Record<string, { pattern?: RegExp; description: string }> = {
  run: { pattern: runIdPattern, description: 'a run id' },
  task: { description: 'a task id, URL-encoded (`build%5Bversion%3D1%5D`)' },
  attempt: { pattern: /^a-[0-9a-f]{12}$/, description: 'an attempt id' },
  id: { pattern: /^a-[0-9a-f]{12}$/, description: 'an attempt id' },
  worker: { pattern: /^w-[0-9a-f]{8}$/, description: 'a worker id' },
};

const security: Record<Exclude<Auth, 'none'>, { scheme: string; description: string }> = {
  read: { scheme: 'token', description: 'needs a user token with the read scope' },
  submit: { scheme: 'token', description: 'needs a user token with the submit scope' },
  admin: { scheme: 'token', description: 'needs a user token with the admin scope' },
  worker: { scheme: 'token', description: 'needs a user token with the worker scope' },
  registration: { scheme: 'registration', description: "needs a one-time registration token; with `activity`, the run's join token or a user token with the worker scope (or an admin's)" },
  download: { scheme: 'registration', description: 'needs the registration token of a worker still starting, unexpired; fetching does not use it up' },
  credential: { scheme: 'worker', description: "needs the worker's credential: it opens only its own worker's attempts" },
};

/**
 * Request bodies as their routes take them (defaults not required). zod bounds every int by
 * the safe integers, which says nothing here.
 */
const conversion = {
  io: 'input',
  override: ({ jsonSchema }: { jsonSchema: Record<string, unknown> }) => {
    if (jsonSchema.minimum === Number.MIN_SAFE_INTEGER) delete jsonSchema.minimum;
    if (jsonSchema.maximum === Number.MAX_SAFE_INTEGER) delete jsonSchema.maximum;
  },
} as const;

/** zod's `$schema` and `$id` have no place inside an OpenAPI document. */
function bare(schema: object): object {
  const { $schema: _, $id: __, ...rest } = schema as Record<string, unknown>;
  return rest;
}

function jsonSchema(schema: z.ZodType): object {
  return bare(z.toJSONSchema(schema, conversion));
}

/** A named schema is referenced; any other is written out. */
function schemaOf(schema: z.ZodType): object {
  const id = named.get(schema)?.id;
  return id ? { $ref: `#/components/schemas/${id}` } : jsonSchema(schema);
}

function operation(route: Route): object {
  const params = [...route.path.matchAll(/:(\w+)/g)].map(([, param]) => ({
    name: param, in: 'path', required: true, description: pathParams[param!]?.description,
    schema: { type: 'string', ...(pathParams[param!]?.pattern && { pattern: pathParams[param!]!.pattern!.source }) },
  }));
  const query = Object.entries(route.query?.shape ?? {}).map(([key, schema]) => ({
    name: key, in: 'query', required: false, schema: jsonSchema(schema as z.ZodType),
  }));
  const headers = Object.entries(route.headers ?? {}).map(([key, description]) => ({ name: key, in: 'header', required: false, description, schema: { type: 'string' } }));
  const json = route.body && !('content' in route.body) ? route.body : undefined;
  const raw = route.body && 'content' in route.body ? route.body : undefined;
  const body = json
    ? { required: false, content: { 'application/json': { schema: schemaOf(json) } } }
    : raw && { required: true, description: raw.description, content: { [raw.content]: { schema: { type: 'string', ...(raw.content !== 'text/plain' && { format: 'binary' }) } } } };
  // Every JSON body is read the same way (errors.ts readJson), under a size limit.
  const implied: Record<number, string> = json ? { 400: 'the body is not JSON or does not fit its schema', 413: 'the body is over its size limit' } : {};
  const scope = isScope(route.auth) ? route.auth : undefined;
  const auth = route.auth === 'none' ? undefined : security[route.auth];
  const failures: Record<number, string> = {};
  if (auth) failures[401] = 'no valid token or credential';
  if (scope && scope !== 'read') failures[403] = `the token lacks the ${scope} scope`;
  // A route that checks a token reads the store, and most write it (app.ts onError).
  if (auth) failures[503] = 'the store cannot be written or read now (locked by another process, read-only, disk full); the error says which and what to do. Try again after `retry-after` seconds';
  const responses = Object.fromEntries(Object.entries({ ...implied, ...failures, ...route.answers }).map(([status, answer]) => {
    const a: Answer = typeof answer === 'string' ? { schema: answers.error, description: answer } : answer;
    const content = a.schema ? { 'application/json': { schema: schemaOf(a.schema) } } : a.content ? { [a.content]: { schema: { type: 'string' } } } : undefined;
    const headers = status === '503' ? { 'retry-after': { description: 'seconds to wait before trying again', schema: { type: 'integer' } } } : undefined;
    return [status, { description: a.description, ...(headers && { headers }), ...(content && { content }) }];
  }));
  return {
    operationId: route.id,
    summary: route.summary,
    description: auth ? `Auth: ${auth.description}.` : 'No token needed.',
    tags: [route.path.startsWith('/api/v1/worker/') || route.path.startsWith('/api/v1/agent/') ? 'worker protocol' : 'user API'],
    ...(scope && { 'x-scopes': [scope] }),
    // OpenAPI 3.1 lets a bearer scheme list the roles an operation needs: the scope.
    security: auth ? [{ [auth.scheme]: scope ? [scope] : [] }] : [],
    ...(params.length + query.length + headers.length > 0 && { parameters: [...params, ...query, ...headers] }),
    ...(body && { requestBody: body }),
    responses,
  };
}

export function openApiDocument(): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const route of [...user, ...worker]) {
    const path = route.path.replace(/:(\w+)/g, '{$1}');
    (paths[path] ??= {})[route.method] = operation(route);
  }
  const { schemas } = z.toJSONSchema(named, { ...conversion, uri: (id) => `#/components/schemas/${id}` });
  return {
    openapi: '3.1.0',
    info: {
      title: 'Slipway', version: 'v1',
      description: 'The user API (docs/api.md) and the worker protocol (docs/worker-protocol.md). Errors are `{ "error": "…" }`; times are ISO-8601.',
    },
    tags: [{ name: 'user API' }, { name: 'worker protocol' }],
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(schemas).map(([id, schema]) => [id, bare(schema)])),
      securitySchemes: {
        token: { type: 'http', scheme: 'bearer', description: 'A user token (`slipway tokens create NAME --scope read|submit|admin|worker`); read, submit and admin each include the ones before, and worker only registers hand-started workers.' },
        registration: { type: 'http', scheme: 'bearer', description: "A worker's one-time registration token; or, for a hand-started worker that names its activity, its run's join token or a user token with the worker scope (or an admin's)." },
        worker: { type: 'http', scheme: 'bearer', description: 'The credential that register answered with.' },
      },
    },
  };
}
