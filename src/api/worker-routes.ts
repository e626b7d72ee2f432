import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { Coordinator, WorkerIdentity } from '../coordinator/coordinator.ts';
import { BlobDamaged, type ReadTarget } from '../blobs/blob-store.ts';
import { agentStopCauses, type ArtifactOfferAnswer, type CacheFound, type Finished, type HandedOut, type HeartbeatAnswer, type Registered, type StopAnswer } from '../protocol/worker.ts';
import { maxArtifactBytes } from '../coordinator/run-artifacts.ts';
import { maxCacheEntryBytes } from '../coordinator/run-caches.ts';
import { idPatterns } from '../util/ids.ts';
import { BodyTooLarge } from '../util/save-body.ts';
import { bearerToken, bodyText, fail, readJson } from './errors.ts';
import { sendFile } from './file-range.ts';
import type { RegistrationTokens } from './registration-tokens.ts';

/** Limits of the worker protocol, documented in docs/api.md. */
export const workerLimits = {
  jsonBodyBytes: 64 * 1024,
  outputChunkBytes: 1024 * 1024,
  maxWaitMs: 60_000,
};

export const registerBody = z.object({
  activity: z.string().max(100).optional(),
  hostname: z.string().max(255).optional(),
  pid: z.number().int().optional(),
}).strict();
export const claimBody = z.object({
  wait_ms: z.number().int().min(0).max(workerLimits.maxWaitMs).default(20_000),
  idle: z.boolean().optional().describe('the worker is past its idle_timeout (keep_warm): tell it to stop unless its pool needs it warm'),
}).strict();
export const heartbeatBody = z.object({ hold_ms: z.number().int().min(0).max(workerLimits.maxWaitMs).default(0) }).strict();
export const finishBody = z.object({
  outcome: z.enum(['succeeded', 'failed', 'timed_out', 'cancelled']),
  exit_code: z.number().int().nullable().default(null),
  error: z.string().max(4096).nullable().default(null),
  script_ms: z.number().int().min(0).nullable().default(null).describe('how long its script ran, from its start to its exit, as the worker measured it; null when none ran'),
  claim_next: z.boolean().default(false).describe('hand out the next attempt in the same call, if one is ready now'),
  wait_ms: z.number().int().min(0).max(workerLimits.maxWaitMs).default(0)
    .describe('with claim_next: when no attempt is ready, wait up to this long for one, as a claim does (the end is recorded first)'),
}).strict();
export const stoppedBody = z.object({ cause: z.enum(agentStopCauses), reason: z.string().max(1024) }).strict();
export const offerBody = z.object({
  path: z.string().min(1).max(4096).describe("relative to the task's tree; must match one of the step's artifacts"),
  sha256: z.string().regex(idPatterns.digest, { error: 'expected a sha256 in lower-case hex' }),
  size: z.int().min(0),
}).strict();
export const cacheLookupBody = z.object({
  key: z.string().min(1).max(1024),
  restore_keys: z.array(z.string().min(1).max(1024)).max(10).default([]),
}).strict();
const attemptId = /^a-[0-9a-f]{12}$/;

type Env = { Variables: { worker: WorkerIdentity } };

/** Said for a credential the store does not hold (any more); the agent takes it as told to stop. */
export const credentialRefused = 'this worker credential is not valid: it is unknown, or it ended when its worker stopped or was lost or its run finished';

/**
 * The agent's side of the API: register, claim (long poll), heartbeat, stream output,
 * finish, stop. Each worker's credential opens only its own routes, for its own attempts,
 * and ends with its worker: once it stopped or was lost, or its run finished, every route
 * answers 401, whichever coordinator process on the store ended it.
 */
export function workerRoutes(coordinator: Coordinator, registrationTokens?: RegistrationTokens): Hono<Env> {
  const app = new Hono<Env>();

  app.post('/register', async (c) => {
    const token = bearerToken(c);
    if (!token) return fail(c, 401, 'a registration token is required: Authorization: Bearer TOKEN');
    if (await registrationTokens?.check(token) === 'expired') return fail(c, 401, 'this registration token expired: its worker did not register in time');
    const body = await readJson(c, registerBody, workerLimits.jsonBodyBytes);
    if (!body.ok) return body.response;
    const registration = await coordinator.register(token, body.value.activity ? { activity: body.value.activity } : undefined);
    if (registration.kind === 'denied') return fail(c, 401, 'this registration token is not valid (used, expired or unknown)');
    if (registration.kind === 'forbidden') {
      return fail(c, 403, 'this token may not register workers: use a run\'s join token or a token with the worker scope (slipway tokens create NAME --scope worker)');
    }
    if (registration.kind === 'stop') return c.json({ stop: registration.reason } satisfies StopAnswer, 410);
    return c.json({
      worker: { id: registration.workerId, name: registration.name, activity: registration.activity, run: registration.runId },
      credential: registration.credential,
      settings: registration.settings,
    } satisfies Registered);
  });

  // Registered before the authentication below, which it does itself inside the transaction
  // that records the end: every task ends with this request, one store read fewer.
  app.post('/attempts/:id/finish', async (c) => {
    const token = bearerToken(c);
    if (!token) return fail(c, 401, 'a worker credential is required: Authorization: Bearer CREDENTIAL');
    const id = c.req.param('id');
    if (!attemptId.test(id)) return fail(c, 400, 'not an attempt id');
    const body = await readJson(c, finishBody, workerLimits.jsonBodyBytes);
    if (!body.ok) return body.response;
    const { outcome, exit_code: exitCode, error, script_ms: scriptMs, claim_next: claimNext, wait_ms: waitMs } = body.value;
    const done = await coordinator.finishWithCredential(token, id, { outcome, exitCode, error, scriptMs }, claimNext && { waitMs, signal: c.req.raw.signal });
    if (!done) return fail(c, 401, credentialRefused);
    const { finished, next } = done;
    if (finished.kind === 'unknown') return fail(c, 404, `no attempt ${id} of this worker`);
    if (finished.kind === 'stale') return c.json({ stop: 'this attempt had already ended; a newer result stands' }, 409);
    return c.json({
      name: finished.workerName,
      stop: finished.stop || next?.kind === 'stop',
      ...(next?.kind === 'attempt' ? { next: { attempt: next.attempt, name: next.workerName } } : {}),
    } satisfies Finished);
  });

  app.use('/*', async (c, next) => {
    const token = bearerToken(c);
    if (!token) return fail(c, 401, 'a worker credential is required: Authorization: Bearer CREDENTIAL');
    const worker = await coordinator.authenticate(token);
    if (!worker) return fail(c, 401, credentialRefused);
    c.set('worker', worker);
    await next();
  });

  app.post('/claim', async (c) => {
    const body = await readJson(c, claimBody, workerLimits.jsonBodyBytes);
    if (!body.ok) return body.response;
    const answer = await coordinator.claim(c.get('worker'), body.value.wait_ms, c.req.raw.signal, body.value.idle === true);
    if (answer.kind === 'stop') return c.json({ stop: answer.reason } satisfies StopAnswer, 410);
    if (answer.kind === 'none') return c.body(null, 204);
    return c.json({ attempt: answer.attempt, name: answer.workerName } satisfies HandedOut);
  });

  app.post('/attempts/:id/heartbeat', async (c) => {
    const id = c.req.param('id');
    if (!attemptId.test(id)) return fail(c, 400, 'not an attempt id');
    const body = await readJson(c, heartbeatBody, workerLimits.jsonBodyBytes);
    if (!body.ok) return body.response;
    const answer = await coordinator.heartbeat(c.get('worker'), id, body.value.hold_ms, c.req.raw.signal);
    if (answer === 'unknown') return c.json({ stop: 'this attempt is no longer yours' } satisfies StopAnswer, 409);
    return c.json({ cancel: answer === 'cancel' } satisfies HeartbeatAnswer);
  });

  const outputChunkOver = (c: Context) => fail(c, 413, `an output chunk is limited to ${workerLimits.outputChunkBytes} bytes`);

  app.post('/attempts/:id/output', async (c) => {
    const id = c.req.param('id');
    if (!attemptId.test(id)) return fail(c, 400, 'not an attempt id');
    const text = await bodyText(c, workerLimits.outputChunkBytes);
    if (text === undefined) return outputChunkOver(c);
    if (!coordinator.output(c.get('worker'), id, text)) return c.json({ stop: 'this attempt is no longer yours' }, 409);
    return c.body(null, 204);
  });

  app.post('/log', async (c) => {
    const text = await bodyText(c, workerLimits.outputChunkBytes);
    if (text === undefined) return outputChunkOver(c);
    coordinator.workerOutput(c.get('worker'), text);
    return c.body(null, 204);
  });

  app.post('/stopped', async (c) => {
    const body = await readJson(c, stoppedBody, workerLimits.jsonBodyBytes);
    if (!body.ok) return body.response;
    await coordinator.stopped(c.get('worker'), body.value);
    return c.body(null, 204);
  });

  // A file the attempt keeps, its bytes as the body: recorded only for an attempt in hand whose step declares it.
  app.post('/attempts/:id/artifacts', async (c) => {
    const id = c.req.param('id');
    if (!attemptId.test(id)) return fail(c, 400, 'not an attempt id');
    const path = c.req.query('path');
    if (path === undefined) return fail(c, 400, 'the artifact\'s path is required: ?path=PATH (relative to the task\'s tree)');
    return received(c, maxArtifactBytes, `artifact ${path.slice(0, 200)}`, async (body) => {
      const answer = await coordinator.artifacts.keep(c.get('worker'), id, path, body);
      return 'refused' in answer ? fail(c, answer.status, answer.refused) : c.json(answer.kept, 201);
    });
  });

  // A file the agent hashed: kept at once when the store has its bytes, else where to upload them.
  app.post('/attempts/:id/artifacts/offer', async (c) => {
    const id = c.req.param('id');
    if (!attemptId.test(id)) return fail(c, 400, 'not an attempt id');
    const body = await readJson(c, offerBody, workerLimits.jsonBodyBytes);
    if (!body.ok) return body.response;
    const { path, ...blob } = body.value;
    try {
      const answer = await coordinator.artifacts.offer(c.get('worker'), id, path, blob);
      if ('refused' in answer) return fail(c, answer.status, answer.refused);
      if ('kept' in answer) return c.json(answer, 201);
      return c.json(answer satisfies ArtifactOfferAnswer);
    } catch (error) {
      if (error instanceof BlobDamaged) return fail(c, 409, `artifact ${path.slice(0, 200)}: ${error.message}`);
      throw error;
    }
  });

  app.get('/attempts/:id/inputs/:sha256', async (c) => {
    const id = c.req.param('id');
    if (!attemptId.test(id)) return fail(c, 400, 'not an attempt id');
    const sha256 = c.req.param('sha256');
    if (!idPatterns.digest.test(sha256)) return fail(c, 400, 'not a sha256');
    return blobAnswer(c, () => coordinator.artifacts.input(c.get('worker'), id, sha256), `attempt ${id} of this worker has no input ${sha256}`, 'application/octet-stream');
  });

  app.post('/attempts/:id/cache/lookup', async (c) => {
    const id = c.req.param('id');
    if (!attemptId.test(id)) return fail(c, 400, 'not an attempt id');
    const body = await readJson(c, cacheLookupBody, workerLimits.jsonBodyBytes);
    if (!body.ok) return body.response;
    const answer = await coordinator.caches.lookup(c.get('worker'), id, body.value);
    if ('refused' in answer) return fail(c, answer.status, answer.refused);
    return c.json(answer satisfies CacheFound);
  });

  app.get('/attempts/:id/cache/entries/:sha256', async (c) => {
    const id = c.req.param('id');
    if (!attemptId.test(id)) return fail(c, 400, 'not an attempt id');
    const sha256 = c.req.param('sha256');
    if (!idPatterns.digest.test(sha256)) return fail(c, 400, 'not a sha256');
    return blobAnswer(c, () => coordinator.caches.readTarget(c.get('worker'), id, sha256), `attempt ${id} of this worker has no cache entry ${sha256}`, 'application/gzip');
  });

  // A cache entry's bytes (a .tar.gz of the step's cache paths), saved under the key the agent computed.
  app.post('/attempts/:id/cache/entries', async (c) => {
    const id = c.req.param('id');
    if (!attemptId.test(id)) return fail(c, 400, 'not an attempt id');
    const key = c.req.query('key');
    if (key === undefined || key.length === 0 || key.length > 1024) return fail(c, 400, 'the entry\'s key is required: ?key=KEY (at most 1024 characters)');
    return received(c, maxCacheEntryBytes, 'a cache entry', async (body) => {
      const answer = await coordinator.caches.save(c.get('worker'), id, key, body);
      return 'refused' in answer ? fail(c, answer.status, answer.refused) : c.json(answer, 201);
    });
  });

  app.get('/source', async (c) => {
    const worker = c.get('worker');
    // Its own run's, or that of a run whose task it has in hand (its pool serves several).
    const runId = c.req.query('run') ?? worker.runId;
    if (!(await coordinator.mayFetchSource(worker, runId))) return fail(c, 403, `this worker has no attempt of run ${runId.slice(0, 40)}`);
    // The credential ended if the pool's runs finished, so a copied one cannot take the source away then.
    const spec = await coordinator.runSpec(runId);
    if (!spec.sourceDigest) return fail(c, 404, 'this run has no source archive');
    c.header('x-slipway-digest', spec.sourceDigest);
    return blobAnswer(c, () => coordinator.sourceArchive(spec.sourceDigest!), `the source archive ${spec.sourceDigest} of run ${runId} is no longer in the blob store`, 'application/gzip');
  });

  return app;
}

/**
 * A request whose body is a file (an artifact, a cache entry) of at most `maxBytes`: one
 * declared larger is refused before it is read, one that runs over while it streams, or
 * breaks off, is answered rather than left to fail the server.
 */
async function received(c: Context<Env>, maxBytes: number, what: string, keep: (body: ReadableStream<Uint8Array>) => Promise<Response>): Promise<Response> {
  if (Number(c.req.header('content-length') ?? 0) > maxBytes) return fail(c, 413, new BodyTooLarge(what, maxBytes).message);
  if (!c.req.raw.body) return fail(c, 400, `the body must be the bytes of ${what}`);
  try {
    return await keep(c.req.raw.body);
  } catch (error) {
    if (error instanceof BodyTooLarge) return fail(c, 413, error.message);
    if (c.req.raw.signal.aborted) return fail(c, 400, 'the upload ended before its body did');
    throw error;
  }
}

/** A blob a worker may read: sent from this machine, or a redirect to the bucket's signed URL, which the agent follows without its credential. */
async function blobAnswer(c: Context<Env>, find: () => Promise<ReadTarget | undefined>, missing: string, contentType: string): Promise<Response> {
  let target: ReadTarget | undefined;
  try {
    target = await find();
  } catch (error) {
    if (error instanceof BlobDamaged) return fail(c, 409, error.message);
    throw error;
  }
  if (!target) return fail(c, 404, missing);
  return 'url' in target ? c.redirect(target.url, 302) : sendFile(c, target.file, contentType);
}
