import { localAdminToken } from '../config/admin-token.ts';
import { stateDir } from '../config/paths.ts';
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
  const token = options.token ?? process.env.SLIPWAY_TOKEN ?? localAdminToken(stateDir());
  if (!token) throw new UsageError(`a token is needed for ${url.origin}: --token or SLIPWAY_TOKEN (slipway tokens create, on the server's machine)`);
  return new ApiClient(url, token);
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

  async json<T>(method: 'GET' | 'POST', path: string): Promise<T> {
    return (await this.#request(method, path)).json() as Promise<T>;
  }

  async text(path: string): Promise<string> {
    return (await this.#request('GET', path)).text();
  }

  async #request(method: string, path: string): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(new URL(path, this.#base), { method, headers: { authorization: `Bearer ${this.#token}` } });
    } catch (error) {
      throw new UsageError(`cannot reach ${this.#base.origin}: ${(error as Error & { cause?: Error }).cause?.message ?? (error as Error).message}`);
    }
    if (response.ok) return response;
    const body = await response.text();
    let message = body.slice(0, 300);
    try {
      message = (JSON.parse(body) as { error: string }).error;
    } catch {
      // Not our JSON: the text as it came.
    }
    throw new UsageError(`${this.#base.origin} answered ${response.status}: ${message}`);
  }
}
