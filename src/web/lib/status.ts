import type { Counts, TaskStatus } from './types.ts';

/** Order of the stacked count bar: finished work from the left, open work after it. */
export const BAR_ORDER: readonly TaskStatus[] = [
  'succeeded', 'skipped', 'failed', 'blocked', 'cancelled', 'running', 'checking', 'queued', 'waiting',
];

/** Order of the counts in words: bad news first, as in the CLI's header. */
export const TEXT_ORDER: readonly TaskStatus[] = [
  'failed', 'blocked', 'cancelled', 'running', 'checking', 'queued', 'waiting', 'succeeded', 'skipped',
];

export function total(counts: Counts): number {
  let n = 0;
  for (const v of Object.values(counts)) n += v ?? 0;
  return n;
}

/** Tasks that need no more work. */
export function finished(counts: Counts): number {
  return (counts.succeeded ?? 0) + (counts.skipped ?? 0) + (counts.failed ?? 0)
    + (counts.blocked ?? 0) + (counts.cancelled ?? 0);
}

export function countsText(counts: Counts): string {
  return TEXT_ORDER.filter((s) => (counts[s] ?? 0) > 0).map((s) => `${counts[s]} ${s}`).join(', ');
}
