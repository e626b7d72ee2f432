import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogFiles } from '../../src/coordinator/log-files.ts';
import { withLogTails } from '../../src/coordinator/log-tail.ts';
import { LogTable } from '../../src/coordinator/log-table.ts';
import type { Logs } from '../../src/coordinator/logs.ts';
import type { ReportAttempt, RunReport } from '../../src/engine/report.ts';
import type { Store } from '../../src/store/store.ts';
import { openTestStore, testStoreKind } from '../helpers/test-store.ts';
import { tempDir } from '../helpers/temp.ts';

const runId = 'r-0123abcd';

function attempt(id: string, number: number): ReportAttempt {
  return {
    id, number, worker: 'w-1', worker_name: null, pool: null, outcome: 'failed', exit_code: 1, error: 'exit code 1',
    started_at: '2026-01-02T12:00:00.000Z', finished_at: '2026-01-02T12:00:01.000Z', script_ms: 1,
  };
}

/** A failed run whose tasks' last attempts are `lastIds`, each failed task listed as a failure. */
function failedRun(tasks: Record<string, string[]>): RunReport {
  return {
    run: { id: runId, pipeline: 'p', status: 'failed', source: { digest: null, vcs: null, repository: null, revision: null, branch: null, base: null, author: null, message: null, try: false }, started_at: '2026-01-02T12:00:00.000Z', finished_at: null },
    tasks: Object.entries(tasks).map(([key, ids]) => ({ id: key, step: key, matrix: {}, status: 'failed' as const, attempts: ids.map((id, i) => attempt(id, i + 1)) })),
    failures: Object.keys(tasks).map((key) => ({ task: key, step: key, matrix: {}, worker: 'w-1', error: 'exit code 1' })),
  };
}

describe(`a failure's last lines (${testStoreKind === 'postgres' ? 'logs in the store' : 'logs in files'})`, () => {
  let dir: ReturnType<typeof tempDir>;
  let store: Store | undefined;
  let logs: Logs;
  beforeEach(async () => {
    dir = tempDir('slipway-log-tail-');
    if (testStoreKind === 'postgres') store = await openTestStore(join(dir.path, 'slipway.db'));
    logs = store ? new LogTable(store.db, dir.path) : new LogFiles(dir.path);
  });
  afterEach(async () => {
    await logs.closeAll();
    await store?.close();
    dir.remove();
  });

  async function write(attemptId: string, text: string): Promise<void> {
    const path = logs.attemptPath(runId, attemptId);
    logs.append(path, text);
    await logs.close(path);
  }

  it("quotes the last five lines of each failed task's last attempt, and nothing of one that printed nothing", async () => {
    await write('a-000000000001', 'first attempt\n');
    await write('a-000000000002', `${Array.from({ length: 9 }, (_, i) => `line ${i + 1}`).join('\n')}\nno newline at the end`);
    await write('a-000000000003', '\n\n');
    const report = await withLogTails(failedRun({ build: ['a-000000000001', 'a-000000000002'], test: ['a-000000000003'], lint: [] }), logs);
    expect(report.failures.map((failure) => failure.log_tail)).toEqual([
      'line 6\nline 7\nline 8\nline 9\nno newline at the end', undefined, undefined,
    ]);
    expect(Object.keys(report.failures[1]!)).not.toContain('log_tail');
  });

  it("quotes the first 20 failures' logs only: a run page asks again and again", async () => {
    const keys = Array.from({ length: 21 }, (_, i) => `t${i}`);
    for (const [i, key] of keys.entries()) await write(`a-0000000001${String(i).padStart(2, '0')}`, `${key} said why\n`);
    const report = await withLogTails(failedRun(Object.fromEntries(keys.map((key, i) => [key, [`a-0000000001${String(i).padStart(2, '0')}`]]))), logs);
    expect(report.failures.map((failure) => failure.log_tail)).toEqual([...keys.slice(0, 20).map((key) => `${key} said why`), undefined]);
  });

  it('reads only the end of a long log, leaving out the line its start cuts', async () => {
    const long = `${'x'.repeat(5000)}\n${'y'.repeat(1000)}\n${'z'.repeat(1500)}\n`;
    await write('a-000000000001', long);
    const [failure] = (await withLogTails(failedRun({ build: ['a-000000000001'] }), logs)).failures;
    expect(failure!.log_tail).toBe('z'.repeat(1500));
    // One long line with no end in sight is quoted as far as it is read.
    await write('a-000000000002', 'w'.repeat(5000));
    const [alone] = (await withLogTails(failedRun({ build: ['a-000000000002'] }), logs)).failures;
    expect(alone!.log_tail).toBe('w'.repeat(2048));
  });
});
