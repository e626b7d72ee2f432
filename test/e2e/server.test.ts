import { execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';

/** Reads server-sent events until `done` says stop; returns them as { event, data }. */
async function readEvents(response: Response, done: (events: { event: string; data: string }[]) => boolean) {
  const events: { event: string; data: string }[] = [];
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  while (!done(events)) {
    const { value, done: ended } = await reader.read();
    if (ended) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = block.match(/^event: (.*)$/m)?.[1];
      const data = block.match(/^data: (.*)$/m)?.[1];
      if (event && data !== undefined) events.push({ event, data });
    }
  }
  await reader.cancel();
  return events;
}

describe('slipway server', () => {
  const box = new Sandbox();
  let server: ReturnType<Sandbox['spawn']>;
  let url = '';
  let admin = '';
  let report: RunReport;

  beforeAll(async () => {
    const file = box.write({
      'slipway.yml': `
name: served
matrix:
  version: ["1", "2"]
activities:
  builder: { max_workers: 2 }
steps:
  build:
    over: [version]
    retry: { attempts: 1 }
    run: |
      printf 'line %s\\n' $(seq 1 5)
      [ "$VERSION" = 1 ]
`,
    });
    report = JSON.parse((await box.run(['run', file, '--json'])).stdout) as RunReport;
    server = box.spawn(['server', '--listen', '127.0.0.1:0']);
    let stdout = '';
    server.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    await waitFor(() => /listening on (\S+)/.test(stdout) && /admin token/.test(stdout), 20_000, 'the server to listen');
    url = stdout.match(/listening on (\S+)/)![1]!;
    const tokenPath = join(box.state, 'slipway', 'admin.token');
    expect(stdout).toContain(`created an admin token in ${tokenPath}`);
    expect(statSync(tokenPath).mode & 0o777).toBe(0o600);
    admin = readFileSync(tokenPath, 'utf8').trim();
  });

  afterAll(async () => {
    server.kill('SIGTERM');
    await server.result;
    expect(processesUnder(box.dir.path)).toEqual([]);
    box.cleanup();
  });

  const get = (path: string, token = admin) => fetch(`${url}${path}`, { headers: { authorization: `Bearer ${token}` } });

  it('serves the runs of the store it shares with slipway run, with their counts', async () => {
    const body = await (await get('/api/v1/runs')).json() as { runs: (RunReport['run'] & { counts: Record<string, number> })[]; next: string | null };
    expect(body.runs).toEqual([{ ...report.run, counts: { failed: 1, succeeded: 1 } }]);
    expect(body.next).toBeNull();
    const detail = await (await get(`/api/v1/runs/${report.run.id}`)).json() as RunReport & { steps: unknown; matrix: unknown };
    expect(detail.tasks).toEqual(report.tasks);
    expect(detail.steps).toEqual([{ name: 'build', over: ['version'], needs: [], activity: 'builder' }]);
    expect(detail.matrix).toEqual({ version: ['1', '2'] });
  });

  it('answers the CLI: runs, show and logs with --server read the same as locally', async () => {
    // The failure quotes what its task printed last, here as on the server.
    expect(report.failures.map((failure) => failure.log_tail)).toEqual(['line 1\nline 2\nline 3\nline 4\nline 5']);
    const env = { SLIPWAY_TOKEN: admin };
    const runs = JSON.parse((await box.run(['runs', '--json', '--server', url], env)).stdout) as RunReport['run'][];
    expect(runs).toEqual([report.run]);
    const shown = JSON.parse((await box.run(['show', report.run.id, '--json', '--server', url], env)).stdout) as RunReport;
    expect(shown).toEqual(report);
    const logs = await box.run(['logs', report.run.id, 'build[version=2]', '--server', url], env);
    expect(logs.stdout).toContain('line 5');
    const worker = report.tasks[1]!.attempts[0]!.worker!;
    expect((await box.run(['logs', report.run.id, '--worker', worker, '--server', url], env)).stdout).toMatch(/registered as ww-0-builder/);
  });

  it('replays a run\'s events and streams an attempt\'s log to its end', async () => {
    const events = await readEvents(await get(`/api/v1/events?run=${report.run.id}`), (seen) => seen.some((e) => JSON.parse(e.data).kind === 'run.finished'));
    const kinds = events.map((e) => JSON.parse(e.data).kind as string);
    expect(kinds[0]).toBe('run.started');
    expect(kinds.indexOf('run.finished')).toBeGreaterThan(kinds.indexOf('task.failed'));
    expect(kinds.indexOf('task.failed')).toBeGreaterThan(0);
    expect(events.map((e) => e.event)).toEqual(events.map(() => 'run-event'));
    const attempt = report.tasks[0]!.attempts[0]!.id;
    const log = await readEvents(await get(`/api/v1/attempts/${attempt}/log/stream`), (seen) => seen.some((e) => e.event === 'end'));
    const text = log.filter((e) => e.event === 'log').map((e) => (JSON.parse(e.data) as { text: string }).text).join('');
    expect(text).toBe(readFileSync(join(box.state, 'slipway', 'logs', report.run.id, 'attempts', `${attempt}.log`), 'utf8'));
    expect(text).toContain('line 1\nline 2');
  });

  it('runs a submitted pipeline with its own workers and follows it like a local run', async () => {
    const file = box.write({
      'remote/slipway.yml': `
name: remote
matrix:
  n: ["1", "2", "3"]
activities:
  builder: { max_workers: 2 }
steps:
  work: { over: [n], run: scripts/work.sh, retry: { attempts: 1 } }
  after: { needs: [work], run: echo done }
`,
      'remote/scripts/work.sh': 'echo "working on $N in $(basename "$PWD")"\n[ "$N" != 3 ]\n',
    }).replace('slipway.yml', 'remote/slipway.yml');
    const result = await box.run(['run', file, '--server', url], { SLIPWAY_TOKEN: admin });
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/started +work\[n=1\]/);
    expect(result.stdout).toContain('FAILURES (1)');
    expect(result.stdout).toMatch(/run r-[0-9a-f]{8} failed: 1 failed, 1 blocked, 2 succeeded/);
    const runId = result.stdout.match(/run (r-[0-9a-f]{8}) failed/)![1]!;
    const logs = await box.run(['logs', runId, 'work[n=2]', '--server', url], { SLIPWAY_TOKEN: admin });
    expect(logs.stdout).toContain('working on 2');
  });

  it('logs --follow with --server prints a running task\'s output as it comes, to its end', async () => {
    const gates = box.sharedDir('gates');
    const file = box.write({
      'followed/slipway.yml': `
name: followed
activities:
  builder: {}
steps:
  slow:
    run: |
      echo "begins"
      until [ -e ${gates}/open ]; do sleep 0.1; done
      echo "goes on"
`,
    }).replace('slipway.yml', 'followed/slipway.yml');
    const env = { SLIPWAY_TOKEN: admin };
    const run = box.spawn(['run', file, '--server', url], env);
    let runOut = '';
    run.stdout!.on('data', (chunk: Buffer) => { runOut += chunk.toString(); });
    await waitFor(() => /started\s+slow/.test(runOut), 20_000, 'the task to start');
    const follow = box.spawn(['logs', runOut.match(/r-[0-9a-f]{8}/)![0], 'slow', '-f', '--server', url], env);
    let followed = '';
    follow.stdout!.on('data', (chunk: Buffer) => { followed += chunk.toString(); });
    await waitFor(() => followed.includes('begins\n'), 20_000, 'the output so far');
    writeFileSync(join(gates, 'open'), '');
    const result = await follow.result;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^==> slow attempt 1 on w-[0-9a-f]{8}: running <==\nbegins\ngoes on\n==> slow attempt 1: succeeded <==\n$/);
    expect((await run.result).code).toBe(0);
  });

  it('refuses a bad pipeline before uploading, and the server refuses one with its positions too', async () => {
    const file = box.write({ 'bad/slipway.yml': 'name: bad\nactivities:\n  builder: {}\nsteps:\n  a: { run: make, timout: 5m }\n' })
      .replace('slipway.yml', 'bad/slipway.yml');
    const result = await box.run(['run', file, '--server', url], { SLIPWAY_TOKEN: admin });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/bad\/slipway\.yml:5:19: steps\.a: unknown key 'timout' \(did you mean 'timeout'\?\)/);

    // The server checks too: an archive holding the same file is refused with the same position.
    const archive = join(box.dir.path, 'bad.tar.gz');
    execFileSync('tar', ['--create', '--gzip', '--file', archive, '--directory', join(box.source, 'bad'), '.']);
    const upload = await fetch(`${url}/api/v1/sources`, { method: 'POST', body: readFileSync(archive), headers: { authorization: `Bearer ${admin}` } });
    expect(upload.status).toBe(201);
    const { digest } = await upload.json() as { digest: string };
    const submit = await fetch(`${url}/api/v1/runs`, {
      method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ source: digest, file: 'slipway.yml', label: 'bad/slipway.yml' }),
    });
    expect(submit.status).toBe(422);
    expect(await submit.json()).toMatchObject({ diagnostics: [{ file: 'bad/slipway.yml', line: 5, column: 19, message: "steps.a: unknown key 'timout' (did you mean 'timeout'?)" }] });
    const escape = await fetch(`${url}/api/v1/runs`, {
      method: 'POST', headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ source: digest, file: '../../admin.token' }),
    });
    expect(escape.status).toBe(400);
  });

  it('cancels a submitted run on the server with Ctrl-C', async () => {
    const file = box.write({ 'long/slipway.yml': 'name: long\nactivities:\n  builder: {}\nsteps:\n  wait: { run: sleep 300 }\n' })
      .replace('slipway.yml', 'long/slipway.yml');
    const child = box.spawn(['run', file, '--server', url, '--json'], { SLIPWAY_TOKEN: admin });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    await waitFor(() => /started +wait/.test(stderr), 30_000, 'the task to start on the server');
    child.kill('SIGINT');
    const result = await child.result;
    expect(result.code).toBe(130);
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.run.status).toBe('cancelled');
    expect(report.tasks[0]!.attempts[0]!.outcome).toBe('cancelled');
    await waitFor(() => processesUnder(box.dir.path).every((p) => !p.cmdline.includes('sleep 300')), 10_000, 'the task to be killed');
  });

  it('reruns a failed run on the server and follows only the rerun', async () => {
    const result = await box.run(['rerun', report.run.id, '--server', url, '--json'], { SLIPWAY_TOKEN: admin });
    expect(result.code).toBe(1);
    const rerun = JSON.parse(result.stdout) as RunReport;
    expect(rerun.tasks.map((t) => [t.id, t.attempts.map((a) => a.outcome)])).toEqual([
      ['build[version=1]', ['succeeded']],
      ['build[version=2]', ['failed', 'failed']],
    ]);
    expect(result.stderr.match(/started +run/g) ?? []).toHaveLength(1);
  });

  it('lets a worker started by hand with a server token serve an activity of a running run', async () => {
    // The server's one worker holds the first task until the hand-started one has taken the second.
    const gate = join(box.dir.path, 'second-taken');
    const file = box.write({
      'joined/slipway.yml': `
name: joined
activities:
  builder: { max_workers: 1, idle_timeout: 2s }
steps:
  first: { run: 'while [ ! -e "${gate}" ]; do sleep 0.1; done' }
  second: { run: echo "second ran on $SLIPWAY_WORKER" }
`,
    }).replace('slipway.yml', 'joined/slipway.yml');
    const run = box.spawn(['run', file, '--server', url, '--json'], { SLIPWAY_TOKEN: admin });
    let stderr = '';
    run.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    await waitFor(() => /started +first/.test(stderr), 30_000, 'the first task to start on the server');
    const started = box.spawn(['worker', '--server', url, '--activity', 'builder'], { SLIPWAY_TOKEN: admin });
    await waitFor(() => /started +second/.test(stderr), 30_000, 'the second task to start on the hand-started worker');
    writeFileSync(gate, '');
    const worker = await started.result;
    expect(worker.code).toBe(0);
    const result = await run.result;
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    const { workers } = await (await get(`/api/v1/workers?run=${report.run.id}`)).json() as { workers: { id: string; provider: string }[] };
    const manual = workers.find((w) => w.provider === 'manual')!;
    expect(report.tasks.find((t) => t.id === 'second')!.attempts[0]!.worker).toBe(manual.id);
    expect(worker.stderr).toContain(`registered as ${manual.id}`);

    const nothing = await box.run(['worker', '--server', url, '--activity', 'nope'], { SLIPWAY_TOKEN: admin });
    expect(nothing.code).toBe(0);
    expect(nothing.stderr).toContain("not needed: no running run has an activity 'nope'");
  });

  it('gives tokens only their scopes, and revoked tokens nothing', async () => {
    const created = await box.run(['tokens', 'create', 'viewer', '--scope', 'read']);
    expect(created.code).toBe(0);
    const viewer = created.stdout.trim();
    expect((await get('/api/v1/me', viewer).then((r) => r.json()))).toEqual({ name: 'viewer', scopes: ['read'] });
    const cancel = await box.run(['cancel', report.run.id, '--server', url], { SLIPWAY_TOKEN: viewer });
    expect(cancel.code).toBe(2);
    expect(cancel.stderr).toContain('403: this token may not do that: it needs the submit scope');
    const list = await box.run(['tokens', 'list']);
    expect(list.stdout).toMatch(/viewer\s+read/);
    expect(list.stdout).not.toContain(viewer);
    expect((await box.run(['tokens', 'revoke', 'viewer'])).code).toBe(0);
    expect((await get('/api/v1/me', viewer)).status).toBe(401);
    const refused = await box.run(['runs', '--server', url], { SLIPWAY_TOKEN: viewer });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('401');
    const reader = (await box.run(['tokens', 'create', 'reader', '--scope', 'read'])).stdout.trim();
    const worker = await box.run(['worker', '--server', url, '--activity', 'builder'], { SLIPWAY_TOKEN: reader });
    expect(worker.code).toBe(1);
    expect(worker.stderr).toMatch(/^slipway: register: the coordinator answered 403: this token may not register workers/);
  });
});
