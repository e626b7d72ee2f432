/**
 * Live progress of a run from its events. On a terminal: a small view redrawn in place,
 * with failures printed above it so they stay in the scrollback. Elsewhere (CI logs,
 * pipes): one stable line per event.
 */
import type { RunEvent, RunEventKind } from '../engine/events.ts';
import type { TaskStatus } from '../engine/report.ts';
import { countStatuses, formatDuration, paint, paintStatus, printable, truncate, visibleWidth, type Style } from './format.ts';
import { statusAfter } from '../engine/task-events.ts';

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
  /**
   * Prints `text` (whole lines) for good: on a terminal above the live view, which is
   * redrawn below it at once. Anything else written to the stream while the view is on
   * screen lands inside it and is erased or garbles it; this is the way to say something.
   */
  print(text: string): void;
  /** Erases the live view and prints what is pending. Events after this are not shown. */
  stop(): void;
}

interface TaskView {
  status: TaskStatus;
  /** When its current attempt started (event time), if seen. */
  startedAt?: number;
  attempt?: number;
  worker?: string;
  workerName?: string;
  /** While it waits out a retry delay: the attempt that failed, and when the next is due, if told. */
  retry?: { failed: number | undefined; dueAt: number | undefined };
}


/** How each kind reads in a line. A retry reads as the failure it is, then says it will retry. */
const VERB: Record<RunEventKind, [string, Style]> = {
  'run.started': ['started', 'bold'],
  'run.finished': ['finished', 'bold'],
  'run.capped': ['capped', 'yellow'],
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
const PERMANENT = new Set<RunEventKind>(['run.capped', 'task.retrying', 'task.failed', 'worker.lost']);

/** Statuses counted in the header besides `done`, in the order shown: bad news first. */
const HEADER_COUNTS: TaskStatus[] = ['failed', 'blocked', 'cancelled', 'running', 'checking', 'queued', 'waiting'];
const FINISHED = new Set<TaskStatus>(['succeeded', 'failed', 'skipped', 'blocked', 'cancelled']);

const REDRAW_MS = 100;
const BAR_WIDTH = 12;
/*
 * How the view is drawn, learnt in real terminals (tmux, xterm):
 * - Each frame goes back to the view's top and overwrites its lines, each erased to its
 *   end only after its new text: nothing is blanked, so nothing blinks.
 * - `ESC[J` (erase below) is never sent at the view's top: at the screen's home position
 *   tmux pushes the whole screen into the scrollback (`scroll-on-clear`).
 * - Rows a terminal re-wrapped on a resize keep a "wrapped" mark that erasing after new
 *   text does not clear (tmux): widened again, it glues them to the next row. Erasing a
 *   row before writing it does clear it; so the first frame after a resize does that.
 */
/** Erase from the cursor to the end of its line / of the screen; erase the whole line. */
const ERASE_EOL = '\x1b[K';
const ERASE_DOWN = '\x1b[J';
const ERASE_LINE = '\x1b[2K';

/**
 * Back to the first column, then up `rows` lines: to the top of the view drawn before.
 * The column matters: the terminal echoes `^C` on the line below the view.
 */
function toTop(rows: number): string {
  // `ESC[0A` would still move one line up.
  return rows > 0 ? `\r\x1b[${rows}A` : '\r';
}

/**
 * Permanent lines, written over whatever is on the rows they take. One may wrap: its
 * first row is erased first, its last after its text, unless that text ends exactly at
 * the edge (erasing there would take its last character on some terminals).
 */
function permanentText(text: string, columns: number): string {
  const lines = text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
  return lines
    .map((line) => {
      const width = visibleWidth(line);
      return `${ERASE_LINE}${line}${width > 0 && width % columns === 0 ? '' : ERASE_EOL}\n`;
    })
    .join('');
}

export function createProgress(
  out: ProgressStream,
  options: { color: boolean; now?: () => number; env?: NodeJS.ProcessEnv },
): Progress {
  const { color } = options;
  const now = options.now ?? Date.now;
  // A dumb terminal (Emacs shell, some IDE consoles) cannot move the cursor: give it lines.
  const live = out.isTTY === true && (options.env ?? process.env)['TERM'] !== 'dumb';
  const tasks = new Map<string, TaskView>();
  let run = '';
  let pipeline = '';
  let runStartedAt = now();
  /** When the run finished: its clock stops there, though workers may take a while to stop. */
  let runFinishedAt: number | undefined;
  /**
   * Workers started for the run and not yet gone, by stable id: their names change with
   * every task, and only some events tell the new one.
   */
  const workers = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  /** Visible widths of the live view's lines on screen, and what they said. */
  let drawn: number[] = [];
  /** The terminal's width when the view was drawn. */
  let drawnColumns = 0;
  let lastFrame = '';
  /** Permanent lines waiting for the next redraw, which prints them above the view. */
  let pending = '';
  /**
   * Without a terminal, event lines written together: a write per event costs a system
   * call (and a wake-up of the reader) per line, several per task of a big run.
   */
  let unwritten = '';
  const writeOut = (): void => {
    if (unwritten === '') return;
    out.write(unwritten);
    unwritten = '';
  };

  function apply(e: RunEvent): void {
    if (e.kind === 'run.started') runStartedAt = eventTime(e, now);
    if (e.kind === 'run.finished') runFinishedAt = eventTime(e, now);
    if (e.worker !== undefined && e.kind.startsWith('worker.')) {
      if (e.kind === 'worker.stopped' || e.kind === 'worker.lost') workers.delete(e.worker);
      else workers.add(e.worker);
    }
    const status = statusAfter(e.kind);
    if (!status || e.task === undefined) return;
    const task = tasks.get(e.task) ?? { status };
    task.status = status;
    if (e.kind === 'task.started') {
      task.startedAt = eventTime(e, now);
      task.attempt = e.attempt;
      task.worker = e.worker;
      task.workerName = e.worker_name;
    }
    if (e.kind === 'task.retrying') {
      const delay = retryDelay(e.message);
      task.retry = { failed: e.attempt, dueAt: delay === undefined ? undefined : eventTime(e, now) + delay };
    } else if (e.kind !== 'task.queued') task.retry = undefined;
    tasks.set(e.task, task);
  }

  /** A size of 0 means the terminal did not say. */
  function columns(): number {
    return out.columns || 80;
  }

  function liveLines(): string[] {
    // The last column would wrap on some terminals.
    const width = Math.max(20, columns() - 1);
    const height = Math.max(2, (out.rows || 24) - 3);
    const running = [...tasks]
      .filter(([, t]) => t.status === 'running')
      .sort(([, a], [, b]) => (a.startedAt ?? 0) - (b.startedAt ?? 0))
      .map(([key, t]) => runningLine(key, t, width));
    // A retry can be minutes away: without a line the view would look stuck meanwhile.
    const retrying = [...tasks]
      .filter(([, t]) => t.status === 'queued' && t.retry !== undefined)
      .map(([key, t]) => retryLine(key, t));
    const entries = [...running, ...retrying];
    const room = height - 1;
    const shown = entries.length > room ? entries.slice(0, room - 1) : entries;
    const lines = [headerLine(width), ...shown];
    if (shown.length < entries.length) {
      const more = entries.length - shown.length;
      lines.push(`  … ${more} more ${more > retrying.length ? 'running' : 'waiting to retry'}`);
    }
    // Every task is done, yet the summary waits for the workers: say so, or it looks stuck.
    if ([...tasks.values()].every((t) => FINISHED.has(t.status)) && workers.size > 0) {
      const names = [...workers];
      lines.push(`  waiting for ${workers.size} worker${workers.size === 1 ? '' : 's'} to stop: ${paint(color, 'gray', printable(names.join(', ')))}`);
    }
    return lines.map((line) => truncate(line, width));
  }

  /**
   * `hello-c r-19f0 12s ████░░░░ 5/16 done · 1 failed · 2 running`. The counts matter most:
   * on a narrow terminal the run id, then the pipeline, then the bar make room for them.
   */
  function headerLine(width: number): string {
    const counts = countStatuses([...tasks.values()].map((t) => t.status));
    const total = tasks.size;
    const done = [...FINISHED].reduce((sum, s) => sum + counts[s], 0);
    const filled = total === 0 ? 0 : Math.round((done / total) * BAR_WIDTH);
    const barStyle: Style = counts.failed > 0 ? 'red' : counts.cancelled > 0 ? 'magenta' : 'green';
    const bar = paint(color, barStyle, '█'.repeat(filled)) + paint(color, 'gray', '░'.repeat(BAR_WIDTH - filled));
    const parts = [`${done}/${total} done`];
    for (const status of HEADER_COUNTS) {
      if (counts[status] > 0) parts.push(paintStatus(color, status, `${counts[status]} ${status}`));
    }
    const status = parts.join(' · ');
    const elapsed = liveDuration((runFinishedAt ?? now()) - runStartedAt);
    const candidates = [
      [paint(color, 'bold', printable(pipeline)), printable(run), elapsed, bar, status],
      [paint(color, 'bold', printable(pipeline)), elapsed, bar, status],
      [elapsed, bar, status],
      [elapsed, status],
    ].map((words) => words.filter(Boolean).join(' '));
    return candidates.find((line) => visibleWidth(line) <= width) ?? candidates.at(-1)!;
  }

  /** `    12s  build[version=1.0.0]  attempt 2  wa-3 (w-3f2a)`; short of room, without the id. */
  function runningLine(key: string, t: TaskView, width: number): string {
    const elapsed = t.startedAt === undefined ? '' : liveDuration(now() - t.startedAt);
    const retry = t.attempt !== undefined && t.attempt > 1 ? `  attempt ${t.attempt}` : '';
    const line = (worker: string) => `  ${elapsed.padStart(6)}  ${printable(key)}${retry}${worker && `  ${paint(color, 'gray', printable(worker))}`}`;
    const full = line(workerLabel(key, t, true));
    return visibleWidth(full) <= width ? full : line(workerLabel(key, t, false));
  }

  /** `  in 48s  build[version=1.0.0]  attempt 2 (retry)`, counting down to the next attempt. */
  function retryLine(key: string, t: TaskView): string {
    const dueAt = t.retry?.dueAt;
    const when = dueAt === undefined ? '' : dueAt > now() ? `in ${liveDuration(dueAt - now() + 999)}` : 'due';
    const next = t.retry?.failed === undefined ? 'next attempt' : `attempt ${t.retry.failed + 1}`;
    // In the elapsed column, which the indent widens: `in 1m00s` fits.
    return `${when.padStart(8)}  ${printable(key)}  ${paint(color, 'yellow', `${next} (retry)`)}`;
  }

  /**
   * Rows the view takes on screen now. Its lines fitted when drawn; a terminal made
   * narrower since then re-wraps them, as most do (tmux, VTE, iTerm2, kitty, Windows
   * Terminal). Rows it pushed above the screen are out of reach and stay in the scrollback.
   */
  function drawnRows(): number {
    const cols = columns();
    return drawn.reduce((rows, w) => rows + Math.max(1, Math.ceil(w / cols)), 0);
  }

  /**
   * Draws the view over the one on screen (see above). Permanent lines go first, where
   * the view's top was; what the view no longer covers (a shorter view, an echoed `^C`)
   * is erased below it.
   */
  function redraw(): void {
    if (stopped) return;
    const cols = columns();
    const lines = liveLines();
    const frame = lines.join('\n');
    const resized = drawn.length > 0 && cols !== drawnColumns;
    if (pending === '' && frame === lastFrame && !resized) return;
    let text = toTop(drawnRows());
    if (pending !== '') text += permanentText(pending, cols);
    text += lines.map((l) => (resized ? `${ERASE_LINE}${l}\n` : `${l}${ERASE_EOL}\n`)).join('');
    out.write(text + ERASE_DOWN);
    pending = '';
    drawn = lines.map(visibleWidth);
    drawnColumns = cols;
    lastFrame = frame;
  }

  /**
   * Erases the view and leaves the cursor where its top was, row by row rather than with
   * one `ESC[J` there (see above); the row below it goes too, in case it holds a `^C`.
   */
  function eraseView(): string {
    const rows = drawnRows();
    return toTop(rows) + `${ERASE_LINE}\x1b[1B`.repeat(rows) + ERASE_LINE + toTop(rows);
  }

  return {
    start(info) {
      if (stopped) return;
      run = info.run;
      pipeline = info.pipeline;
      runStartedAt = now();
      for (const { key, status } of info.tasks) tasks.set(key, { status });
      const intro =
        `run ${printable(info.run)} · pipeline ${printable(info.pipeline)} · ${info.tasks.length} task${info.tasks.length === 1 ? '' : 's'}\n` +
        (info.logsHint ? `${printable(info.logsHint)}\n` : '');
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
      // After stop() the summary follows; a late line would land after it.
      if (stopped) return;
      const line = `${eventLine(e, e.task === undefined ? undefined : tasks.get(e.task), color, now)}\n`;
      apply(e);
      if (!live) {
        if (unwritten === '') setImmediate(writeOut);
        unwritten += line;
      } else if (PERMANENT.has(e.kind)) pending += line;
    },

    print(text) {
      if (text === '') return;
      const shown = printable(text, { lines: true });
      const lines = shown.endsWith('\n') ? shown : `${shown}\n`;
      if (!live || stopped || timer === undefined) {
        writeOut();
        out.write(lines);
        return;
      }
      pending += lines;
      redraw();
    },

    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      timer = undefined;
      writeOut();
      if (!live) return;
      if (pending !== '') out.write(toTop(drawnRows()) + permanentText(pending, columns()) + ERASE_DOWN);
      else if (drawn.length > 0) out.write(eraseView());
      pending = '';
      drawn = [];
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
  const detail = printable(eventDetail(e, before, at));
  return `${paint(color, 'gray', clock(at))} ${paint(color, style, verb.padEnd(10))} ${printable(subject)}${detail ? `  ${detail}` : ''}`;
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
      // Without its message a retry would read exactly like a final failure.
      return [attempt, message || 'retrying'].filter(Boolean).join(': ');
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

/**
 * The delay in a retry's message, `exit code 3; retrying in 1m00s`, as the coordinator
 * writes it (with formatDuration); undefined if it says none.
 */
function retryDelay(message: string | undefined): number | undefined {
  const match = message?.match(/retrying in (?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s)?(?:(\d+)ms)?$/);
  if (!match || match[0] === 'retrying in ') return undefined;
  const [, h = '0', m = '0', sec = '0', ms = '0'] = match;
  return ((Number(h) * 60 + Number(m)) * 60 + Number(sec)) * 1000 + Number(ms);
}

/**
 * How long something has been going, in whole seconds: `0s`, `42s`, `1m05s`. Tenths
 * would change on every frame and make the view twitch.
 */
function liveDuration(ms: number): string {
  const seconds = Math.floor(Math.max(0, ms) / 1000);
  return seconds < 60 ? `${seconds}s` : formatDuration(seconds * 1000);
}

/**
 * The worker running a task: its name without the task it repeats (`wa-2` rather than
 * `wa-2-build[version=1.0.0,…]`), and its stable id, which its log is named by.
 */
function workerLabel(key: string, t: TaskView, withId: boolean): string {
  const suffix = `-${key}`;
  const name = t.workerName?.endsWith(suffix) ? t.workerName.slice(0, -suffix.length) : t.workerName;
  if (name && t.worker) return withId ? `${name} (${t.worker})` : name;
  return name ?? t.worker ?? '';
}

/** Local wall-clock time, as people read it next to their other logs. */
function clock(ms: number): string {
  const d = new Date(ms);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}
