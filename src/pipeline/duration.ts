/**
 * Durations as users write them: `90s`, `5m`, `2h`, `1h30m`, `500ms`. Units appear at most
 * once, largest first; at most 9 digits each, so the result is always a safe integer.
 */
export const DURATION_PATTERN = /^(?=\d)(?:(\d{1,9})h)?(?:(\d{1,9})m(?!s))?(?:(\d{1,9})s)?(?:(\d{1,9})ms)?$/;

const UNITS: [string, number][] = [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]];

/** Milliseconds in `s`; throws on anything that is not a duration. */
export function parseDuration(s: string): number {
  const match = DURATION_PATTERN.exec(s);
  if (!match) throw new Error(`not a duration: ${JSON.stringify(s)} (write e.g. 90s, 5m, 2h, 1h30m, 500ms)`);
  return UNITS.reduce((ms, [, factor], i) => ms + Number(match[i + 1] ?? 0) * factor, 0);
}

/**
 * The shortest form parseDuration reads back to `ms`, rounded to whole milliseconds;
 * `0s` for zero or less, since it labels messages and must not throw.
 */
export function formatDuration(ms: number): string {
  if (!(ms >= 0.5)) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, factor] of UNITS) {
    const n = Math.floor(rest / factor);
    if (n > 0) out += `${n}${unit}`;
    rest -= n * factor;
  }
  return out;
}
