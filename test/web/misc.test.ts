import { describe, expect, it } from 'vitest';
import { elapsed, formatDuration, matrixText, relativeTime } from '../../src/web/lib/format.ts';
import { href, parseRoute } from '../../src/web/lib/route.ts';
import { tokenFromFragment } from '../../src/web/lib/token.ts';
import { neededTasks } from '../../src/web/lib/needs.ts';
import { countsText, finished, total } from '../../src/web/lib/status.ts';
import { allTasks, steps } from './fixtures.ts';

describe('format', () => {
  it('writes durations with their two largest units', () => {
    expect([0, 400, 12_000, 184_000, 7_500_000, 97_200_000].map(formatDuration)).toEqual(['0s', '0.4s', '12s', '3m 04s', '2h 05m', '1d 3h']);
  });

  it('writes times relative to now, and a date past a month', () => {
    const now = Date.parse('2026-11-22T12:00:00Z');
    expect(['2026-11-22T11:59:58Z', '2026-11-22T11:59:18Z', '2026-11-22T11:55:00Z', '2026-11-22T09:00:00Z', '2026-11-20T12:00:00Z', '2026-09-01T00:00:00Z']
      .map((t) => relativeTime(t, now))).toEqual(['just now', '42s ago', '5m ago', '3h ago', '2d ago', '2026-09-01']);
  });

  it('measures to now while there is no end', () => {
    expect(elapsed('2026-11-22T12:00:00Z', null, Date.parse('2026-11-22T12:00:30Z'))).toBe(30_000);
    expect(elapsed('2026-11-22T12:00:00Z', '2026-11-22T12:01:00Z', 0)).toBe(60_000);
  });

  it('writes matrix values in their order', () => {
    expect(matrixText({ version: '1', distro: 'debian-12' })).toBe('version=1, distro=debian-12');
  });
});

describe('routes', () => {
  it('parses every page and its query', () => {
    expect(parseRoute('/', '?status=failed')).toEqual({ page: 'runs', status: 'failed', pipeline: '', revision: '', branch: '' });
    expect(parseRoute('/', '?revision=0a1b&branch=feature%2Fx')).toEqual({ page: 'runs', status: '', pipeline: '', revision: '0a1b', branch: 'feature/x' });
    expect(parseRoute('/runs/r-1', '?task=build%5Bversion%3D1%5D&attempt=2')).toEqual({ page: 'run', run: 'r-1', task: 'build[version=1]', attempt: 2 });
    expect(parseRoute('/runs/r-1/', '?attempt=x')).toEqual({ page: 'run', run: 'r-1', task: null, attempt: null });
    expect(parseRoute('/workers', '?worker=w-1')).toEqual({ page: 'workers', run: '', worker: 'w-1' });
    expect(parseRoute('/nope', '')).toEqual({ page: 'missing', path: '/nope' });
    expect(parseRoute('/workers', '?worker=')).toEqual({ page: 'workers', run: '', worker: null });
    expect(parseRoute('/runs/r-1', '?task=')).toMatchObject({ task: null });
  });

  it('builds addresses that parse back to the same route', () => {
    const routes = [
      { page: 'runs', status: 'running', pipeline: 'pkg', revision: '0a1b2c', branch: 'release/1.x' },
      { page: 'run', run: 'r-1', task: 'build[version=1,config=a b]', attempt: 3 },
      { page: 'workers', run: 'r-2', worker: null },
    ] as const;
    for (const r of routes) {
      const url = new URL(href(r), 'http://x');
      expect(parseRoute(url.pathname, url.search)).toEqual(r);
    }
    expect(href({ page: 'runs', status: '', pipeline: '' })).toBe('/');
  });
});

describe('tokenFromFragment', () => {
  it('takes the token and keeps the rest of the fragment', () => {
    expect(tokenFromFragment('#token=abc')).toEqual({ token: 'abc', rest: '' });
    expect(tokenFromFragment('#token=a%2Bb&x=1')).toEqual({ token: 'a+b', rest: '#x=1' });
    expect(tokenFromFragment('#section')).toEqual({ token: null, rest: '#section' });
    expect(tokenFromFragment('')).toEqual({ token: null, rest: '' });
    expect(tokenFromFragment('#token=')).toEqual({ token: null, rest: '' });
  });
});

describe('neededTasks', () => {
  it('finds the needed step\'s tasks that agree on the shared axes', () => {
    const tasks = allTasks();
    const pkg = tasks.find((t) => t.id === 'package[version=2]')!;
    expect(neededTasks(pkg, steps, tasks).map((t) => t.id)).toEqual(['test[version=2,config=debug]', 'test[version=2,config=release]']);
    const build = tasks.find((t) => t.id === 'build[version=1,config=debug]')!;
    expect(neededTasks(build, steps, tasks).map((t) => t.id)).toEqual(['fetch']);
  });
});

describe('status counts', () => {
  it('totals, counts finished work, and words bad news first', () => {
    const c = { succeeded: 5, failed: 1, blocked: 2, running: 1, waiting: 3 };
    expect(total(c)).toBe(12);
    expect(finished(c)).toBe(8);
    expect(countsText(c)).toBe('1 failed, 2 blocked, 1 running, 3 waiting, 5 succeeded');
  });
});
