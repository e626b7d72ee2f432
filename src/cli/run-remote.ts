import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { packArchive } from '../coordinator/source-archive.ts';
import type { RunEvent } from '../engine/events.ts';
import type { RunReport } from '../engine/report.ts';
import type { Pipeline, Selection } from '../pipeline/types.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServerUnreachable, type ApiClient } from './api-client.ts';
import { UsageError } from './usage-error.ts';
import { colorEnabled, printable } from './format.ts';
import { selfCommand } from './local-state.ts';
import { createProgress } from './progress.ts';
import { serverEvents } from './sse.ts';
import { printReport } from './run-report-output.ts';
import { reportOf, type RunDetail } from './run-source.ts';
import type { RunTree } from './run-tree.ts';

/**
 * `slipway run --server`: the source tree goes up as one archive, the server validates the
 * pipeline and runs it with its own workers, and this follows the run's events as a local
 * run would show them. Ctrl-C cancels the run on the server.
 */
/** How `slipway run` submits to a server: its report as JSON, fake workers, a budget. */
export interface SubmitOptions {
  json: boolean;
  fakeWorkers: boolean;
  budgetUsd?: number | undefined;
}

export async function runOnServer(
  api: ApiClient, file: string, pipeline: Pipeline, tree: RunTree, selection: Selection, options: SubmitOptions,
): Promise<number> {
  const packing = mkdtempSync(join(tmpdir(), 'slipway-upload-'));
  let digest: string;
  try {
    const archive = join(packing, 'source.tar.gz');
    await packArchive(tree.dir, archive, tree.files ?? undefined);
    ({ digest } = await api.upload<{ digest: string }>('/api/v1/sources', archive, 'application/gzip'));
  } finally {
    rmSync(packing, { recursive: true, force: true });
  }
  const { run } = await api.json<{ run: { id: string } }>('POST', '/api/v1/runs', {
    source: digest, file: basename(pipeline.file), label: file, selection, fake_workers: options.fakeWorkers,
    ...(options.budgetUsd !== undefined && { budget_usd: options.budgetUsd }),
    ...(tree.origin && { origin: tree.origin }),
  });

  return watchRemoteRun(api, run.id, pipeline.name, options.json, 0);
}

/**
 * Follows a run on a server from the event after `since` to its end, as a local run is
 * shown; Ctrl-C cancels it on the server, twice stops following. Resolves with the exit code.
 */
export async function watchRemoteRun(api: ApiClient, runId: string, pipelineName: string, json: boolean, since: number): Promise<number> {
  const out = json ? process.stderr : process.stdout;
  const progress = createProgress(out, { color: colorEnabled(out) });
  const following = new AbortController();
  let interrupts = 0;
  const onInterrupt = (): void => {
    interrupts++;
    if (interrupts === 1) {
      progress.print(`cancelling run ${runId} on ${api.origin} (Ctrl-C again to stop following it)`);
      void api.json('POST', `/api/v1/runs/${runId}/cancel`).catch((error: Error) => progress.print(`could not cancel: ${error.message}`));
    } else {
      following.abort();
    }
  };
  process.on('SIGINT', onInterrupt);
  process.on('SIGTERM', onInterrupt);
  try {
    const detail = await api.json<RunReport>('GET', `/api/v1/runs/${runId}`);
    progress.start({
      run: runId, pipeline: pipelineName, tasks: detail.tasks.map((t) => ({ key: t.id, status: t.status })),
      logsHint: `logs: ${selfCommand()} logs ${runId} TASK --server ${api.origin}`,
    });
    await followEvents(api, runId, since, following.signal, (event) => progress.event(event), (line) => progress.print(line));
    progress.stop();
    if (following.signal.aborted) {
      out.write(`${printable(`stopped following run ${runId}; it goes on on the server: ${selfCommand()} show ${runId} --server ${api.origin}`)}\n`);
      return 130;
    }
    return printReport(await settledReport(api, runId), json, `--server ${api.origin}`);
  } finally {
    progress.stop();
    process.off('SIGINT', onInterrupt);
    process.off('SIGTERM', onInterrupt);
  }
}

/** How long a server may stay out of reach before `run --server` stops following. */
const outageLimitMs = 10 * 60_000;

/**
 * Feeds the run's events after `since` to `onEvent` until the run ends. A server that goes
 * away (restarted, crashed) is waited for and the stream resumed after the last event seen,
 * so a follower neither misses nor repeats one.
 */
async function followEvents(
  api: ApiClient, runId: string, since: number, signal: AbortSignal, onEvent: (event: RunEvent) => void, say: (line: string) => void,
): Promise<void> {
  let outageSince: number | undefined;
  let last = since;
  while (!signal.aborted) {
    let trouble = 'the event stream ended';
    try {
      const stream = await api.open(`/api/v1/events?run=${runId}`, signal, last);
      if (outageSince !== undefined) say(`${api.origin} answers again; following run ${runId}`);
      outageSince = undefined;
      for await (const message of serverEvents(stream.body!)) {
        if (message.event !== 'run-event') continue;
        const event = JSON.parse(message.data) as RunEvent;
        last = event.seq;
        onEvent(event);
        if (event.kind === 'run.finished') return;
      }
    } catch (error) {
      if (signal.aborted) return;
      // A refusal (unknown run, revoked token) will not change by waiting; a broken stream or a server out of reach may.
      if (error instanceof UsageError && !(error instanceof ServerUnreachable)) throw error;
      trouble = (error as Error).message;
    }
    if (outageSince === undefined) say(`lost ${api.origin} (${trouble}); still following run ${runId}, Ctrl-C to stop`);
    outageSince ??= Date.now();
    if (Date.now() - outageSince > outageLimitMs) {
      throw new UsageError(`${api.origin} has not answered for ${outageLimitMs / 60_000} minutes; the run may go on there: ${selfCommand()} show ${runId} --server ${api.origin}`);
    }
    await sleep(1000, undefined, { signal }).catch(() => undefined);
  }
}

/**
 * The report once the attempts in flight have reported how they ended (a cancelled run is
 * over at once, its killed attempts a moment later), or after a grace period.
 */
async function settledReport(api: ApiClient, runId: string, graceMs = 15_000): Promise<RunReport> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const report = reportOf(await api.json<RunDetail>('GET', `/api/v1/runs/${runId}`));
    const inFlight = report.tasks.some((task) => task.attempts.some((attempt) => attempt.outcome === null));
    if (!inFlight || Date.now() > deadline) return report;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
