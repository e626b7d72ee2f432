import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkRun } from '../../chaos/invariants.ts';
import type { RunReport } from '../../src/engine/report.ts';
import { repoRoot } from '../helpers/cli.ts';

function report(tasks: { status: string; outcomes: (string | null)[] }[], status = 'succeeded'): RunReport {
  return {
    run: { id: 'r-1', pipeline: 'p', status, started_at: '', finished_at: null },
    tasks: tasks.map((t, i) => ({
      id: `t${i}`, step: 's', matrix: {}, status: t.status,
      attempts: t.outcomes.map((outcome, n) => ({ number: n + 1, worker: 'w-1', outcome, exit_code: null, error: null, started_at: '', finished_at: null })),
    })),
    failures: [],
  } as unknown as RunReport;
}

describe('the chaos invariants', () => {
  it('hold for tasks that end as their attempts say', () => {
    const verdict = checkRun(report([
      { status: 'succeeded', outcomes: ['lost', 'timed_out', 'succeeded'] },
      { status: 'failed', outcomes: ['failed', 'lost'] },
      { status: 'blocked', outcomes: [] },
    ]), [{ id: 'w-1', state: 'stopped' }, { id: 'w-2', state: 'lost' }]);
    expect(verdict).toEqual({ lost: [], violations: [] });
  });

  it('catch a task lost or succeeded without a successful attempt, a double success, an open attempt and a worker left alive', () => {
    const verdict = checkRun(report([
      { status: 'queued', outcomes: ['lost'] },
      { status: 'succeeded', outcomes: ['lost'] },
      { status: 'succeeded', outcomes: ['succeeded', 'succeeded'] },
      { status: 'failed', outcomes: ['succeeded', null] },
    ], 'running'), [{ id: 'w-9', state: 'busy' }]);
    expect(verdict.lost).toEqual(['t0: still queued', 't1: succeeded, but its attempts are lost']);
    expect(verdict.violations).toEqual([
      'run r-1 is still running',
      't2 ran to success 2 times',
      't3 failed although an attempt succeeded',
      't3 attempt 2 never ended',
      'worker w-9 of run r-1 is still recorded as busy',
    ]);
  });
});

interface ChaosResult { seed: number; store: string; coordinators: number; faults: Record<string, number>; runs: number; tasks_lost: number; leaked_processes: number; violations: string[] }

/** `npm run chaos -- … --json` with `extra` arguments: two runs, eight faults. */
async function chaos(extra: string[]): Promise<{ result: ChaosResult; code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [join(repoRoot, 'chaos/main.ts'), '--seed', '20261122', '--runs', '2', '--max-faults', '8', '--time-limit', '45s', '--json', ...extra], {
    cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
  child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  return { result: JSON.parse(stdout) as ChaosResult, code, stderr };
}

describe('npm run chaos, short', () => {
  it('injects every kind of fault into real runs and loses no task and no process', async () => {
    const { result, code, stderr } = await chaos([]);
    expect(result.violations, stderr).toEqual([]);
    expect(result).toMatchObject({ seed: 20261122, store: 'sqlite', coordinators: 1, runs: 2, tasks_lost: 0, leaked_processes: 0 });
    for (const kind of ['agent-killed', 'agent-frozen', 'heartbeat-delayed', 'coordinator-killed']) expect(result.faults[kind], kind).toBeGreaterThan(0);
    expect(code).toBe(0);
  });

  it('does the same with three coordinators on one PostgreSQL database, any of which is killed', async () => {
    const { result, code, stderr } = await chaos(['--store', 'postgres', '--coordinators', '3']);
    expect(result.violations, stderr).toEqual([]);
    expect(result).toMatchObject({ store: 'postgres', coordinators: 3, runs: 2, tasks_lost: 0, leaked_processes: 0 });
    for (const kind of ['agent-killed', 'agent-frozen', 'heartbeat-delayed', 'coordinator-killed']) expect(result.faults[kind], kind).toBeGreaterThan(0);
    expect(code).toBe(0);
  });

  it('says what is wrong with its arguments', async () => {
    const run = (args: string[]) => new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(repoRoot, 'chaos/main.ts'), ...args], { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
      child.on('close', (code) => resolve({ code, stderr }));
    });
    expect(await run(['--coordinators', '3'])).toEqual({ code: 2, stderr: 'chaos: --coordinators: several coordinators share a PostgreSQL store; add --store postgres\n' });
    expect(await run(['--store', 'mysql'])).toEqual({ code: 2, stderr: "chaos: --store: 'mysql' is not a store kind; use sqlite or postgres\n" });
  });
});
