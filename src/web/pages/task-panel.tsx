import { useEffect, useMemo, useState } from 'react';
import { api, errorMessage, isAbort } from '../net/api.ts';
import { downloadWithToken } from '../net/download.ts';
import type { Artifact, Attempt, RunDetail, Task } from '../lib/types.ts';
import { neededTasks } from '../lib/needs.ts';
import { byteSize } from '../../util/byte-size.ts';
import { clockTime, absoluteTime, formatMillis } from '../lib/format.ts';
import { href, runHref } from '../lib/route.ts';
import { Link } from '../ui/navigation.tsx';
import { Duration, ErrorBox, StatusBadge, statusGlyph } from '../ui/bits.tsx';
import { LogView } from '../ui/log-view.tsx';
import { useFetchedLog, useStreamedLog, type LogState } from '../ui/use-log.ts';

interface Props {
  run: string;
  detail: RunDetail;
  taskId: string;
  /** The task as the run page knows it: its status follows events live. */
  task: Task | undefined;
  attempt: number | null;
  /** Changes when an event touched this task: its attempts are fetched again. */
  tick: number;
  onClose: () => void;
  onSelectTask: (id: string) => void;
}

export function TaskPanel({ run, detail, taskId, task, attempt, tick, onClose, onSelectTask }: Props) {
  const [fresh, setFresh] = useState<Task | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    api.task(run, taskId, abort.signal).then(
      (t) => { setFresh(t); setError(null); },
      (e: unknown) => { if (!isAbort(e)) setError(errorMessage(e)); },
    );
    return () => abort.abort();
  }, [run, taskId, tick]);

  // Status from the live run; attempts from whichever knows more of them (events add
  // provisional attempts before the task's own refetch brings their ids).
  const shown: Task | null = task ?? fresh;
  const attempts = useMemo(() => {
    const a = task?.attempts ?? [];
    const b = fresh?.attempts ?? [];
    return (b.length >= a.length ? b : a).slice().sort((x, y) => x.number - y.number);
  }, [task, fresh]);

  const latest = attempts[attempts.length - 1];
  const current = (attempt === null ? latest : attempts.find((a) => a.number === attempt)) ?? latest;

  if (!shown) {
    return (
      <aside className="panel" aria-label="Task">
        <PanelHead title={taskId} onClose={onClose} />
        {error ? <ErrorBox>Could not load the task: {error}</ErrorBox> : <div className="empty">Loading…</div>}
      </aside>
    );
  }

  const needs = neededTasks(shown, detail.steps, detail.tasks);
  const step = detail.steps.find((s) => s.name === shown.step);

  return (
    <aside className="panel" aria-label={`Task ${shown.id}`}>
      <PanelHead title={shown.id} onClose={onClose} status={shown.status} />
      <div className="panel-meta">
        <span className="chips">
          <span className="chip"><span className="chip-k">step</span>{shown.step}</span>
          {Object.entries(shown.matrix).map(([k, v]) => (
            <span key={k} className="chip"><span className="chip-k">{k}</span>{v}</span>
          ))}
          {step && <span className="chip"><span className="chip-k">activity</span>{step.activity}</span>}
        </span>
      </div>
      {needs.length > 0 && (
        <div className="needs">
          <span className="muted">{shown.status === 'blocked' ? 'Blocked by' : 'Needs'}</span>
          {needs.map((t) => (
            <button key={t.id} type="button" className={`need s-${t.status}`} onClick={() => onSelectTask(t.id)} title={`${t.id}: ${t.status}`}>
              <span aria-hidden>{statusGlyph(t.status)}</span> {t.id}
            </button>
          ))}
        </div>
      )}
      {error && <ErrorBox>Refreshing the task failed: {error}</ErrorBox>}
      {attempts.length === 0 ? (
        <div className="empty small">{noAttemptText(shown)}</div>
      ) : (
        <AttemptsTable run={run} task={shown.id} attempts={attempts} current={current} />
      )}
      {shown.status === 'succeeded' && <Artifacts run={run} task={shown.id} tick={tick} />}
      {current && <AttemptLog key={current.id || `n${current.number}`} attempt={current} task={shown.id} run={run} />}
    </aside>
  );
}

/** The files the task kept (its step's `artifacts:`), each a download; nothing when it kept none. */
function Artifacts({ run, task, tick }: { run: string; task: string; tick: number }) {
  const [artifacts, setArtifacts] = useState<Artifact[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    api.artifacts(run, task, abort.signal).then(
      (found) => { setArtifacts(found.artifacts); setError(null); },
      (e: unknown) => { if (!isAbort(e)) setError(errorMessage(e)); },
    );
    return () => abort.abort();
  }, [run, task, tick]);
  if (error) return <ErrorBox>Could not list the artifacts: {error}</ErrorBox>;
  if (artifacts.length === 0) return null;
  // A bucket's artifact is a signed URL the browser opens itself (it is served as an attachment); one kept here comes with the token.
  const download = async (a: Artifact) => {
    const { url } = await api.artifactLink(run, task, a.path);
    if (url) window.location.assign(url);
    else await downloadWithToken(api.artifactFile(run, task, a.path), a.path.slice(a.path.lastIndexOf('/') + 1));
  };
  return (
    <div className="artifacts" aria-label="Artifacts">
      <span className="muted">Artifacts</span>
      {artifacts.map((a) => (
        <button key={a.path} type="button" className="artifact mono" onClick={() => { download(a).catch((e: unknown) => setError(errorMessage(e))); }} title={`download ${a.path} (sha256 ${a.sha256})`}>
          {a.path} <span className="muted">{byteSize(a.size)}</span>
        </button>
      ))}
    </div>
  );
}

function PanelHead({ title, status, onClose }: { title: string; status?: string; onClose: () => void }) {
  return (
    <div className="panel-head">
      {status && <StatusBadge status={status} />}
      <h2 className="mono" title={title}>{title}</h2>
      <button type="button" className="btn icon" onClick={onClose} aria-label="Close task (Esc)" title="Close (Esc)">✕</button>
    </div>
  );
}

function noAttemptText(t: Task): string {
  switch (t.status) {
    case 'blocked': return 'Not run: a task it needs failed.';
    case 'skipped': return 'Skipped: its done_if check found the work already done, or it was outside the selection.';
    case 'waiting': return 'Waiting for the tasks it needs.';
    case 'checking': return 'Its done_if check is queued.';
    case 'queued': return 'Queued: waiting for a worker.';
    case 'cancelled': return 'Cancelled before it ran.';
    default: return 'No attempts yet.';
  }
}

function AttemptsTable({ run, task, attempts, current }: {
  run: string; task: string; attempts: Attempt[]; current: Attempt | undefined;
}) {
  return (
    <table className="table attempts">
      <thead>
        <tr>
          <th className="r">#</th>
          <th>Worker</th>
          <th>Pool</th>
          <th>Outcome</th>
          <th className="r">Exit</th>
          <th>Started</th>
          <th className="r">Duration</th>
          <th className="r" title="How long the script ran, from its start to its exit, as its worker measured it: the rest of the attempt is Slipway's">Script</th>
          <th>Error</th>
        </tr>
      </thead>
      <tbody>
        {attempts.map((a) => {
          const on = a === current;
          const latest = a === attempts[attempts.length - 1];
          // The latest attempt's link leaves the attempt out of the URL, so the panel
          // moves on to the next attempt when a retry starts.
          const to = latest ? runHref(run, task) : runHref(run, task, a.number);
          return (
            <tr key={a.number} className={on ? 'current' : undefined}>
              <td className="r num"><Link href={to} replace aria-current={on ? 'true' : undefined}>{a.number}</Link></td>
              <td className="wk">
                {a.worker ? (
                  <Link href={href({ page: 'workers', run: '', worker: a.worker })} title={`worker ${a.worker}`}>
                    <span className="mono">{a.worker_name ?? a.worker}</span>
                  </Link>
                ) : <span className="muted">—</span>}
                {a.worker && <span className="muted mono small"> {a.worker}</span>}
              </td>
              <td className="pool mono small" title={a.pool ? `pool ${a.pool}: the workers page groups its workers` : undefined}>
                {a.pool ?? <span className="muted">—</span>}
              </td>
              <td>{a.outcome ? <StatusBadge status={OUTCOME_STATUS[a.outcome]} label={a.outcome.replace('_', ' ')} /> : <StatusBadge status="running" />}</td>
              <td className="r num">{a.exit_code ?? <span className="muted">—</span>}</td>
              <td className="num" title={absoluteTime(a.started_at)}>{clockTime(a.started_at)}</td>
              <td className="r"><Duration start={a.started_at} end={a.finished_at} /></td>
              <td className="r num script">{a.script_ms === null ? <span className="muted">—</span> : formatMillis(a.script_ms)}</td>
              <td className="err mono" title={a.error ?? undefined}>{a.error ?? ''}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** Outcomes wear the colour of the task status they resemble. */
const OUTCOME_STATUS: Record<NonNullable<Attempt['outcome']>, string> = {
  succeeded: 'succeeded', failed: 'failed', timed_out: 'failed', lost: 'failed', cancelled: 'cancelled',
};

const STATE_TEXT: Record<LogState, string> = {
  loading: 'connecting…', streaming: 'streaming', done: 'complete', interrupted: 'stream interrupted', error: 'failed to load',
};

function AttemptLog({ attempt, task, run }: { attempt: Attempt; task: string; run: string }) {
  // Decided once per attempt: a finished log is one plain download, a live one a stream
  // (which switching over mid-way would download twice).
  const [live] = useState(attempt.finished_at === null);
  const ready = attempt.id !== '';
  const streamed = useStreamedLog(ready && live ? api.attemptLogStream(attempt.id) : null);
  const fetched = useFetchedLog(ready && !live ? api.attemptLog(attempt.id) : null, 0);
  const log = live ? streamed : fetched;
  const [dlError, setDlError] = useState<string | null>(null);

  const raw = (): void => {
    setDlError(null);
    const name = `${run}-${task.replace(/[^A-Za-z0-9._=-]+/g, '_')}-attempt-${attempt.number}.log`;
    downloadWithToken(api.attemptLog(attempt.id), name).catch((e: unknown) => setDlError(errorMessage(e)));
  };

  return (
    <div className="attempt-log">
      <div className="logtitle">
        <h3>Attempt {attempt.number} log</h3>
        <span className={`logstate st-${ready ? log.state : 'loading'}`}>{ready ? STATE_TEXT[log.state] : 'starting…'}</span>
        <span className="spacer" />
        {ready && <button type="button" className="btn small" onClick={raw} title="Download the whole log as text">Raw ↓</button>}
      </div>
      {dlError && <ErrorBox>Download failed: {dlError}</ErrorBox>}
      {log.error && <ErrorBox>{log.error}</ErrorBox>}
      <LogView
        buffer={log.buffer}
        version={log.version}
        label={`Log of ${task}, attempt ${attempt.number}`}
        placeholder={!ready ? 'The attempt is starting…' : log.state === 'done' ? 'The log is empty.' : 'Waiting for output…'}
      />
    </div>
  );
}

