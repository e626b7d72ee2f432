import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { openSqliteStore } from '../../src/store/store.ts';
import { Sandbox } from '../helpers/cli.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';

let box: Sandbox;
beforeEach(() => { box = new Sandbox(); });
afterEach(() => box.cleanup());

const longPipeline = `
name: long
matrix:
  n: ["1", "2", "3"]
activities:
  builder: { max_workers: 2, cleanup: echo "cleaned up" }
steps:
  wait:
    over: [n]
    run: |
      sleep 300 &
      (setsid sleep 301 &)
      echo "waiting $N"
      sleep 302
  after: { needs: [wait], run: echo never }
`;

describe('slipway run, controlled', () => {
  it('cancels cleanly on Ctrl-C: tasks killed, workers stopped, run cancelled, exit 130, nothing left', async () => {
    const file = box.write({ 'slipway.yml': longPipeline });
    const child = box.spawn(['run', file]);
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    await waitFor(() => (stdout.match(/started/g) ?? []).length >= 2, 20_000, 'two tasks to start');
    await waitFor(() => processesUnder(box.dir.path).filter((p) => p.cmdline.startsWith('sleep 30')).length >= 6, 10_000, 'the sleeps');
    child.kill('SIGINT');
    const result = await child.result;
    expect(result.code).toBe(130);
    expect(result.stdout).toContain('cancelling');
    expect(result.stdout).toMatch(/finished +run r-\S+ +\(cancelled by the user \(Ctrl-C\)\)\n/);
    expect(processesUnder(box.dir.path)).toEqual([]);

    const runId = result.stdout.match(/r-[0-9a-f]{8}/)![0];
    const shown = await box.run(['show', runId, '--json']);
    const report = JSON.parse(shown.stdout) as RunReport;
    expect(report.run.status).toBe('cancelled');
    expect(report.run.cancel_reason).toBe('cancelled by the user (Ctrl-C)');
    expect(report.run.finished_at).not.toBeNull();
    // The report a person reads says why too.
    expect((await box.run(['show', runId])).stdout.split('\n').slice(0, 4)).toContain('cancelled by the user (Ctrl-C)');
    expect(new Set(report.tasks.map((t) => t.status))).toEqual(new Set(['cancelled']));
    const attempts = report.tasks.flatMap((t) => t.attempts);
    expect(attempts.length).toBe(2);
    expect(attempts.every((a) => a.outcome === 'cancelled')).toBe(true);
    // The cleanup ran after the run ended, which ended the workers' credentials: what it
    // printed is in each agent's own log, the coordinator taking no more of the worker's.
    const agentLogs = attempts.map((a) => readFileSync(`${box.state}/slipway/logs/${runId}/workers/${a.worker}.agent.log`, 'utf8'));
    for (const log of agentLogs) expect(log).toContain('cleaned up');
  });

  it('cancels as Ctrl-C does when its terminal closes (SIGHUP): its workers are not left running', async () => {
    const file = box.write({ 'slipway.yml': longPipeline });
    const child = box.spawn(['run', file]);
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    await waitFor(() => (stdout.match(/started\s+wait/g) ?? []).length >= 2, 20_000, 'two tasks to start');
    child.kill('SIGHUP');
    const result = await child.result;
    expect(result.code).toBe(130);
    expect(processesUnder(box.dir.path)).toEqual([]);
    const report = JSON.parse((await box.run(['show', result.stdout.match(/r-[0-9a-f]{8}/)![0], '--json'])).stdout) as RunReport;
    expect(report.run.status).toBe('cancelled');
    const attempts = report.tasks.flatMap((t) => t.attempts);
    expect(attempts.map((a) => a.error)).toEqual(['cancelled: its terminal closed (SIGHUP)', 'cancelled: its terminal closed (SIGHUP)']);
  });

  it('cancels when the reader of its output goes away (`| head` had its lines), leaving nothing running', async () => {
    // Tasks end and start on: each is an event to print, and printing is how it learns.
    const file = box.write({
      'slipway.yml': `
name: read-briefly
matrix:
  n: ["1", "2", "3", "4", "5", "6"]
activities:
  builder: { max_workers: 2 }
steps:
  tick: { over: [n], run: sleep 0.5 }
  after: { needs: [tick], run: sleep 300 }
`,
    });
    const child = box.spawn(['run', file]);
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    await waitFor(() => /started\s+tick/.test(stdout), 20_000, 'a task to start');
    const runId = stdout.match(/r-[0-9a-f]{8}/)![0];
    child.stdout!.destroy();
    const result = await child.result;
    expect(result.code).toBe(130);
    expect(processesUnder(box.dir.path)).toEqual([]);
    const report = JSON.parse((await box.run(['show', runId, '--json'])).stdout) as RunReport;
    expect(report.run.status).toBe('cancelled');
    expect(report.run.cancel_reason).toBe('cancelled: the reader of its output went away');
    expect(report.tasks.find((t) => t.step === 'after')!.status).toBe('cancelled');
  });

  it('--fake-workers prints what would run and exercises scheduling at no cost', async () => {
    const file = box.write({
      'slipway.yml': longPipeline.replace('name: long', 'name: fake'),
    });
    const result = await box.run(['run', file, '--fake-workers', '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.tasks.map((t) => t.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    const logs = await box.run(['logs', report.run.id, 'wait[n=1]']);
    expect(logs.stdout).toContain('would run: sleep 300 & …');
    expect(processesUnder(box.dir.path)).toEqual([]);
  });

  it('--no-provision starts no worker and prints the command that serves the run by hand', async () => {
    const file = box.write({
      'slipway.yml': `
name: manual
activities:
  builder: { idle_timeout: 2s }
steps:
  hello: { run: echo "hello from a hand-started worker" }
`,
    });
    const child = box.spawn(['run', file, '--no-provision', '--json']);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    await waitFor(() => /SLIPWAY_TOKEN=\S+ slipway worker --server \S+ --activity builder/.test(stderr), 20_000, 'the worker command');
    // No agent now, and none later: the store's workers of the run, below, are the hand-started one alone.
    expect(processesUnder(box.dir.path).filter((p) => p.cmdline.includes('slipway-agent'))).toEqual([]);
    const [, token, server] = stderr.match(/SLIPWAY_TOKEN=(\S+) slipway worker --server (\S+) --activity builder/)!;
    const worker = box.spawn(['worker', '--server', server!, '--activity', 'builder'], { SLIPWAY_TOKEN: token! });
    const result = await child.result;
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.tasks[0]!.status).toBe('succeeded');
    const workerResult = await worker.result;
    expect(workerResult.code).toBe(0);
    expect(workerResult.stderr).toContain('stopped: told to stop');
    const logs = await box.run(['logs', report.run.id, 'hello']);
    expect(logs.stdout).toContain('hello from a hand-started worker');
    // Its credential ended with the run, so it could not say it stopped: the run's end
    // recorded its stop, and `slipway run` waited only until the worker heard it, not out
    // its grace of 15 s (after which it would have been recorded lost).
    const store = await openSqliteStore(join(box.state, 'slipway', 'slipway.db'));
    try {
      const rows = await store.db.selectFrom('workers').select(['state', 'stop_cause', 'error', 'credential_hash']).where('run_id', '=', report.run.id).execute();
      expect(rows).toEqual([{ state: 'stopped', stop_cause: 'told', error: 'its run ended; told at its next request', credential_hash: null }]);
    } finally {
      await store.close();
    }
  });

  it('rejects a wrong join token plainly', async () => {
    const file = box.write({ 'slipway.yml': 'name: manual\nactivities:\n  builder: {}\nsteps:\n  hello: { run: "true" }\n' });
    const child = box.spawn(['run', file, '--no-provision']);
    let stdout = '';
    child.stdout!.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    await waitFor(() => /--server (\S+)/.test(stdout), 20_000, 'the worker command');
    const server = stdout.match(/--server (\S+)/)![1]!;
    const worker = await box.run(['worker', '--server', server, '--activity', 'builder'], { SLIPWAY_TOKEN: 'not-the-token-at-all' });
    expect(worker.code).toBe(1);
    expect(worker.stderr).toContain('401');
    child.kill('SIGINT');
    expect((await child.result).code).toBe(130);
  });
});

describe('manual mode', () => {
  it('runs any combination of steps and values: --only, --set, needs outside count as done, done_if on a named activity', async () => {
    const file = box.write({
      'slipway.yml': `
name: manual
matrix:
  version: ["1", "2", "3"]
activities:
  builder: { max_workers: 2 }
steps:
  build: { over: [version], run: echo build $VERSION }
  package:
    needs: [build]
    over: [version]
    done_if: { run: 'test "$VERSION" = 3', activity: builder }
    run: echo "package $VERSION on $SLIPWAY_WORKER"
`,
    });
    const result = await box.run(['run', file, '--only', 'package', '--set', 'version=2,3', '--set', 'version=4', '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.tasks.map((t) => [t.id, t.status, t.attempts.length])).toEqual([
      ['package[version=2]', 'succeeded', 1],
      ['package[version=3]', 'skipped', 0],
      ['package[version=4]', 'succeeded', 1],
    ]);
    const logs = await box.run(['logs', report.run.id, 'package[version=4]']);
    expect(logs.stdout).toContain(`package 4 on ${report.tasks[2]!.attempts[0]!.worker}`);
  });

  it('--exclude leaves out the tasks with a value, and what needs them does not wait for them', async () => {
    const file = box.write({
      'slipway.yml': `
name: release
matrix:
  destination: [pypi, github, mirror]
activities:
  builder: { max_workers: 2 }
steps:
  build: { run: echo build }
  publish: { needs: [build], over: [destination], run: echo "publish to $DESTINATION" }
  announce: { needs: [publish], run: echo announced }
`,
    });
    const result = await box.run(['run', file, '--exclude', 'destination=pypi', '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    expect(report.tasks.map((t) => [t.id, t.status])).toEqual([
      ['build', 'succeeded'],
      ['publish[destination=github]', 'succeeded'],
      ['publish[destination=mirror]', 'succeeded'],
      ['announce', 'succeeded'],
    ]);
  });
});

describe('slipway rerun', () => {
  it('runs the failed and blocked tasks again in the same run, keeping what succeeded', async () => {
    const fixed = join(box.dir.path, 'fixed');
    const file = box.write({
      'slipway.yml': `
name: rerun
matrix:
  n: ["1", "2"]
activities:
  builder: { max_workers: 2 }
steps:
  build:
    over: [n]
    retry: { attempts: 1 }
    env: { FIXED: "${fixed}" }
    run: '[ "$N" = 1 ] || [ -f "$FIXED" ]'
  ship: { needs: [build], run: echo shipped }
`,
    });
    const first = JSON.parse((await box.run(['run', file, '--json'])).stdout) as RunReport;
    expect(first.tasks.map((t) => t.status)).toEqual(['succeeded', 'failed', 'blocked']);
    writeFileSync(fixed, '');
    const rerun = await box.run(['rerun', first.run.id, '--json']);
    expect(rerun.code).toBe(0);
    const report = JSON.parse(rerun.stdout) as RunReport;
    expect(report.run.id).toBe(first.run.id);
    expect(report.run.status).toBe('succeeded');
    expect(report.tasks.map((t) => [t.id, t.status, t.attempts.map((a) => a.outcome)])).toEqual([
      ['build[n=1]', 'succeeded', ['succeeded']],
      ['build[n=2]', 'succeeded', ['failed', 'succeeded']],
      ['ship', 'succeeded', ['succeeded']],
    ]);
    const again = await box.run(['rerun', first.run.id]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`run ${first.run.id} has no failed, blocked or cancelled task`);
  });
});

describe('slipway runs / show / logs', () => {
  it('lists runs and reads a past run from the store', async () => {
    const file = box.write({ 'slipway.yml': 'name: tiny\nactivities:\n  builder: {}\nsteps:\n  hello: { run: echo hi there }\n' });
    const run = await box.run(['run', file, '--json']);
    const report = JSON.parse(run.stdout) as RunReport;
    const runs = JSON.parse((await box.run(['runs', '--json'])).stdout) as RunReport['run'][];
    expect(runs[0]).toEqual(report.run);
    const shown = JSON.parse((await box.run(['show', report.run.id.slice(0, 5), '--json'])).stdout) as RunReport;
    expect(shown).toEqual(report);
    expect((await box.run(['logs', report.run.id])).stdout).toContain('hi there');
    const missing = await box.run(['show', 'r-ffffffff']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no run r-ffffffff');
  });

  it('logs --follow prints a task\'s output as it runs, its retry after it, until the task has ended', async () => {
    const gates = box.sharedDir('gates');
    const file = box.write({
      'slipway.yml': `
name: followed
activities:
  builder: {}
steps:
  slow:
    retry: { attempts: 2, delay: 1s }
    run: |
      echo "attempt $SLIPWAY_ATTEMPT begins"
      until [ -e ${gates}/open-$SLIPWAY_ATTEMPT ]; do sleep 0.1; done
      echo "attempt $SLIPWAY_ATTEMPT goes on"
      [ "$SLIPWAY_ATTEMPT" = 2 ]
`,
    });
    const run = box.spawn(['run', file]);
    let runOut = '';
    run.stdout!.on('data', (chunk: Buffer) => { runOut += chunk.toString(); });
    await waitFor(() => /started\s+slow/.test(runOut), 20_000, 'the task to start');
    const follow = box.spawn(['logs', runOut.match(/r-[0-9a-f]{8}/)![0], 'slow', '--follow']);
    let followed = '';
    follow.stdout!.on('data', (chunk: Buffer) => { followed += chunk.toString(); });
    await waitFor(() => followed.includes('attempt 1 begins\n'), 20_000, 'the first attempt\'s output so far');
    writeFileSync(join(gates, 'open-1'), '');
    await waitFor(() => followed.includes('attempt 2 begins\n'), 20_000, 'the retry\'s output');
    writeFileSync(join(gates, 'open-2'), '');
    const result = await follow.result;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.replace(/w-[0-9a-f]{8}/g, 'w-…')).toBe([
      '==> slow attempt 1 on w-…: running <==', 'attempt 1 begins', 'attempt 1 goes on', '==> slow attempt 1: failed (exit code 1) <==',
      '==> slow attempt 2 on w-…: running <==', 'attempt 2 begins', 'attempt 2 goes on', '==> slow attempt 2: succeeded <==', '',
    ].join('\n'));
    expect((await run.result).code).toBe(0);
    const blocked = await box.run(['run', box.write({ 'blocked/slipway.yml': 'name: blocked\nactivities:\n  builder: {}\nsteps:\n  a: { run: exit 1, retry: { attempts: 1 } }\n  b: { needs: [a], run: echo never }\n' }).replace('slipway.yml', 'blocked/slipway.yml'), '--json']);
    const ended = await box.run(['logs', (JSON.parse(blocked.stdout) as RunReport).run.id, 'b', '-f']);
    expect([ended.code, ended.stdout, ended.stderr]).toEqual([0, '', 'task b is blocked: it ran no attempt\n']);
    expect((await box.run(['logs', 'r-0', 'slow', '--follow', '--attempt', '1'])).stderr).toContain('--follow follows one task, every attempt of it: name the task, without --attempt or --worker');
  });
});
