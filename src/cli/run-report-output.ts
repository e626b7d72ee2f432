import type { RunReport } from '../engine/report.ts';
import { colorEnabled } from './format.ts';
import { selfCommand } from './local-state.ts';
import { renderSummary } from './summary.ts';
import { exitCodes } from './usage-error.ts';

/** Prints a finished run's report (JSON or the summary) and says how `slipway run` exits. */
export function printReport(report: RunReport, json: boolean, logsFlags = ''): number {
  if (json) {
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    const logsCommand = (task: string) => `${selfCommand()} logs ${report.run.id} '${task}'${logsFlags ? ` ${logsFlags}` : ''}`;
    process.stdout.write(`\n${renderSummary(report, { color: colorEnabled(process.stdout), logsCommand })}`);
  }
  const status = report.run.status;
  return status === 'succeeded' ? exitCodes.ok : status === 'cancelled' ? exitCodes.cancelled : exitCodes.failed;
}
