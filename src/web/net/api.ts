import { authHeaders, reportRefused } from './auth.ts';
import type { Artifact, Me, Pool, Run, RunDetail, Task, Worker } from '../lib/types.ts';

/** An answer other than 2xx, with the server's `{ "error": … }` text when it sent one. */
export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
  }
}

/** Every request to the API: the bearer token, and a 401 anywhere reported once, centrally. */
export async function request(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  for (const [k, v] of Object.entries(authHeaders())) headers.set(k, v);
  const res = await fetch(path, { ...init, headers, cache: 'no-store' });
  if (res.status === 401) reportRefused();
  if (!res.ok) throw new ApiError(res.status, await errorText(res));
  return res;
}

async function errorText(res: Response): Promise<string> {
  try {
    const body: unknown = await res.json();
    if (body && typeof body === 'object' && 'error' in body && typeof body.error === 'string') return body.error;
  } catch {
    // Not JSON: a proxy's page, an empty body.
  }
  return `${res.status} ${res.statusText}`.trim();
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const res = await request(path, signal ? { signal, headers: { Accept: 'application/json' } } : { headers: { Accept: 'application/json' } });
  return (await res.json()) as T;
}

export async function postJson<T>(path: string): Promise<T> {
  const res = await request(path, { method: 'POST', headers: { Accept: 'application/json' } });
  return (await res.json()) as T;
}

const v1 = '/api/v1';
const enc = encodeURIComponent;

export const api = {
  me: (signal?: AbortSignal) => getJson<Me>(`${v1}/me`, signal),
  runs: (q: { status?: string; pipeline?: string; revision?: string; branch?: string; before?: string; limit?: number }, signal?: AbortSignal) => {
    const p = new URLSearchParams();
    if (q.status) p.set('status', q.status);
    if (q.pipeline) p.set('pipeline', q.pipeline);
    if (q.revision) p.set('revision', q.revision);
    if (q.branch) p.set('branch', q.branch);
    if (q.before) p.set('before', q.before);
    p.set('limit', String(q.limit ?? 50));
    return getJson<{ runs: Run[]; next: string | null }>(`${v1}/runs?${p}`, signal);
  },
  run: (run: string, signal?: AbortSignal) => getJson<RunDetail>(`${v1}/runs/${enc(run)}`, signal),
  task: (run: string, task: string, signal?: AbortSignal) => getJson<Task>(`${v1}/runs/${enc(run)}/tasks/${enc(task)}`, signal),
  cancel: (run: string) => postJson<{ run: Run }>(`${v1}/runs/${enc(run)}/cancel`),
  rerun: (run: string) => postJson<{ run: Run }>(`${v1}/runs/${enc(run)}/rerun`),
  workers: (q: { run?: string; state?: string } = {}, signal?: AbortSignal) => {
    const p = new URLSearchParams();
    if (q.run) p.set('run', q.run);
    if (q.state) p.set('state', q.state);
    const s = p.toString();
    return getJson<{ workers: Worker[] }>(`${v1}/workers${s ? `?${s}` : ''}`, signal);
  },
  pools: (signal?: AbortSignal) => getJson<{ pools: Pool[] }>(`${v1}/pools`, signal),
  artifacts: (run: string, task: string, signal?: AbortSignal) =>
    getJson<{ artifacts: Artifact[] }>(`${v1}/runs/${enc(run)}/artifacts?${new URLSearchParams({ task })}`, signal),
  artifactFile: (run: string, task: string, path: string) => `${v1}/runs/${enc(run)}/artifacts/file?${new URLSearchParams({ task, path })}`,
  artifactLink: (run: string, task: string, path: string) => getJson<{ url: string | null }>(`${v1}/runs/${enc(run)}/artifacts/file?${new URLSearchParams({ task, path, link: '1' })}`),
  attemptLog: (attempt: string) => `${v1}/attempts/${enc(attempt)}/log`,
  attemptLogStream: (attempt: string) => `${v1}/attempts/${enc(attempt)}/log/stream`,
  workerLog: (worker: string) => `${v1}/workers/${enc(worker)}/log`,
  events: (run?: string) => `${v1}/events${run ? `?run=${enc(run)}` : ''}`,
};

export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}

export function isAbort(e: unknown): boolean {
  return e instanceof DOMException && e.name === 'AbortError';
}
