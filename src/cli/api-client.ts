import { createReadStream, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { localAdminToken } from '../config/admin-token.ts';
import { stateDir } from '../config/paths.ts';
import { trustServerCertificates } from './client-trust.ts';
import { UsageError } from './usage-error.ts';

/** Where a server is and how to sign in: --server/--token, $SLIPWAY_SERVER/$SLIPWAY_TOKEN, or this machine's server. */
export function serverOf(options: { server?: string; token?: string }): ApiClient | undefined {
  const server = options.server ?? process.env.SLIPWAY_SERVER;
  if (!server) return undefined;
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new UsageError(`--server takes a URL such as http://127.0.0.1:7070, not '${server}'`);
  }
  if (url.protocol === 'https:') trustServerCertificates(stateDir());
  const token = options.token ?? process.env.SLIPWAY_TOKEN ?? localAdminToken(stateDir());
  if (!token) throw new UsageError(`a token is needed for ${url.origin}: --token or SLIPWAY_TOKEN (slipway tokens create, on the server's machine)`);
  return new ApiClient(url, token);
}

/** The server did not answer (down, restarting): worth trying again, unlike a refusal. */
export class ServerUnreachable extends UsageError {}

/** The server answered a request with an error status (4xx, 500). */
export class ServerRefused extends UsageError {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** The user API, with errors turned into messages. */
export class ApiClient {
  readonly #base: URL;
  readonly #token: string;

  constructor(base: URL, token: string) {
    this.#base = base;
    this.#token = token;
  }

  get origin(): string {
    return this.#base.origin;
  }

  async json<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const init = body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
    return (await this.#request(method, path, init)).json() as Promise<T>;
  }

  /** An answer's body as it arrives, for one too large to hold (a log). */
  async stream(path: string): Promise<Readable> {
    const body = (await this.#request('GET', path)).body;
    return body ? Readable.fromWeb(body as import('node:stream/web').ReadableStream) : Readable.from([]);
  }

  /**
   * A download the server may answer with a redirect to a signed URL of another origin (a
   * bucket): followed here, without the token, which is the server's alone.
   */
  async download(path: string): Promise<Readable> {
    const answer = await this.#request('GET', path, { redirect: 'manual' });
    const location = answer.headers.get('location');
    let response = answer;
    if (answer.status >= 300 && answer.status < 400 && location) {
      const url = new URL(location, this.#base);
      try {
        response = await fetch(url);
      } catch (error) {
        throw new ServerUnreachable(`cannot reach ${url.origin}, where ${this.#base.origin} keeps the file: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`);
      }
      if (!response.ok) throw new ServerRefused(response.status, `${url.origin}, where ${this.#base.origin} keeps the file, answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
    }
    return response.body ? Readable.fromWeb(response.body as import('node:stream/web').ReadableStream) : Readable.from([]);
  }

  /** Sends a file as the body. */
  async upload<T>(path: string, file: string, type: string): Promise<T> {
    const body = Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>;
    const init = { body, duplex: 'half', headers: { 'content-type': type, 'content-length': String(statSync(file).size) } } as RequestInit;
    return (await this.#request('POST', path, init)).json() as Promise<T>;
  }

  /** A stream of server-sent events, from the event after `since`. */
  open(path: string, signal: AbortSignal, since = 0): Promise<Response> {
    return this.#request('GET', path, { signal, headers: since > 0 ? { 'last-event-id': String(since) } : {} });
  }

  async #request(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(new URL(path, this.#base), { ...init, method, headers: { ...(init.headers as Record<string, string>), authorization: `Bearer ${this.#token}` } });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new ServerUnreachable(`cannot reach ${this.#base.origin}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`);
    }
    if (response.ok || (init.redirect === 'manual' && response.status >= 300 && response.status < 400)) return response;
    if (response.status === 502 || response.status === 503 || response.status === 504) {
      throw new ServerUnreachable(`${this.#base.origin} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
    }
    const body = await response.text();
    let message = body.slice(0, 300);
    try {
      message = (JSON.parse(body) as { error: string }).error;
    } catch {
      // Not our JSON: the text as it came.
    }
    throw new ServerRefused(response.status, `${this.#base.origin} answered ${response.status}: ${message}`);
  }
}
