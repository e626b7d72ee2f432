import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api, errorMessage, isAbort } from '../net/api.ts';
import type { RunDetail, RunEvent, Task } from '../lib/types.ts';
import { applyRunEvent, needsRefetch } from '../lib/run-events.ts';
import { layoutGrid } from '../lib/grid.ts';
import { href, runHref } from '../lib/route.ts';
import { canSubmit, useMe } from '../ui/me.ts';
import { Link, navigate } from '../ui/navigation.tsx';
import { useRunEvents } from '../ui/use-stream.ts';
import { CountsBar, CountsLegend, Duration, Empty, ErrorBox, LiveDot, Mono, RelTime, StatusBadge } from '../ui/bits.tsx';
import { RunSourceText } from '../ui/run-source.tsx';
import { MatrixGrid } from '../ui/matrix-grid.tsx';
import { FailureSummary } from './failure-summary.tsx';
import { TaskPanel } from './task-panel.tsx';
import { formatUsd } from '../../util/money.ts';

/** Events that need the whole run again (an error text, a final status) come in bursts. */
const REFETCH_DELAY_MS = 500;

export function RunPage({ run, task, attempt }: { run: string; task: string | null; attempt: number | null }) {
  const me = useMe();
  const [detail, setDetail] = useState<RunDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [taskTick, setTaskTick] = useState(0);
  const [busy, setBusy] = useState(false);
  const [actionError, setActionError] = useState<string | null>(null);

  // Events that arrive while a fetch is in flight are applied again on top of its answer,
  // which may predate them; re-applying one it already reflects is harmless.
  const during = useRef<RunEvent[] | null>(null);
  const generation = useRef(0);
  const load = useCallback(() => {
    const mine = ++generation.current;
    during.current = [];
    api.run(run).then(
      (fresh) => {
        if (mine !== generation.current) return;
        let next = fresh;
        for (const e of during.current ?? []) next = applyRunEvent(next, e);
        during.current = null;
        setDetail(next);
        setError(null);
      },
      (e: unknown) => {
        if (mine !== generation.current || isAbort(e)) return;
        during.current = null;
        setError(errorMessage(e));
      },
    );
  }, [run]);

  useEffect(() => {
    load();
    return () => { generation.current++; };
  }, [load]);

  const refetchTimer = useRef<number | undefined>(undefined);
  const tickTimer = useRef<number | undefined>(undefined);
  useEffect(() => () => { window.clearTimeout(refetchTimer.current); window.clearTimeout(tickTimer.current); }, []);
  const selected = useRef(task);
  selected.current = task;

  const onEvent = useCallback((e: RunEvent) => {
    during.current?.push(e);
    setDetail((d) => (d ? applyRunEvent(d, e) : d));
    if (needsRefetch(e)) {
      window.clearTimeout(refetchTimer.current);
      refetchTimer.current = window.setTimeout(load, REFETCH_DELAY_MS);
    }
    // The open task's attempts (ids, exit codes) come from its own, smaller, refetch.
    if (e.task !== undefined && e.task === selected.current) {
      window.clearTimeout(tickTimer.current);
      tickTimer.current = window.setTimeout(() => setTaskTick((n) => n + 1), 250);
    }
  }, [load]);
  // Every (re)connection may follow missed events: fetch the run again.
  const live = useRunEvents(api.events(run), onEvent, load);

  const tasks = useMemo(() => new Map((detail?.tasks ?? []).map((t) => [t.id, t])), [detail]);
  const layout = useMemo(
    () => (detail ? layoutGrid(detail.steps, detail.matrix, detail.tasks) : null),
    // The layout depends on which tasks exist, not on their statuses, which change often.
    [detail?.steps, detail?.matrix, detail?.tasks.length],
  );

  const select = useCallback((id: string) => navigate(runHref(run, id)), [run]);
  const close = useCallback(() => navigate(runHref(run)), [run]);

  useEffect(() => {
    if (task === null) return;
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === 'Escape' && !(e.target instanceof HTMLInputElement)) close();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [task, close]);

  const act = (kind: 'cancel' | 'rerun'): void => {
    if (kind === 'cancel' && !window.confirm(`Cancel run ${run}? Running tasks are killed.`)) return;
    setBusy(true);
    setActionError(null);
    (kind === 'cancel' ? api.cancel(run) : api.rerun(run)).then(
      ({ run: r }) => { setDetail((d) => (d ? { ...d, run: { ...d.run, ...r } } : d)); load(); },
      (e: unknown) => setActionError(`${kind === 'cancel' ? 'Cancel' : 'Rerun'} failed: ${errorMessage(e)}`),
    ).finally(() => setBusy(false));
  };

  if (error && !detail) {
    return (
      <div className="run-page">
        <ErrorBox>Could not load run <Mono>{run}</Mono>: {error}</ErrorBox>
        <p><Link href="/">Back to the runs</Link></p>
      </div>
    );
  }
  if (!detail || !layout) return <div className="run-page"><Empty>Loading run <Mono>{run}</Mono>…</Empty></div>;

  const r = detail.run;
  const counts = r.counts;
  const finished = r.status !== 'running';
  const rerunnable = finished && ((counts.failed ?? 0) + (counts.blocked ?? 0) + (counts.cancelled ?? 0)) > 0;
  const mayAct = canSubmit(me);
  const openTask: Task | undefined = task === null ? undefined : tasks.get(task);

  return (
    <div className={`run-page${task !== null ? ' with-panel' : ''}`}>
      <section className="run-main" aria-label="Run">
        <div className="runhead">
          <div className="runhead-top">
            <StatusBadge status={r.status} />
            <h1>
              <Link href={href({ page: 'runs', status: '', pipeline: r.pipeline })} className="pipeline-link">{r.pipeline}</Link>
              <Mono>{r.id}</Mono>
            </h1>
            <span className="spacer" />
            {mayAct && r.status === 'running' && (
              <button type="button" className="btn danger" disabled={busy} onClick={() => act('cancel')}>Cancel run</button>
            )}
            {mayAct && rerunnable && (
              <button type="button" className="btn primary" disabled={busy} onClick={() => act('rerun')}
                title="Failed, blocked and cancelled tasks run again in this run">Rerun failed</button>
            )}
            <LiveDot state={live} />
          </div>
          <div className="runhead-meta">
            <RunSourceText source={r.source} />
            <span>started <RelTime iso={r.started_at} /></span>
            <span>{finished ? 'took' : 'running for'} <Duration start={r.started_at} end={r.finished_at} /></span>
            {r.cost_usd != null && <span title="What this run spent on machines, at the configured prices">cost {formatUsd(r.cost_usd)}{r.budget_usd != null && ` of ${formatUsd(r.budget_usd)}`}</span>}
            {r.cost_usd == null && r.budget_usd != null && <span title="What this run may spend on machines">budget {formatUsd(r.budget_usd)}</span>}
            <span className="runhead-counts"><CountsBar counts={counts} wide /><CountsLegend counts={counts} /></span>
          </div>
          {r.spend_cap && <div className="notice" role="status">Capped: {r.spend_cap}</div>}
          {r.status === 'cancelled' && r.cancel_reason && <div className="notice" role="status">{r.cancel_reason}</div>}
          {actionError && <ErrorBox>{actionError}</ErrorBox>}
          {error && <ErrorBox>Showing what was last loaded; refreshing failed: {error}</ErrorBox>}
        </div>
        {detail.failures.length > 0 && (
          <FailureSummary detail={detail} tasks={tasks} selected={task} onSelect={select} />
        )}
        <MatrixGrid layout={layout} tasks={tasks} selected={task} onSelect={select} />
      </section>
      {task !== null && (
        <TaskPanel
          key={task}
          run={run}
          detail={detail}
          taskId={task}
          task={openTask}
          attempt={attempt}
          tick={taskTick}
          onClose={close}
          onSelectTask={select}
        />
      )}
    </div>
  );
}
