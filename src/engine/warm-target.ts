/**
 * How many idle workers a pool should keep so that a task rarely waits for a machine to
 * boot (`min_idle = "auto"`). A task finds a worker at once if one is idle; once it takes
 * it, the pool starts a replacement, which is up one boot time later. So a burst is served
 * at once when the pool held as many idle workers as tasks arrived within one boot time.
 * The target is that count, taken at each recent task start (itself included) and read at
 * the `quantile` over tasks: with 0.95, about 95 of 100 tasks find a worker at once, the
 * rest wait at most a boot. It follows the load by itself: a busy afternoon's bursts raise
 * it, a quiet night lowers it to zero, and every warm worker costs only while it is needed.
 *
 * It errs on the side of more warm workers: workers that finish a task meanwhile also serve
 * a burst, and starts that waited for a boot come bunched. `starts` are milliseconds.
 */
export function warmTarget(starts: readonly number[], bootMs: number, quantile = 0.95): number {
  if (starts.length === 0 || bootMs <= 0) return 0;
  const sorted = [...starts].sort((a, b) => a - b);
  const within: number[] = [];
  for (let i = 0, first = 0; i < sorted.length; i++) {
    while (sorted[first]! <= sorted[i]! - bootMs) first += 1;
    within.push(i - first + 1);
  }
  within.sort((a, b) => a - b);
  return within[Math.min(within.length - 1, Math.max(0, Math.ceil(quantile * within.length) - 1))]!;
}
