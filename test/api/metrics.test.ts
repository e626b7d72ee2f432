import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testCoordinator } from '../helpers/coordinator.ts';
import { createApp } from '../../src/api/app.ts';
import type { Coordinator, WorkerIdentity } from '../../src/coordinator/coordinator.ts';
import type { AttemptOutcome } from '../../src/engine/report.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { Store } from '../../src/store/store.ts';
import { createToken } from '../../src/store/tokens.ts';
import { ManualClock } from '../helpers/manual-clock.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { tempDir } from '../helpers/temp.ts';

/** Prometheus text exposition, parsed: every sample by its name and labels, and every TYPE. */
function parseExposition(text: string) {
  const samples = new Map<string, number>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const type = line.match(/^# TYPE (\S+) (\S+)$/);
    if (type) types.set(type[1]!, type[2]!);
    if (line === '' || line.startsWith('#')) continue;
    const sample = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    const labels = [...(sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map(([, k, v]) => [k!, v!] as const);
    samples.set(key(sample[1]!, Object.fromEntries(labels)), Number(sample[3]));
  }
  return {
    types,
    /** A sample's value; undefined when it is not exposed at all. */
    value: (name: string, labels: Record<string, string> = {}) => samples.get(key(name, labels)),
  };
}

function key(name: string, labels: Record<string, string>): string {
  return `${name}{${Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
}

describe('GET /metrics', () => {
  const dir = tempDir();
  const clock = new ManualClock();
  let store: Store;
  let coordinator: Coordinator;
  let app: ReturnType<typeof createApp>;
  let secret: string;
  const workers: Record<'b1' | 'b2' | 'c1', WorkerIdentity> = {} as never;
  const start = clock.now();

  beforeAll(async () => {
    ({ store, coordinator } = await testCoordinator(dir.path, { clock }));
    app = createApp(coordinator, store.db);
    secret = (await createToken(store.db, 'prometheus', ['read'], clock.now())).secret;
    // Three builds queued for `builder` (retry after 60 s), and a probe whose done_if check
    // is queued for `control`.
    const pipeline = pipelineOf([
      { name: 'build', over: ['v'] },
      { name: 'probe', doneIf: { script: { kind: 'inline', text: 'false' }, activity: 'control' } },
    ], { matrix: { v: ['1', '2', '3'] }, sourceDir: `${dir.path}/source` });
    const { joinToken } = await coordinator.createRun(pipeline, expandTasks(pipeline), {}, { fakeWorkers: false, noProvision: true });
    for (const [name, activity] of [['b1', 'builder'], ['b2', 'builder'], ['c1', 'control']] as const) {
      const joined = await coordinator.register(joinToken, { activity });
      if (joined.kind !== 'registered') throw new Error(`${name} did not register`);
      workers[name] = { workerId: joined.workerId, runId: joined.runId, activity };
    }
  });

  afterAll(async () => {
    await coordinator.close();
    await store.close();
    dir.remove();
  });

  async function scrape() {
    const response = await app.request('/metrics', { headers: { authorization: `Bearer ${secret}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseExposition(await response.text());
  }

  /** Milliseconds since the run was created (its tasks were queued then). */
  const at = (ms: number) => clock.advance(start + ms - clock.now());

  /** Claims at `ms`; returns the attempt's id. */
  async function claimAt(ms: number, worker: WorkerIdentity, task: string): Promise<string> {
    at(ms);
    const answer = await coordinator.claim(worker, 0);
    if (answer.kind !== 'attempt') throw new Error(`no attempt: ${answer.kind}`);
    expect(answer.attempt.task).toBe(task);
    return answer.attempt.id;
  }

  async function finishAt(ms: number, worker: WorkerIdentity, attempt: string, outcome: AttemptOutcome, next?: string) {
    at(ms);
    const result = await coordinator.finish(worker, attempt, { outcome, exitCode: outcome === 'succeeded' ? 0 : 1, error: null }, next !== undefined);
    expect(result.finished.kind).toBe('recorded');
    if (next === undefined) return '';
    if (result.next?.kind !== 'attempt') throw new Error('no next attempt');
    expect(result.next.attempt.task).toBe(next);
    return result.next.attempt.id;
  }

  const histogram = (m: ReturnType<typeof parseExposition>, le: string) => m.value('slipway_dispatch_latency_seconds_bucket', { le });

  it('needs a token that may read', async () => {
    const none = await app.request('/metrics');
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ error: expect.stringContaining('slipway tokens create') });
    const wrong = await app.request('/metrics', { headers: { authorization: 'Bearer sw_this-token-was-never-issued-anywhere' } });
    expect(wrong.status).toBe(401);
    // Like the user API, a server that lets anyone read lets anyone scrape.
    const open = createApp(coordinator, store.db, { anonymousRead: true });
    const anonymous = await open.request('/metrics');
    expect(anonymous.status).toBe(200);
    await anonymous.body?.cancel();
    expect((await open.request('/metrics', { headers: { authorization: 'Bearer sw_this-token-was-never-issued-anywhere' } })).status).toBe(401);
  });

  it('reports queues, workers and runs before any dispatch', async () => {
    const m = await scrape();
    expect(m.types.get('slipway_queued_tasks')).toBe('gauge');
    expect(m.types.get('slipway_attempts_total')).toBe('counter');
    expect(m.types.get('slipway_dispatch_latency_seconds')).toBe('histogram');
    expect(m.value('slipway_queued_tasks', { activity: 'builder' })).toBe(3);
    expect(m.value('slipway_queued_tasks', { activity: 'control' })).toBe(1);
    expect(m.value('slipway_workers', { activity: 'builder', state: 'idle' })).toBe(2);
    expect(m.value('slipway_workers', { activity: 'builder', state: 'busy' })).toBe(0);
    expect(m.value('slipway_workers', { activity: 'control', state: 'idle' })).toBe(1);
    expect(m.value('slipway_runs', { status: 'running' })).toBe(1);
    expect(m.value('slipway_runs', { status: 'succeeded' })).toBe(0);
    expect(m.value('slipway_attempts_total', { kind: 'run', outcome: 'failed' })).toBeUndefined();
    expect(m.value('slipway_dispatch_latency_seconds_count')).toBe(0);
  });

  it('counts attempts and measures dispatch from claimable to started', async () => {
    const first = await claimAt(3, workers.b1, 'build[v=1]');     // 3 ms in the queue
    const check = await claimAt(4, workers.c1, 'probe');          // 4 ms
    await finishAt(10, workers.b1, first, 'failed');              // retried from 60 010; b1 drains
    await finishAt(20, workers.c1, check, 'failed');              // not done: probe is queued for builder
    const second = await claimAt(500, workers.b2, 'build[v=2]');  // 500 ms

    let m = await scrape();
    expect(m.value('slipway_queued_tasks', { activity: 'builder' })).toBe(3); // build[v=1] (waiting out its delay), build[v=3], probe
    expect(m.value('slipway_queued_tasks', { activity: 'control' })).toBe(0);
    expect(m.value('slipway_workers', { activity: 'builder', state: 'busy' })).toBe(1);
    expect(m.value('slipway_workers', { activity: 'builder', state: 'draining' })).toBe(1);
    expect(m.value('slipway_workers', { activity: 'control', state: 'idle' })).toBe(1);
    expect(m.value('slipway_attempts_total', { kind: 'run', outcome: 'failed' })).toBe(1);
    expect(m.value('slipway_attempts_total', { kind: 'check', outcome: 'failed' })).toBe(1);
    expect(m.value('slipway_dispatch_latency_seconds_count')).toBe(3);
    expect(m.value('slipway_dispatch_latency_seconds_sum')).toBeCloseTo(0.507, 6);
    expect(histogram(m, '0.0025')).toBe(0);
    expect(histogram(m, '0.005')).toBe(2);
    expect(histogram(m, '0.25')).toBe(2);
    expect(histogram(m, '0.5')).toBe(3);

    // The next is handed out by the finish itself; the retry is measured from the end of
    // its delay (1010 + 60 s), not from when it was scheduled.
    const third = await finishAt(600, workers.b2, second, 'succeeded', 'build[v=3]'); // 600 ms in the queue
    await finishAt(60_260, workers.b2, third, 'succeeded', 'build[v=1]');             // 250 ms after its delay

    m = await scrape();
    expect(m.value('slipway_dispatch_latency_seconds_count')).toBe(5);
    expect(m.value('slipway_dispatch_latency_seconds_sum')).toBeCloseTo(0.507 + 0.6 + 0.25, 6);
    expect(histogram(m, '0.25')).toBe(3);
    expect(histogram(m, '0.5')).toBe(4);
    expect(histogram(m, '1')).toBe(5);
    expect(histogram(m, '+Inf')).toBe(5);
    expect(m.value('slipway_attempts_total', { kind: 'run', outcome: 'succeeded' })).toBe(2);
    expect(m.value('slipway_attempts_total', { kind: 'run', outcome: 'failed' })).toBe(1);
    expect(m.value('slipway_queued_tasks', { activity: 'builder' })).toBe(1); // probe

    // A scrape with nothing new observes nothing again.
    m = await scrape();
    expect(m.value('slipway_dispatch_latency_seconds_count')).toBe(5);
  });

  it('answers two scrapes at once with the same counts', async () => {
    const [a, b] = await Promise.all([scrape(), scrape()]);
    for (const m of [a, b]) {
      expect(m.value('slipway_attempts_total', { kind: 'run', outcome: 'succeeded' })).toBe(2);
      expect(m.value('slipway_dispatch_latency_seconds_count')).toBe(5);
    }
  });
});
