import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import type {
  AgentStop, ArtifactOffer, ArtifactOfferAnswer, CacheFound, ClaimRequest, Finished, FinishRequest, HandedOut, HeartbeatAnswer, HeartbeatRequest, RegisterRequest, Registered, StopAnswer,
} from '../protocol/worker.ts';
import { HttpConnection, type HttpAnswer } from './http-request.ts';
import { withReconnect, type ReconnectPolicy } from './reconnect.ts';
import type { CacheClient } from './task-cache.ts';

/** A claim's outcome: an attempt, nothing within the wait, or a stop. */
export type Claimed = HandedOut | { none: true } | StopAnswer;

/** A finish's answer, or a stop when the attempt is no longer this worker's. */
export type FinishAnswer = Finished | { stop: true; name?: never; next?: never };

/** An answer as withReconnect judges it: by its status, before its body is read. */
function answered(res: IncomingMessage): { status: number; res: IncomingMessage } {
  return { status: res.statusCode ?? 0, res };
}

async function readAnswer(res: IncomingMessage): Promise<HttpAnswer> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') };
}

/** The coordinator turned a request down: what it said, with the status. */
export class CoordinatorRefused extends Error {
  readonly status: number;

  constructor(what: string, answer: HttpAnswer) {
    let reason = answer.body.slice(0, 500);
    try {
      reason = (JSON.parse(answer.body) as { error?: string }).error ?? reason;
    } catch {
      // Not our JSON: the text as it came.
    }
    super(`${what}: the coordinator answered ${answer.status}: ${reason}`);
    this.status = answer.status;
  }
}

export class StopRequested extends Error {}

/**
 * A credential ends with its worker: one that hears 401 after registering was given up on
 * (lost) while it was away, or its run finished, and stops as if told to.
 */
const credentialEnded = 'its credential ended: its run finished, or the coordinator let this worker go';

/**
 * The agent's side of the worker protocol. It mirrors an activity-task service (claim,
 * heartbeat, finish) so another task source can sit behind the same interface.
 */
export class WorkerClient {
  readonly #server: string;
  readonly #http: HttpConnection;
  readonly #reconnect: ReconnectPolicy;
  #token: string;

  /** `certificate`: the coordinator's, which an https connection trusts alone. */
  constructor(server: string, token: string, reconnect: ReconnectPolicy, certificate?: string) {
    this.#server = server.replace(/\/+$/, '');
    this.#http = new HttpConnection(this.#server, certificate);
    this.#token = token;
    this.#reconnect = reconnect;
  }

  async register(body: RegisterRequest): Promise<Registered> {
    const answer = await this.#post('/register', body);
    if (answer.status === 410) throw new StopRequested((JSON.parse(answer.body) as StopAnswer).stop);
    const registered = this.#json<Registered>('register', answer);
    this.#token = registered.credential;
    return registered;
  }

  /** With `idle`, the worker is past its idle_timeout and the coordinator may tell it to stop (keep_warm). */
  async claim(waitMs: number, signal?: AbortSignal, idle = false): Promise<Claimed> {
    const answer = await this.#post('/claim', { wait_ms: waitMs, ...(idle && { idle }) } satisfies ClaimRequest, signal);
    if (answer.status === 204) return { none: true };
    if (answer.status === 410) return JSON.parse(answer.body) as StopAnswer;
    if (answer.status === 401) return { stop: credentialEnded };
    return this.#json<HandedOut>('claim', answer);
  }

  /** Resolves 'cancel' when the coordinator wants the attempt stopped, 'gone' when it is no longer ours. */
  async heartbeat(attemptId: string, holdMs: number): Promise<'ok' | 'cancel' | 'gone'> {
    const answer = await this.#post(`/attempts/${attemptId}/heartbeat`, { hold_ms: holdMs } satisfies HeartbeatRequest);
    if (answer.status === 409 || answer.status === 401) return 'gone';
    return this.#json<HeartbeatAnswer>('heartbeat', answer).cancel ? 'cancel' : 'ok';
  }

  async output(attemptId: string, text: string): Promise<void> {
    this.#expectOk('output', await this.#send(`/attempts/${attemptId}/output`, text, 'text/plain; charset=utf-8'), [409, 401]);
  }

  /** With `claim_next`, the answer may carry the worker's next attempt (waited for up to `wait_ms`, unless `signal` aborts). */
  async finish(attemptId: string, result: FinishRequest, signal?: AbortSignal): Promise<FinishAnswer> {
    const answer = await this.#post(`/attempts/${attemptId}/finish`, result, signal);
    if (answer.status === 409 || answer.status === 401) return { stop: true };
    return this.#json<Finished>('finish', answer);
  }

  /** False when the coordinator takes no more of this worker's log: its credential ended. */
  async log(text: string): Promise<boolean> {
    const answer = await this.#send('/log', text, 'text/plain; charset=utf-8');
    this.#expectOk('log', answer, [401]);
    return answer.status !== 401;
  }

  /** False when there was nobody to tell: the credential had ended (its run finished, say). */
  async stopped(stop: AgentStop): Promise<boolean> {
    const answer = await this.#post('/stopped', stop);
    this.#expectOk('stopped', answer, [401]);
    this.#http.close();
    return answer.status !== 401;
  }

  /** A run's source archive (the worker's own run's without `runId`), streamed. */
  source(runId?: string): Promise<Response> {
    const query = runId ? `?run=${encodeURIComponent(runId)}` : '';
    return this.#download('source', `/api/v1/worker/source${query}`);
  }

  /** An input of the attempt (an artifact of a task it needs), by its sha256, streamed. */
  input(attemptId: string, sha256: string): Promise<Response> {
    return this.#download('input', `/api/v1/worker/attempts/${attemptId}/inputs/${sha256}`);
  }

  /** Uploads one file an attempt keeps; sent again whole when the connection breaks. */
  artifact(attemptId: string, path: string, file: string): Promise<void> {
    return this.#upload('artifact', `/api/v1/worker/attempts/${attemptId}/artifacts?path=${encodeURIComponent(path)}`, file);
  }

  /** The coordinator's side of an attempt's step cache: look an entry up, fetch its bytes, save a new one. */
  cacheOf(attemptId: string): CacheClient {
    const base = `/attempts/${attemptId}/cache`;
    return {
      lookup: async (ask) => this.#json<CacheFound>('cache lookup', await this.#post(`${base}/lookup`, ask)),
      download: (sha256) => this.#download('cache', `/api/v1/worker${base}/entries/${sha256}`),
      save: (key, file) => this.#upload('cache', `/api/v1/worker${base}/entries?key=${encodeURIComponent(key)}`, file),
    };
  }

  /** Sends a file as a request's body; sent again whole when the connection breaks. */
  async #upload(what: string, url: string, file: string): Promise<void> {
    const { res } = await withReconnect(what, this.#reconnect, async () => answered(await this.#http.open('POST', url, {
      authorization: `Bearer ${this.#token}`, 'content-type': 'application/octet-stream', 'content-length': String((await stat(file)).size),
    }, createReadStream(file))));
    const answer = await readAnswer(res);
    if (answer.status < 200 || answer.status >= 300) throw new CoordinatorRefused(what, answer);
  }

  /** A download over the agent's own connection (which pins the coordinator's certificate), as a fetch Response. */
  async #download(what: string, path: string): Promise<Response> {
    const { status, res } = await withReconnect(what, this.#reconnect, async () => answered(await this.#http.open('GET', path, { authorization: `Bearer ${this.#token}` })));
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location) {
      res.resume();
      // A bucket's signed URL: fetched as any https URL is (the system's CAs), without the worker's credential.
      const response = await withReconnect(what, this.#reconnect, () => fetch(new URL(location, this.#server)));
      if (!response.ok) throw new CoordinatorRefused(what, { status: response.status, body: await response.text() });
      return response;
    }
    if (status < 200 || status >= 300) throw new CoordinatorRefused(what, await readAnswer(res));
    const headers = Object.entries(res.headers).flatMap(([name, value]): [string, string][] => (value === undefined ? [] : [[name, String(value)]]));
    return new Response(Readable.toWeb(res) as ReadableStream, { status, headers });
  }

  /** Offers a file the attempt keeps, by its sha256 and size: kept already, or where to upload it. */
  async offerArtifact(attemptId: string, offer: ArtifactOffer): Promise<ArtifactOfferAnswer> {
    return this.#json<ArtifactOfferAnswer>('artifact', await this.#post(`/attempts/${attemptId}/artifacts/offer`, offer));
  }

  #post(path: string, body: unknown, signal?: AbortSignal): Promise<HttpAnswer> {
    return this.#send(path, JSON.stringify(body), 'application/json', signal);
  }

  #send(path: string, body: string, type: string, signal?: AbortSignal): Promise<HttpAnswer> {
    return withReconnect(path.slice(path.lastIndexOf('/') + 1), this.#reconnect,
      () => this.#http.send('POST', `/api/v1/worker${path}`, { authorization: `Bearer ${this.#token}`, 'content-type': type }, body, signal), signal);
  }

  #json<T>(what: string, answer: HttpAnswer): T {
    if (answer.status < 200 || answer.status >= 300) throw new CoordinatorRefused(what, answer);
    return JSON.parse(answer.body) as T;
  }

  #expectOk(what: string, answer: HttpAnswer, alsoFine: number[] = []): void {
    if ((answer.status >= 200 && answer.status < 300) || alsoFine.includes(answer.status)) return;
    throw new CoordinatorRefused(what, answer);
  }
}
