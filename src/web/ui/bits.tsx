import type { ReactNode } from 'react';
import type { Counts, RunStatus, TaskStatus, WorkerState } from '../lib/types.ts';
import { BAR_ORDER, countsText, total } from '../lib/status.ts';
import { absoluteTime, elapsed, formatDuration, relativeTime } from '../lib/format.ts';
import { useNow } from './clock.ts';
import type { StreamState } from '../net/event-stream.ts';

/** Small shared pieces: badges, the count bar, live times. */

const GLYPH: Record<string, string> = {
  succeeded: '✓', failed: '✕', running: '●', queued: '○', waiting: '○', checking: '◌',
  skipped: '↷', blocked: '⊘', cancelled: '■',
};

export function statusGlyph(status: string): string {
  return GLYPH[status] ?? '·';
}

export function StatusBadge({ status, title, label }: { status: RunStatus | TaskStatus | string; title?: string; label?: string }) {
  return (
    <span className={`badge s-${status}`} title={title}>
      <span className="badge-glyph" aria-hidden>{statusGlyph(status)}</span>
      {label ?? status}
    </span>
  );
}

export function WorkerBadge({ state }: { state: WorkerState }) {
  return <span className={`badge w-${state}`}>{state}</span>;
}

export function CountsBar({ counts, wide }: { counts: Counts; wide?: boolean }) {
  const n = total(counts);
  const label = n === 0 ? 'no tasks' : countsText(counts);
  return (
    <span className={`countbar${wide ? ' wide' : ''}`} role="img" aria-label={label} title={label}>
      {n > 0 && BAR_ORDER.map((s) => {
        const c = counts[s] ?? 0;
        return c > 0 ? <span key={s} className={`seg s-${s}`} style={{ flexGrow: c }} /> : null;
      })}
    </span>
  );
}

export function CountsLegend({ counts }: { counts: Counts }) {
  const order: TaskStatus[] = ['succeeded', 'failed', 'blocked', 'cancelled', 'running', 'checking', 'queued', 'waiting', 'skipped'];
  return (
    <span className="legend">
      {order.filter((s) => (counts[s] ?? 0) > 0).map((s) => (
        <span key={s} className="legend-item">
          <span className={`dot s-${s}`} aria-hidden />
          <b>{counts[s]}</b> {s}
        </span>
      ))}
    </span>
  );
}

export function RelTime({ iso }: { iso: string }) {
  const now = useNow();
  return <time dateTime={iso} title={absoluteTime(iso)}>{relativeTime(iso, now)}</time>;
}

/** Ticks while `end` is null. */
export function Duration({ start, end }: { start: string; end: string | null }) {
  const now = useNow(end === null);
  return <span className={`num${end === null ? ' ticking' : ''}`}>{formatDuration(elapsed(start, end, now))}</span>;
}

const LIVE_TEXT: Record<StreamState, string> = {
  connecting: 'connecting…', open: 'live', retrying: 'reconnecting…', closed: 'offline',
};

export function LiveDot({ state }: { state: StreamState }) {
  return (
    <span className={`live live-${state}`} title={state === 'open' ? 'Receiving live updates' : LIVE_TEXT[state]} role="status">
      <span className="live-dot" aria-hidden />
      {LIVE_TEXT[state]}
    </span>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

export function ErrorBox({ children }: { children: ReactNode }) {
  return <div className="error-box" role="alert">{children}</div>;
}

export function Mono({ children, title }: { children: ReactNode; title?: string }) {
  return <span className="mono" title={title}>{children}</span>;
}
