import type { AttemptOrder } from '../coordinator/ops/claim.ts';
import type { WorkerSettings } from '../coordinator/coordinator.ts';

export interface Registered {
  worker: { id: string; name: string; activity: string; run: string };
  credential: string;
  settings: WorkerSettings;
}

export type Claimed = { attempt: AttemptOrder; name: string } | { none: true } | { stop: string };

export class StopRequested extends Error {}

/**
 * The agent's side of the worker protocol. It mirrors an activity-task service (claim,
 * heartbeat, finish) so another task source can sit behind the same interface.
 */
export class WorkerClient {
  readonly #server: string;
  #token: string;

  constructor(server: string, token: string) {
    this.#server = server.replace(/\/+$/, '');
    this.#token = token;
  }

  async register(body: { activity?: string; hostname: string; pid: number }): Promise<Registered> {
    const response = await this.#post('/register', body);
    if (response.status === 410) throw new StopRequested(((await response.json()) as { stop: string }).stop);
    const registered = (await this.#json(response)) as Registered;
    this.#token = registered.credential;
    return registered;
  }

  async claim(waitMs: number, signal?: AbortSignal): Promise<Claimed> {
    const response = await this.#post('/claim', { wait_ms: waitMs }, signal);
    if (response.status === 204) return { none: true };
    if (response.status === 410) return (await response.json()) as { stop: string };
    return (await this.#json(response)) as { attempt: AttemptOrder; name: string };
  }

  /** Resolves 'cancel' when the coordinator wants the attempt stopped, 'gone' when it is no longer ours. */
  async heartbeat(attemptId: string, holdMs: number, signal?: AbortSignal): Promise<'ok' | 'cancel' | 'gone'> {
    const response = await this.#post(`/attempts/${attemptId}/heartbeat`, { hold_ms: holdMs }, signal);
    if (response.status === 409) return 'gone';
    const body = (await this.#json(response)) as { cancel: boolean };
    return body.cancel ? 'cancel' : 'ok';
  }

  async output(attemptId: string, text: string): Promise<void> {
    await this.#expectOk(await this.#send(`/attempts/${attemptId}/output`, text, 'text/plain; charset=utf-8'), [409]);
  }

  async finish(attemptId: string, result: { outcome: string; exit_code: number | null; error: string | null }): Promise<{ name?: string; stop: boolean }> {
    const response = await this.#post(`/attempts/${attemptId}/finish`, result);
    if (response.status === 409) return { stop: true };
    return (await this.#json(response)) as { name: string; stop: boolean };
  }

  async log(text: string): Promise<void> {
    await this.#expectOk(await this.#send('/log', text, 'text/plain; charset=utf-8'));
  }

  async stopped(reason: string): Promise<void> {
    await this.#expectOk(await this.#post('/stopped', { reason }));
  }

  async source(): Promise<Response> {
    const response = await fetch(`${this.#server}/api/v1/worker/source`, { headers: { authorization: `Bearer ${this.#token}` } });
    if (!response.ok) throw new Error(`GET source: ${response.status} ${await response.text()}`);
    return response;
  }

  #post(path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
    return this.#send(path, JSON.stringify(body), 'application/json', signal);
  }

  #send(path: string, body: string, type: string, signal?: AbortSignal): Promise<Response> {
    return fetch(`${this.#server}/api/v1/worker${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.#token}`, 'content-type': type },
      body,
      signal,
    });
  }

  async #json(response: Response): Promise<unknown> {
    if (!response.ok) {
      const text = await response.text();
      throw new Error(`${response.url.replace(this.#server, '')}: ${response.status} ${text.slice(0, 500)}`);
    }
    return response.json();
  }

  async #expectOk(response: Response, alsoFine: number[] = []): Promise<void> {
    if (response.ok || alsoFine.includes(response.status)) {
      await response.body?.cancel();
      return;
    }
    throw new Error(`${response.url.replace(this.#server, '')}: ${response.status} ${(await response.text()).slice(0, 500)}`);
  }
}
