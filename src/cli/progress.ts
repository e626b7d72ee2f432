/**
 * Live progress of a run from its events. On a terminal: a small view redrawn in place,
 * with failures printed above it so they stay in the scrollback. Elsewhere (CI logs,
 * pipes): one stable line per event.
 */
import type { RunEvent, RunEventKind } from '../engine/events.ts';
import type { TaskStatus } from '../engine/report.ts';
import { countStatuses, formatDuration, paint, paintStatus, truncate, type Style } from './format.ts';

export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number; rows?: number };

export interface ProgressStart {
  run: string;
  pipeline: string;
  tasks: { key: string; status: TaskStatus }[];
  /** Told once at the start, e.g. how to read a task's log. */
  logsHint?: string;
}

export interface Progress {
  start(info: ProgressStart): void;
  event(e: RunEvent): void;
  stop(): void;
}

interface TaskView {
  status: TaskStatus;
  /** When its current attempt started (event time), if seen. */
  startedAt?: number;
  attempt?: number;
  worker?: string;
  workerName?: string;
}

const STATUS_AFTER: Partial<Record<RunEventKind, TaskStatus>> = {
  'task.checking': 'checking',
  'task.queued': 'queued',
  'task.started': 'running',
  // The next attempt waits out its delay and is then handed out like any ready task.
  'task.retrying': 'queued',
  'task.succeeded': 'succeeded',
  'task.failed': 'failed',
  'task.skipped': 'skipped',
  'task.blocked': 'blocked',
  'task.cancelled': 'cancelled',
};

/** How each kind reads in a line. A retry reads as the failure it is, then says it will retry. */
const VERB: Record<RunEventKind, [string, Style]> = {
  'run.started': ['started', 'bold'],
  'run.finished': ['finished', 'bold'],
  'task.checking': ['checking', 'cyan'],
  'task.queued': ['queued', 'gray'],
  'task.started': ['started', 'cyan'],
  'task.retrying': ['failed', 'yellow'],
  'task.succeeded': ['succeeded', 'green'],
  'task.failed': ['failed', 'red'],
  'task.skipped': ['skipped', 'gray'],
  'task.blocked': ['blocked', 'yellow'],
  'task.cancelled': ['cancelled', 'magenta'],
  'worker.starting': ['starting', 'gray'],
  'worker.registered': ['registered', 'gray'],
  'worker.stopping': ['stopping', 'gray'],
  'worker.stopped': ['stopped', 'gray'],
  'worker.lost': ['lost', 'red'],
};

/** On a terminal only these become permanent lines; the live view shows the rest. */
const PERMANENT = new Set<RunEventKind>(['task.retrying', 'task.failed', 'worker.lost']);

/** Statuses counted in the header besides `done`, in the order shown. */
const HEADER_COUNTS: TaskStatus[] = ['running', 'checking', 'queued', 'waiting', 'failed', 'blocked', 'cancelled'];
const FINISHED = new Set<TaskStatus>(['succeeded', 'failed', 'skipped', 'blocked', 'cancelled']);

const REDRAW_MS = 100;
const BAR_WIDTH = 12;
// Cursor up one line, then erase it.
const ERASE_LINE = '\x1b[1A\x1b[2K';

export function createProgress(out: ProgressStream, options: { color: boolean; now?: () => number }): Progress {
  const { color } = options;
  const now = options.now ?? Date.now;
  const live = out.isTTY === true;
  const tasks = new Map<string, TaskView>();
  let run = '';
  let pipeline = '';
  let runStartedAt = now();
  let timer: NodeJS.Timeout | undefined;
  /** Lines of the live view currently on screen, and what they said. */
  let drawn = 0;
  let lastFrame = '';
  /** Permanent lines waiting for the next redraw, which prints them above the view. */
  let pending = '';

  function apply(e: RunEvent): void {
    if (e.kind === 'run.started') runStartedAt = eventTime(e, now);
    const status = STATUS_AFTER[e.kind];
    if (!status || e.task === undefined) return;
    const task = tasks.get(e.task) ?? { status };
    task.status = status;
    if (e.kind === 'task.started') {
      task.startedAt = eventTime(e, now);
      task.attempt = e.attempt;
      task.worker = e.worker;
      task.workerName = e.worker_name;
    }
    tasks.set(e.task, task);
  }

  function liveLines(): string[] {
    // A size of 0 means the terminal did not say. The last column would wrap on some terminals.
    const width = Math.max(20, (out.columns || 80) - 1);
    const height = Math.max(2, (out.rows || 24) - 3);
    const running = [...tasks]
      .filter(([, t]) => t.status === 'running')
      .sort(([, a], [, b]) => (a.startedAt ?? 0) - (b.startedAt ?? 0));
    const room = height - 1;
    const shown = running.length > room ? running.slice(0, room - 1) : running;
    const lines = [headerLine(), ...shown.map(([key, t]) => runningLine(key, t))];
    if (shown.length < running.length) lines.push(`  … ${running.length - shown.length} more running`);
    return lines.map((line) => truncate(line, width));
  }

  function headerLine(): string {
    const counts = countStatuses([...tasks.values()].map((t) => t.status));
    const total = tasks.size;
    const done = [...FINISHED].reduce((sum, s) => sum + counts[s], 0);
    const filled = total === 0 ? 0 : Math.round((done / total) * BAR_WIDTH);
    const bar =
      paint(color, counts.failed > 0 ? 'red' : 'green', '█'.repeat(filled)) +
      paint(color, 'gray', '░'.repeat(BAR_WIDTH - filled));
    const parts = [`${done}/${total} done`];
    for (const status of HEADER_COUNTS) {
      if (counts[status] > 0) parts.push(paintStatus(color, status, `${counts[status]} ${status}`));
    }
    const elapsed = formatDuration(now() - runStartedAt);
    return `${paint(color, 'bold', run)} ${pipeline} ${elapsed} ${bar} ${parts.join(' · ')}`;
  }

  function runningLine(key: string, t: TaskView): string {
    const elapsed = t.startedAt === undefined ? '' : formatDuration(now() - t.startedAt);
    const retry = t.attempt !== undefined && t.attempt > 1 ? `  attempt ${t.attempt}` : '';
    return `  ${elapsed.padStart(6)}  ${key}${retry}  ${paint(color, 'gray', t.workerName ?? t.worker ?? '')}`;
  }

  function redraw(): void {
    const lines = liveLines();
    const frame = lines.join('\n');
    if (pending === '' && frame === lastFrame) return;
    out.write(ERASE_LINE.repeat(drawn) + pending + lines.map((l) => `${l}\n`).join(''));
    pending = '';
    drawn = lines.length;
    lastFrame = frame;
  }

  return {
    start(info) {
      run = info.run;
      pipeline = info.pipeline;
      runStartedAt = now();
      for (const { key, status } of info.tasks) tasks.set(key, { status });
      const intro =
        `run ${info.run} · pipeline ${info.pipeline} · ${info.tasks.length} tasks\n` +
        (info.logsHint ? `${info.logsHint}\n` : '');
      if (!live) {
        out.write(intro);
        return;
      }
      pending += intro;
      redraw();
      timer = setInterval(redraw, REDRAW_MS);
      timer.unref(); // progress must never be what keeps the process alive
    },

    event(e) {
      const line = `${eventLine(e, e.task === undefined ? undefined : tasks.get(e.task), color, now)}\n`;
      apply(e);
      if (!live) out.write(line);
      else if (PERMANENT.has(e.kind)) pending += line;
    },

    stop() {
      clearInterval(timer);
      timer = undefined;
      if (!live) return;
      if (drawn > 0 || pending !== '') out.write(ERASE_LINE.repeat(drawn) + pending);
      pending = '';
      drawn = 0;
      lastFrame = '';
    },
  };
}

function eventTime(e: RunEvent, now: () => number): number {
  const t = Date.parse(e.at);
  return Number.isFinite(t) ? t : now();
}

/**
 * `12:03:04 started    build[version=1.0.0]  attempt 1 on wa-1-build[…] (w-3f2a)`: time,
 * a fixed-width verb, the subject, details. `before` is the task as it was before `e`.
 */
function eventLine(e: RunEvent, before: TaskView | undefined, color: boolean, now: () => number): string {
  const [verb, style] = VERB[e.kind];
  const at = eventTime(e, now);
  const subject = e.kind.startsWith('run.')
    ? `run ${e.run}`
    : e.kind.startsWith('worker.')
      ? `worker ${e.worker_name ?? e.worker ?? '?'}`
      : (e.task ?? '?');
  const detail = eventDetail(e, before, at);
  return `${paint(color, 'gray', clock(at))} ${paint(color, style, verb.padEnd(10))} ${subject}${detail ? `  ${detail}` : ''}`;
}

function eventDetail(e: RunEvent, before: TaskView | undefined, at: number): string {
  const attempt = e.attempt === undefined ? '' : `attempt ${e.attempt}`;
  const message = e.message ?? '';
  switch (e.kind) {
    case 'task.started': {
      const where = e.worker_name && e.worker ? `${e.worker_name} (${e.worker})` : (e.worker_name ?? e.worker);
      return [attempt, where && `on ${where}`].filter(Boolean).join(' ');
    }
    case 'task.retrying':
      return [attempt, message ?? 'retrying'].filter(Boolean).join(': ');
    case 'task.failed':
      return [attempt, message].filter(Boolean).join(': ');
    case 'task.succeeded': {
      const took = before?.startedAt === undefined ? '' : `in ${formatDuration(at - before.startedAt)}`;
      const retried = e.attempt !== undefined && e.attempt > 1 ? `on ${attempt}` : '';
      return [took, retried].filter(Boolean).join(' ');
    }
    default: {
      // Worker lines name the worker by its changing name; keep the stable id beside it.
      const id = e.kind.startsWith('worker.') && e.worker_name && e.worker ? `(${e.worker})` : '';
      return [id, message && `(${message})`].filter(Boolean).join(' ');
    }
  }
}

/** Local wall-clock time, as people read it next to their other logs. */
function clock(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}
