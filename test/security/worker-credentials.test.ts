/**
 * A worker's credential ends with its worker (stopped, lost, or its run finished) on every
 * worker route, and in every coordinator process on the store: two `slipway server`s share
 * one state directory here, a worker registers through one and is ended through the other,
 * and the first must refuse it too, whatever it remembers.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { credentialRefused } from '../../src/api/worker-routes.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { startServer } from '../helpers/server-process.ts';
import { tarGz } from '../helpers/tar.ts';

const box = new Sandbox();
const gates = box.sharedDir('gates');
const flags = ['--heartbeat-timeout', '3s', '--health-interval', '1s'];
let one: Awaited<ReturnType<typeof startServer>>;
let other: Awaited<ReturnType<typeof startServer>>;
let workerToken: string;

beforeAll(async () => {
  one = await startServer(box, 0, flags);
  other = await startServer(box, 0, flags);
  const created = await box.run(['tokens', 'create', 'hand', '--scope', 'worker']);
  expect(created.code, created.stderr).toBe(0);
  workerToken = created.stdout.trim();
}, 90_000);

afterAll(async () => {
  for (const server of [one, other]) {
    server?.server.kill('SIGTERM');
    await server?.server.result;
  }
  box.cleanup();
});

interface Worker { id: string; state: string; provider: string; stop_reason: string | null }

async function api<T>(url: string, path: string, init: RequestInit = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(`${url}/api/v1${path}`, { ...init, headers: { authorization: `Bearer ${one.admin}`, ...init.headers } });
  return { status: response.status, body: await response.json() as T };
}

/**
 * Two tasks, each held until its gate file appears: one for the hand-started worker, one
 * for the server's own (max_workers: 2 counts both, whichever comes first).
 */
async function submit(name: string): Promise<string> {
  const pipeline = `
name: ${name}
matrix: { n: ["1", "2"] }
activities:
  builder: { max_workers: 2, cleanup: echo "cleanup of $SLIPWAY_WORKER" }
steps:
  hold:
    over: [n]
    env: { GATE: "${gates}/${name}" }
    run: 'while [ ! -e "$GATE-$N" ]; do sleep 0.1; done'
`;
  const source = await api<{ digest: string }>(one.url, '/sources', { method: 'POST', body: tarGz([{ type: 'file', name: 'slipway.yml', data: pipeline }]) });
  const run = await api<{ run: { id: string } }>(one.url, '/runs', { method: 'POST', body: JSON.stringify({ source: source.body.digest, file: 'slipway.yml' }) });
  expect(run.status).toBe(201);
  return run.body.run.id;
}

/** A worker started by hand through the first server, holding one of the run's two tasks. */
async function handWorker(runId: string) {
  const registered = await fetch(`${one.url}/api/v1/worker/register`, {
    method: 'POST', headers: { authorization: `Bearer ${workerToken}` }, body: JSON.stringify({ activity: 'builder', hostname: 'test', pid: 1 }),
  });
  expect(registered.status).toBe(200);
  const { worker, credential } = await registered.json() as { worker: { id: string; run: string }; credential: string };
  expect(worker.run).toBe(runId);
  const as = (url: string, method: string, path: string, body?: string) => fetch(`${url}/api/v1/worker${path}`, {
    method, headers: { authorization: `Bearer ${credential}` }, ...(body !== undefined && { body }),
  });
  let attempt: { id: string; task: string } | undefined;
  await waitFor(async () => {
    const claimed = await as(one.url, 'POST', '/claim', '{"wait_ms":1000}');
    if (claimed.status === 200) attempt = (await claimed.json() as { attempt: { id: string; task: string } }).attempt;
    return attempt !== undefined;
  }, 30_000, 'the hand-started worker to get a task');
  // It beats while the test sets the scene (a loaded machine may take longer than the
  // heartbeat timeout to bring the server's own worker up), and falls silent on quiet().
  const beating = setInterval(() => void as(one.url, 'POST', `/attempts/${attempt!.id}/heartbeat`, '{"hold_ms":0}').catch(() => undefined), 500);
  quieting.push(() => clearInterval(beating));
  return { id: worker.id, attempt: attempt!, as, quiet: () => clearInterval(beating) };
}

/** Stops the heartbeats of every hand-started worker a test left beating. */
const quieting: (() => void)[] = [];
afterEach(() => {
  for (const quiet of quieting.splice(0)) quiet();
});

/** The server's own worker of the run, once its task runs. */
async function serverWorker(runId: string): Promise<Worker> {
  let found: Worker | undefined;
  await waitFor(async () => {
    found = (await workersOf(runId)).find((w) => w.provider === 'local' && w.state === 'busy');
    return found !== undefined;
  }, 60_000, 'the server\'s own worker to run a task');
  return found!;
}

async function workersOf(runId: string): Promise<Worker[]> {
  return (await api<{ workers: Worker[] }>(other.url, `/workers?run=${runId}`)).body.workers;
}

/** Waits until every worker of the run is stopped; a timeout says what each one is instead. */
async function allStopped(runId: string, except?: string): Promise<void> {
  let workers: Worker[] = [];
  try {
    await waitFor(async () => {
      workers = await workersOf(runId);
      return workers.every((w) => w.state === 'stopped' || w.id === except);
    }, 30_000, 'every worker of the run to be stopped');
  } catch (error) {
    const states = workers.map((w) => `${w.id} ${w.provider} ${w.state} (${w.stop_reason ?? 'no reason'})`).join('; ');
    throw new Error(`${(error as Error).message}: ${states}`);
  }
}

/** Every worker route, through both servers, answers 401 and says why. */
async function refusedEverywhere(as: Awaited<ReturnType<typeof handWorker>>['as'], attempt: string): Promise<void> {
  const routes: [string, string, string?][] = [
    ['POST', '/claim', '{"wait_ms":0}'],
    ['POST', `/attempts/${attempt}/heartbeat`, '{"hold_ms":0}'],
    ['POST', `/attempts/${attempt}/output`, 'late output\n'],
    ['POST', `/attempts/${attempt}/finish`, '{"outcome":"succeeded","exit_code":0}'],
    ['POST', '/log', 'late log line\n'],
    ['POST', '/stopped', '{"cause":"told","reason":"told to stop"}'],
    ['GET', '/source'],
  ];
  for (const url of [one.url, other.url]) {
    for (const [method, path, body] of routes) {
      const response = await as(url, method, path, body);
      expect(response.status, `${method} ${path} on ${url}`).toBe(401);
      expect(await response.json()).toEqual({ error: credentialRefused });
    }
  }
}

/** The agent's own log of a local worker, kept by the server. */
function agentLog(runId: string, workerId: string): string {
  return readFileSync(join(box.state, 'slipway', 'logs', runId, 'workers', `${workerId}.agent.log`), 'utf8');
}

describe('a worker credential', () => {
  it('ends on every route once its run finished, and the run\'s agent still ends cleanly and is recorded stopped', async () => {
    const runId = await submit('finishes');
    const hand = await handWorker(runId);
    const local = await serverWorker(runId);
    // The server's worker ends its task; the hand-started one reports its own through the other server, which ends the run.
    writeFileSync(join(gates, `finishes-${hand.attempt.task === 'hold[n=1]' ? '2' : '1'}`), '');
    await waitFor(async () => (await workersOf(runId)).some((w) => w.id === local.id && w.state !== 'busy'), 30_000, 'the server\'s worker to finish its task');
    hand.quiet();
    const finished = await hand.as(other.url, 'POST', `/attempts/${hand.attempt.id}/finish`, '{"outcome":"succeeded","exit_code":0}');
    expect(await finished.json()).toMatchObject({ stop: true });
    expect((await api<{ run: { status: string } }>(one.url, `/runs/${runId}`)).body.run.status).toBe('succeeded');

    await refusedEverywhere(hand.as, hand.attempt.id);

    // The server's agent hears stop (or 401) at its next claim, runs its cleanup and exits;
    // the hand-started worker stopped as told too.
    await allStopped(runId);
    const workers = await workersOf(runId);
    // Stopped as told, not lost: said by the server that sees its process exit, or by whichever
    // server's health check finds its machine gone first (both look at the same machine).
    const ended = workers.find((w) => w.id === local.id)!;
    expect(ended.state).toBe('stopped');
    expect(ended.stop_reason).toMatch(/^(not needed any more; agent process \d+ exited with code 0|its run ended; its machine is gone)/);
    // The run's end recorded the hand-started one's stop: nothing of it could reach the store afterwards.
    expect(workers.find((w) => w.id === hand.id)!.stop_reason).toBe('its run ended; told at its next request');
    const log = agentLog(runId, local.id);
    expect(log).toMatch(/stopped: told to stop/);
    // Its cleanup ran, and what it printed is kept in its own log when the coordinator no longer takes it.
    expect(log).toContain(`cleanup of ${local.id}`);
  });

  it('ends on every route once its run was cancelled through another server, whose attempts end cancelled', async () => {
    const runId = await submit('cancelled');
    const hand = await handWorker(runId);
    const local = await serverWorker(runId);
    hand.quiet();
    expect((await api(other.url, `/runs/${runId}/cancel`, { method: 'POST' })).status).toBe(200);

    await refusedEverywhere(hand.as, hand.attempt.id);
    await allStopped(runId);
    const report = await api<{ tasks: { attempts: { worker: string; outcome: string }[] }[] }>(one.url, `/runs/${runId}`);
    expect(report.body.tasks.flatMap((t) => t.attempts).map((a) => [a.worker === local.id ? 'local' : 'hand', a.outcome]).sort()).toEqual([
      ['hand', 'cancelled'], ['local', 'cancelled'],
    ]);
    // The task was stopped, not left to wait for its gate.
    await waitFor(() => processesUnder(box.dir.path).every((p) => !p.cmdline.includes('GATE')), 10_000, 'the task to end');
  });

  it('ends on every route once its worker was lost, through whichever server found it silent', async () => {
    const runId = await submit('lost');
    const hand = await handWorker(runId);
    await serverWorker(runId);
    hand.quiet();
    // Nothing more from the hand-started worker: within the heartbeat timeout (3 s) it is lost, and its task is retried.
    await waitFor(async () => (await workersOf(runId)).some((w) => w.id === hand.id && w.state === 'lost'), 30_000, 'the silent worker to be lost');
    await refusedEverywhere(hand.as, hand.attempt.id);
    expect((await api(other.url, `/runs/${runId}/cancel`, { method: 'POST' })).status).toBe(200);
    await allStopped(runId, hand.id);
  });

  it('is refused without saying more when there is none', async () => {
    const none = await fetch(`${one.url}/api/v1/worker/claim`, { method: 'POST', body: '{"wait_ms":0}' });
    expect(none.status).toBe(401);
    expect(await none.json()).toEqual({ error: 'a worker credential is required: Authorization: Bearer CREDENTIAL' });
  });
});
