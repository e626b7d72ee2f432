import type { Embedded } from '../coordinator/embedded.ts';
import type { RunEvent } from '../engine/events.ts';
import { runReport } from '../store/run-report.ts';
import { taskStatusesOfRun } from '../store/run-rows.ts';
import { colorEnabled } from './format.ts';
import { selfCommand } from './local-state.ts';
import { createProgress, type Progress } from './progress.ts';
import { printReport } from './run-report-output.ts';

/**
 * Starts a run in this process's coordinator (`begin` creates or reruns it) and shows it
 * to its end: live progress, Ctrl-C to cancel (twice to kill the workers), the report.
 * Resolves with `slipway run`'s exit code.
 */
export async function watchLocalRun(
  embedded: Embedded, pipelineName: string, json: boolean,
  begin: () => Promise<string>, started?: (progress: Progress) => void,
): Promise<number> {
  const { coordinator } = embedded;
  const out = json ? process.stderr : process.stdout;
  const progress = createProgress(out, { color: colorEnabled(out) });
  let runId: string | undefined;
  const early: RunEvent[] = [];
  const stopFaults = coordinator.onFault((message) => progress.print(`warning: ${message}`));
  const unsubscribe = coordinator.events.subscribe((event) => {
    if (runId === undefined) early.push(event);
    else if (event.run === runId) progress.event(event);
  });

  let interrupts = 0;
  const onInterrupt = (): void => {
    interrupts++;
    if (runId === undefined) return;
    if (interrupts === 1) {
      progress.print('cancelling: stopping running tasks and workers (Ctrl-C again to kill them at once)');
      void coordinator.cancelRun(runId, 'cancelled by the user (Ctrl-C)');
    } else {
      progress.print('killing the workers');
      for (const pid of embedded.local.runningPids()) void embedded.local.stop({ pid });
    }
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);

  try {
    runId = await begin();
    const statuses = await taskStatusesOfRun(embedded.store.db, runId);
    progress.start({
      run: runId, pipeline: pipelineName, tasks: statuses,
      logsHint: `logs: ${selfCommand()} logs ${runId} TASK`,
    });
    for (const event of early) if (event.run === runId) progress.event(event);
    started?.(progress);

    await coordinator.waitForRun(runId);
    await coordinator.waitForWorkers(runId, 15_000);
    progress.stop();
    return printReport(await runReport(embedded.store.db, runId), json);
  } finally {
    progress.stop();
    unsubscribe();
    stopFaults();
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
    await embedded.close();
  }
}
