/**
 * A server and a `slipway run` on one machine with the default config share one store:
 * each must judge the other's workers and runs by what the store says, not by what it
 * remembers itself.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { startServer } from '../helpers/server-process.ts';

const boxes: Sandbox[] = [];
afterEach(() => {
  for (const box of boxes.splice(0)) box.cleanup();
});

function sandbox(): Sandbox {
  const box = new Sandbox();
  boxes.push(box);
  return box;
}

async function api<T>(url: string, admin: string, path: string, method = 'GET'): Promise<{ status: number; body: T }> {
  const response = await fetch(`${url}/api/v1${path}`, { method, headers: { authorization: `Bearer ${admin}` } });
  return { status: response.status, body: await response.json() as T };
}

/** The run `slipway run` printed it started, once it has. */
async function runIdFrom(run: ReturnType<Sandbox['spawn']>, output: () => string): Promise<string> {
  let ended: string | undefined;
  void run.result.then((result) => { ended = `slipway run exited ${result.code}: ${result.stderr}`; });
  await waitFor(() => {
    if (ended) throw new Error(ended);
    return /run r-[0-9a-f]{8}/.test(output());
  }, 30_000, 'slipway run to start its run');
  return output().match(/run (r-[0-9a-f]{8})/)![1]!;
}

const timeouts = ['--heartbeat-timeout', '2s'];

describe('a server and slipway run on one store', () => {
  it('a task longer than the heartbeat timeout runs once, on the worker of slipway run, and both see the run succeed', async () => {
    const box = sandbox();
    const file = box.write({
      'slipway.yml': `
name: long-task
activities:
  builder: {}
steps:
  slow: { run: "sleep 5; echo slept" }
`,
    });
    const { server, url, admin } = await startServer(box, 0, ['--health-interval', '1s', ...timeouts]);
    const run = box.spawn(['run', file, '--json', ...timeouts]);
    let progress = '';
    run.stderr!.on('data', (chunk: Buffer) => { progress += chunk.toString(); });
    const runId = await runIdFrom(run, () => progress);

    const result = await run.result;
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.tasks[0]!.attempts.map((a) => a.outcome)).toEqual(['succeeded']);
    // The server looked at the run all along (its health check every second) and lost nothing.
    const seen = await api<RunReport>(url, admin, `/runs/${runId}`);
    expect(seen.body.run.status).toBe('succeeded');
    expect(seen.body.tasks[0]!.attempts.map((a) => a.outcome)).toEqual(['succeeded']);
    expect(seen.body.tasks[0]!.attempts[0]!.worker).toBe(report.tasks[0]!.attempts[0]!.worker);

    server.kill('SIGTERM');
    await server.result;
    await waitFor(() => processesUnder(box.dir.path).length === 0, 10_000, 'every process to end');
  });

  it('a cancel sent through the server stops the task that slipway run is running, and slipway run exits 130', async () => {
    const box = sandbox();
    const file = box.write({
      'slipway.yml': `
name: cancel-me
activities:
  builder: {}
steps:
  wait: { run: "echo waiting; sleep 300" }
`,
    });
    const { server, url, admin } = await startServer(box, 0, ['--health-interval', '1s', ...timeouts]);
    const run = box.spawn(['run', file, ...timeouts]);
    let progress = '';
    run.stdout!.on('data', (chunk: Buffer) => { progress += chunk.toString(); });
    const runId = await runIdFrom(run, () => progress);
    await waitFor(() => processesUnder(box.dir.path).some((p) => p.cmdline.startsWith('sleep 300')), 30_000, 'the task to run');

    const cancelled = await api<unknown>(url, admin, `/runs/${runId}/cancel`, 'POST');
    expect(cancelled.status).toBe(200);

    const result = await run.result;
    expect(result.code).toBe(130);
    expect(result.stdout).toMatch(/finished\s+run r-[0-9a-f]{8}\s+\(cancelled/);
    expect(processesUnder(box.dir.path).filter((p) => p.cmdline.startsWith('sleep 300'))).toEqual([]);
    const seen = await api<RunReport>(url, admin, `/runs/${runId}`);
    expect(seen.body.run.status).toBe('cancelled');
    expect(seen.body.tasks[0]!.attempts.map((a) => a.outcome)).toEqual(['cancelled']);

    server.kill('SIGTERM');
    await server.result;
    await waitFor(() => processesUnder(box.dir.path).length === 0, 10_000, 'every process to end');
  });
});
