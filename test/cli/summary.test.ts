import { WriteStream } from 'node:tty';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { ReportAttempt, ReportTask, RunReport, RunSource, TaskStatus } from '../../src/engine/report.ts';
import { renderRunList, renderSummary, sourceLine } from '../../src/cli/summary.ts';
import {
  colorEnabled, formatDuration, formatMatrix, paint, table, truncate, visibleWidth,
} from '../../src/cli/format.ts';

const START = Date.parse('2026-01-02T12:00:00Z');
const iso = (seconds: number) => new Date(START + seconds * 1000).toISOString();

function attempt(number: number, worker: string, outcome: ReportAttempt['outcome'], seconds: number, error: string | null = null): ReportAttempt {
  return {
    id: `a-${worker}-${number}`, number, worker, worker_name: null, pool: null, outcome, exit_code: error ? 3 : 0, error,
    started_at: iso(0), finished_at: outcome === null ? null : iso(seconds), script_ms: null,
  };
}

function task(step: string, matrix: Record<string, string>, status: TaskStatus, attempts: ReportAttempt[] = []): ReportTask {
  const values = Object.entries(matrix).map(([k, v]) => `${k}=${v}`).join(',');
  return { id: values ? `${step}[${values}]` : step, step, matrix, status, attempts };
}

const plain: RunSource = { digest: null, vcs: null, repository: null, revision: null, branch: null, base: null, author: null, message: null, try: false };

function report(tasks: ReportTask[], failures: RunReport['failures'] = []): RunReport {
  const failed = tasks.some((t) => t.status === 'failed');
  return {
    run: { id: 'r-abc', pipeline: 'packages', status: failed ? 'failed' : 'succeeded', source: plain, started_at: iso(0), finished_at: iso(65) },
    tasks,
    failures,
  };
}

const debug = { version: '1.0.0', config: 'debug' };
const release = { version: '1.0.0', config: 'release' };
const small = report(
  [
    task('build', debug, 'succeeded', [attempt(1, 'w-1', 'succeeded', 2.1)]),
    task('test', debug, 'failed', [attempt(1, 'w-2', 'failed', 1, 'exit code 1'), attempt(2, 'w-4', 'failed', 1, 'exit code 1\nsee the log')]),
    task('build', release, 'failed', [attempt(1, 'w-3', 'failed', 4, 'exit code 3')]),
    task('test', release, 'blocked'),
    task('docs', {}, 'skipped'),
  ],
  // The report's own list misses `test[…debug]`: the summary must still name it.
  [{ task: 'build[version=1.0.0,config=release]', step: 'build', matrix: release, worker: 'w-3', error: 'exit code 3' }],
);
const logs = (id: string) => `slipway logs r-abc '${id}'`;

describe('renderSummary', () => {
  it('lists every task grouped by step, then every failure, then the counts', () => {
    expect(renderSummary(small, { color: false, logsCommand: logs })).toBe(
      [
        'run r-abc · pipeline packages · failed · 1m05s',
        '',
        'STATUS     TASK                                 ATTEMPTS  WORKER  RESULT',
        'succeeded  build[version=1.0.0,config=debug]    1         w-1     2.1s',
        'failed     build[version=1.0.0,config=release]  1         w-3     exit code 3',
        'failed     test[version=1.0.0,config=debug]     2         w-4     exit code 1',
        'blocked    test[version=1.0.0,config=release]   0',
        'skipped    docs                                 0',
        '',
        'FAILURES (2)',
        'build[version=1.0.0,config=release]',
        '  matrix  version=1.0.0 config=release',
        '  worker  w-3',
        '  error   exit code 3',
        "  log     slipway logs r-abc 'build[version=1.0.0,config=release]'",
        'test[version=1.0.0,config=debug]',
        '  matrix  version=1.0.0 config=debug',
        '  worker  w-4',
        '  error   exit code 1',
        '          see the log',
        "  log     slipway logs r-abc 'test[version=1.0.0,config=debug]'",
        '',
        'run r-abc failed: 2 failed, 1 blocked, 1 succeeded, 1 skipped',
        '',
      ].join('\n'),
    );
  });

  it('uses colour only when asked', () => {
    expect(renderSummary(small, { color: false })).not.toContain('\x1b');
    const coloured = renderSummary(small, { color: true });
    expect(coloured).toContain('\x1b[31m');
    expect(stripVTControlCharacters(coloured)).toBe(renderSummary(small, { color: false }));
  });

  it('compacts a big matrix to per-step counts and the tasks that need a look', () => {
    const versions = Array.from({ length: 10 }, (_, i) => `1.${i}.0`);
    const configs = ['debug', 'release', 'asan', 'tsan', 'ubsan'];
    const tasks = versions.flatMap((version) =>
      configs.map((config) => {
        const matrix = { version, config };
        if (version === '1.3.0' && config === 'asan') return task('build', matrix, 'failed', [attempt(1, 'w-7', 'failed', 3, 'exit code 3')]);
        if (version === '1.4.0' && config === 'tsan') return task('build', matrix, 'failed', [attempt(1, 'w-8', 'lost', 3, 'worker lost')]);
        return task('build', matrix, 'succeeded', [attempt(1, 'w-1', 'succeeded', 10)]);
      }),
    );
    tasks.push(task('publish', {}, 'blocked'));
    const text = renderSummary(report(tasks), { color: false });
    expect(text).toContain(['STEP     TASKS  STATUS', 'build    50     2 failed, 48 succeeded', 'publish  1      1 blocked'].join('\n'));
    expect(text).toContain('failed   build[version=1.3.0,config=asan]  1         w-7     exit code 3');
    expect(text).toContain('blocked  publish');
    expect(text).not.toContain('build[version=1.0.0,config=debug]');
    expect(text).toContain('FAILURES (2)');
    expect(text).toContain('  matrix  version=1.4.0 config=tsan\n  worker  w-8\n  error   worker lost');
    expect(text.trimEnd().split('\n').at(-1)).toBe('run r-abc failed: 2 failed, 1 blocked, 48 succeeded');
  });

  it("quotes a failure's last lines of output under its error, escaped, each under the first", () => {
    const failed = report(
      [task('build', {}, 'failed', [attempt(1, 'w-1', 'failed', 1, 'exit code 127')])],
      [{ task: 'build', step: 'build', matrix: {}, worker: 'w-1', error: 'exit code 127', log_tail: 'make: *** [all] Error 1\nscripts/x.sh: not found\x1b[2J' }],
    );
    expect(renderSummary(failed, { color: false })).toContain(
      '  error   exit code 127\n  output  make: *** [all] Error 1\n          scripts/x.sh: not found\\x1b[2J\n',
    );
  });

  it('shows the control characters errors may quote escaped, keeping an error\'s own lines', () => {
    const error = 'exit 3\x1b[2J\r\x1b[31mred\x1b[0m\r\nsecond\x9b\u202e';
    const text = renderSummary(
      report([task('build', {}, 'failed', [attempt(1, 'w-1', 'failed', 1, error)])]),
      { color: false },
    );
    expect(text).not.toMatch(/[\x1b\r\x9b\u202e]/);
    expect(text).toContain('failed  build  1         w-1     exit 3\\x1b[2J\\r\\x1b[31mred\\x1b[0m\n');
    expect(text).toContain('  error   exit 3\\x1b[2J\\r\\x1b[31mred\\x1b[0m\n          second\\x9b\\u202e\n');
  });

  it('shows task ids, matrix values and worker names with control characters escaped, one line each', () => {
    const value = '1\x1b[2J\nx';
    const id = `build[version=${value}]`;
    const failed = task('build', { version: value }, 'failed', [attempt(1, 'w-\x07', 'failed', 1, 'exit code 1')]);
    failed.id = id;
    const text = renderSummary(report([failed]), { color: false, logsCommand: (t) => `slipway logs r-abc '${t}'` });
    expect(text).not.toMatch(/[\x07\x1b]/);
    expect(text).toContain('failed  build[version=1\\x1b[2J\\nx]  1         w-\\x07  exit code 1');
    expect(text).toContain('\nbuild[version=1\\x1b[2J\\nx]\n  matrix  version=1\\x1b[2J\\nx\n  worker  w-\\x07\n');
    expect(text).toContain("  log     slipway logs r-abc 'build[version=1\\x1b[2J\\nx]'\n");
  });

  it('says which worker ran each task, and marks one started by hand', () => {
    const byHand = { ...attempt(1, 'w-5', 'failed', 1, 'exit code 1'), hand_started: true as const };
    const text = renderSummary(report([task('build', {}, 'succeeded', [attempt(1, 'w-1', 'succeeded', 1)]), task('test', {}, 'failed', [byHand])]), { color: false });
    expect(text).toContain('succeeded  build  1         w-1            1.0s');
    expect(text).toContain('failed     test   1         w-5 (by hand)  exit code 1');
    expect(text).toContain('  worker  w-5 (by hand)\n');
  });

  it('names what the run\'s machines cost when they have a price, and nothing of it otherwise', () => {
    const priced = report([task('build', debug, 'succeeded', [attempt(1, 'w-1', 'succeeded', 2.1)])]);
    priced.run.cost_usd = 0.1234;
    expect(renderSummary(priced, { color: false }).split('\n')[0]).toBe('run r-abc · pipeline packages · succeeded · 1m05s · $0.12');
    delete priced.run.cost_usd;
    expect(renderSummary(priced, { color: false }).split('\n')[0]).toBe('run r-abc · pipeline packages · succeeded · 1m05s');
  });

  it('says so when a run has no tasks', () => {
    expect(renderSummary(report([]), { color: false })).toBe(
      'run r-abc · pipeline packages · succeeded · 1m05s\n\nrun r-abc succeeded: no tasks\n',
    );
  });
});

describe('renderRunList', () => {
  it('shows one row per run, with no duration while running', () => {
    const started = new Date(2026, 0, 2, 12, 3, 4).toISOString();
    const text = renderRunList([
      { id: 'r-2', pipeline: 'packages', status: 'running', source: plain, started_at: started, finished_at: null },
      { id: 'r-1', pipeline: 'release', status: 'failed', source: plain, started_at: started, finished_at: new Date(Date.parse(started) + 3_723_000).toISOString() },
    ]);
    expect(text).toBe(
      [
        'RUN  PIPELINE  STATUS   STARTED              DURATION',
        'r-2  packages  running  2026-01-02 12:03:04',
        'r-1  release   failed   2026-01-02 12:03:04  1h02m',
        '',
      ].join('\n'),
    );
    expect(renderRunList([])).toBe('no runs\n');
  });

  it('shows revision, author and message when some run came from a repository', () => {
    const started = new Date(2026, 0, 2, 12, 3, 4).toISOString();
    const finished = new Date(Date.parse(started) + 65_000).toISOString();
    const git = { ...plain, vcs: 'git' as const, repository: '/src/app', branch: 'main', author: 'Ann Smith <ann@example.com>' };
    const text = renderRunList([
      { id: 'r-3', pipeline: 'app', status: 'succeeded', source: { ...git, revision: 'a'.repeat(40), message: 'Fix the parser\n\nIt read past the end.', try: true }, started_at: started, finished_at: finished },
      { id: 'r-2', pipeline: 'app', status: 'failed', source: { ...git, base: 'b'.repeat(40), author: null }, started_at: started, finished_at: finished },
      { id: 'r-1', pipeline: 'app', status: 'failed', source: plain, started_at: started, finished_at: finished },
    ]);
    expect(text).toBe(
      [
        'RUN  PIPELINE  STATUS     STARTED              DURATION  REVISION            AUTHOR     MESSAGE',
        'r-3  app       succeeded  2026-01-02 12:03:04  1m05s     aaaaaaaaaaaa (try)  Ann Smith  Fix the parser',
        'r-2  app       failed     2026-01-02 12:03:04  1m05s     working tree',
        'r-1  app       failed     2026-01-02 12:03:04  1m05s',
        '',
      ].join('\n'),
    );
    expect(sourceLine({ ...git, revision: 'a'.repeat(40), message: 'Fix the parser\n\nbody' })).toBe(`source: revision aaaaaaaaaaaa (main) of git repository /src/app by Ann Smith: Fix the parser`);
    expect(sourceLine({ ...git, base: 'b'.repeat(40) })).toBe('source: working tree of git repository /src/app (main) at bbbbbbbbbbbb');
    expect(sourceLine(plain)).toBe('');
  });
});

describe('format helpers', () => {
  it('formats durations at the precision that matters', () => {
    expect([0, 850, 999.6, 2100, 59_960, 65_000, 3_599_600, 3_720_000].map(formatDuration)).toEqual([
      '0ms', '850ms', '1.0s', '2.1s', '1m00s', '1m05s', '1h00m', '1h02m',
    ]);
  });

  it('formats matrix values in their order', () => {
    expect(formatMatrix({ version: '1.0.0', config: 'debug' })).toBe('version=1.0.0 config=debug');
  });

  it('aligns table columns by visible width', () => {
    const red = paint(true, 'red', 'failed');
    const text = table([[red, 'x'], ['ok', 'longer']], ['STATUS', 'NAME']);
    expect(stripVTControlCharacters(text)).toBe('STATUS  NAME\nfailed  x\nok      longer');
  });

  it('truncates by visible width and keeps colour codes balanced', () => {
    const text = `${paint(true, 'red', 'abcdef')}ghij`;
    const cut = truncate(text, 5);
    expect(visibleWidth(cut)).toBe(5);
    expect(stripVTControlCharacters(cut)).toBe('abcd…');
    expect(cut).toContain('\x1b[39m');
    expect(truncate('short', 10)).toBe('short');
  });

  it('paints nothing without colour, NO_COLOR or a terminal', () => {
    expect(paint(false, 'red', 'x')).toBe('x');
    const terminal = { isTTY: true, hasColors: () => true };
    expect(colorEnabled(terminal, {})).toBe(true);
    expect(colorEnabled(terminal, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
  });

  it("asks a real terminal stream about its colours the way Node's hasColors takes it", () => {
    // WriteStream.hasColors(undefined, env) throws; it takes (env) or (count, env).
    const terminal = { isTTY: true, hasColors: WriteStream.prototype.hasColors };
    expect(colorEnabled(terminal, { TERM: 'xterm-256color' })).toBe(true);
    expect(colorEnabled(terminal, { TERM: 'dumb' })).toBe(false);
  });
});
