import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/pipeline/duration.ts';

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['1m30s', 90_000],
    ['500ms', 500],
    ['1h2m3s4ms', 3_723_004],
    ['0s', 0],
  ])('reads %s', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5', '5 m', '1.5h', '5M', '-5s', '30m1h', '1h1h', 'ms', '1d', ' 5m', '1234567890s'])(
    'rejects %j',
    (text) => {
      expect(() => parseDuration(text)).toThrow(`not a duration: ${JSON.stringify(text)} (write e.g. 90s, 5m, 2h, 1h30m, 500ms)`);
    },
  );
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [500, '500ms'],
    [90_000, '1m30s'],
    [7_200_000, '2h'],
    [3_723_004, '1h2m3s4ms'],
    [1499.6, '1s500ms'],
    [-5, '0s'],
  ])('writes %d ms as %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it('writes what parseDuration reads back', () => {
    for (const ms of [1, 999, 1000, 59_999, 3_600_000, 86_400_000 + 1]) expect(parseDuration(formatDuration(ms))).toBe(ms);
  });
});
