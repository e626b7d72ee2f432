import type { Embedded } from '../coordinator/embedded.ts';
import { withLogTails } from '../coordinator/log-tail.ts';
import type { RunEvent } from '../engine/events.ts';
import { runReport } from '../store/run-report.ts';
import { taskStatusesOfRun } from '../store/run-rows.ts';
import { colorEnabled } from './format.ts';
import { selfCommand } from './local-state.ts';
import { createProgress, type Progress } from './progress.ts';
import { printReport } from './run-report-output.ts';
import { whenOutputGone } from './output-gone.ts';

/**
 * Starts a run in this process's coordinator (`begin` creates or reruns it) and shows it
 * to its end: live progress, Ctrl-C to cancel (twice to kill the workers), the report.
 * Should nobody be left to show it to (the terminal closed, the reader of its output
 * ended), the run is cancelled as by one Ctrl-C: its workers are this process's, and would
 * be left running. Resolves with `slipway run`'s exit code.
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
  // Why the run is cancelled, once it is asked to be (before it exists too).
  let cancelled: string | undefined;
  const cancel = (): void => {
    if (runId === undefined || cancelled === undefined) return;
    progress.print('cancelling: stopping running tasks and workers (Ctrl-C again to kill them at once)');
    void coordinator.cancelRun(runId, cancelled);
  };
  const interrupt = (why: string): void => {
    interrupts++;
    if (interrupts === 1) {
      cancelled = why;
      cancel();
    } else {
      progress.print('killing the workers');
      for (const pid of embedded.local.runningPids()) void embedded.local.stop({ pid });
    }
  };
  const onInterrupt = (): void => interrupt('cancelled by the user (Ctrl-C)');
  const onTerminate = (): void => interrupt('cancelled: asked to stop (SIGTERM)');
  // Nobody watches any more: one cancel, never the second interrupt that kills at once.
  const unwatched = (why: string) => (): void => {
    if (interrupts === 0) interrupt(why);
  };
  const onHangUp = unwatched('cancelled: its terminal closed (SIGHUP)');
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onTerminate);
  process.on('SIGHUP', onHangUp);
  const stopWatchingOutput = whenOutputGone(unwatched('cancelled: the reader of its output went away'));

  try {
    runId = await begin();
    // Interrupted while it was being created: cancelled now that it exists.
    cancel();
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
    return printReport(await withLogTails(await runReport(embedded.store.db, runId), coordinator.logs), json);
  } finally {
    progress.stop();
    unsubscribe();
    stopFaults();
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onTerminate);
    process.off('SIGHUP', onHangUp);
    stopWatchingOutput();
    await embedded.close();
  }
}
