import type { CloudModel } from './simulated-cloud.ts';
import type { TraceTask } from './trace.ts';

/**
 * What a fleet would bill over what its tasks ran, on a per-second cloud, with perfect
 * foresight and no task waiting: a yardstick no provisioning policy beats without making
 * tasks wait. Each pool's load is split into levels (its k-th machine is busy while k or
 * more of its tasks run). Between two busy stretches a level's machine idles through the
 * gap or stops and starts again, whichever costs less: a restart costs a boot and a stop
 * delay, as does each level's first start. Undefined for hourly billing, where the bill
 * is whole hours and this reasoning does not hold.
 */
export function foresightBilledOverBusy(trace: readonly TraceTask[], cloud: CloudModel): number | undefined {
  if (cloud.billing !== 'per-second' || trace.length === 0) return undefined;
  const restartMs = cloud.bootMs + cloud.stopDelayMs;
  let busyMs = 0;
  let billedMs = 0;
  for (const tasks of Map.groupBy(trace, (task) => task.pool).values()) {
    // Ends before starts at the same moment: a machine freed then is busy again without a gap.
    const changes = tasks.flatMap((t) => [{ at: t.at, delta: 1 }, { at: t.at + t.duration, delta: -1 }])
      .sort((a, b) => a.at - b.at || a.delta - b.delta);
    const freedAt = new Map<number, number>();
    let running = 0;
    for (const { at, delta } of changes) {
      if (delta === -1) {
        freedAt.set(running, at);
        running -= 1;
        continue;
      }
      running += 1;
      const freed = freedAt.get(running);
      billedMs += freed === undefined ? restartMs : Math.min(at - freed, restartMs);
      freedAt.delete(running);
    }
    busyMs += tasks.reduce((sum, t) => sum + t.duration, 0);
  }
  return (busyMs + billedMs) / busyMs;
}
