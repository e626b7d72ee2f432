import { useCallback, useEffect, useMemo, useRef, useState, type MouseEvent } from 'react';
import { api, errorMessage, isAbort } from '../net/api.ts';
import { downloadWithToken } from '../net/download.ts';
import type { Activity, RunEvent, Worker, WorkerState } from '../lib/types.ts';
import { applyWorkerEvent, isLive, touchesWorkers } from '../lib/worker-events.ts';
import { href, runHref } from '../lib/route.ts';
import { plural } from '../lib/format.ts';
import { Link, navigate } from '../ui/navigation.tsx';
import { useRunEvents } from '../ui/use-stream.ts';
import { Duration, Empty, ErrorBox, LiveDot, RelTime, WorkerBadge } from '../ui/bits.tsx';
import { LogView } from '../ui/log-view.tsx';
import { useFetchedLog } from '../ui/use-log.ts';

/** Worker events come in bursts (a pool starting); the list is refetched once after one. */
const REFETCH_DELAY_MS = 800;

const STATE_ORDER: readonly WorkerState[] = ['busy', 'idle', 'starting', 'draining', 'lost', 'failed', 'stopped'];

interface Group {
  run: string;
  activity: string;
  workers: Worker[];
  info: Activity | undefined;
  live: number;
}

export function WorkersPage({ run, worker }: { run: string; worker: string | null }) {
  const [workers, setWorkers] = useState<readonly Worker[] | null>(null);
  const [activities, setActivities] = useState<Activity[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [liveOnly, setLiveOnly] = useState(false);

  const load = useCallback((signal?: AbortSignal) => {
    Promise.all([api.workers(run ? { run } : {}, signal), api.activities(signal)]).then(
      ([w, a]) => { setWorkers(w.workers); setActivities(a.activities); setError(null); },
      (e: unknown) => { if (!isAbort(e)) setError(errorMessage(e)); },
    );
  }, [run]);

  useEffect(() => {
    const abort = new AbortController();
    load(abort.signal);
    return () => abort.abort();
  }, [load]);

  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const onEvent = useCallback((e: RunEvent) => {
    if (!touchesWorkers(e)) return;
    setWorkers((ws) => (ws ? applyWorkerEvent(ws, e) : ws));
    window.clearTimeout(timer.current);
    timer.current = window.setTimeout(() => load(), REFETCH_DELAY_MS);
  }, [load]);
  const live = useRunEvents(api.events(run || undefined), onEvent, load);

  const groups = useMemo(() => groupWorkers(workers ?? [], activities, liveOnly), [workers, activities, liveOnly]);
  const selected = worker === null ? undefined : workers?.find((w) => w.id === worker);
  const counts = useMemo(() => {
    const c = new Map<WorkerState, number>();
    for (const w of workers ?? []) c.set(w.state, (c.get(w.state) ?? 0) + 1);
    return c;
  }, [workers]);
  const liveCount = (workers ?? []).filter(isLive).length;

  return (
    <div className={`workers-page${worker !== null ? ' with-panel' : ''}`}>
      <section className="run-main" aria-label="Workers">
        <div className="pagehead">
          <h1>Workers</h1>
          {run && (
            <span className="filter-pill">
              run <Link href={runHref(run)} className="mono">{run}</Link>
              <Link href={href({ page: 'workers', run: '', worker })} aria-label="Show every run's workers" title="Every run">✕</Link>
            </span>
          )}
          <span className="muted fleet-summary">
            {plural(liveCount, 'live worker')}
            {STATE_ORDER.filter((s) => counts.get(s)).map((s) => (
              <span key={s}> · {counts.get(s)} {s}</span>
            ))}
          </span>
          <label className="check">
            <input type="checkbox" checked={liveOnly} onChange={(e) => setLiveOnly(e.target.checked)} /> live only
          </label>
          <span className="spacer" />
          <LiveDot state={live} />
        </div>
        {error && <ErrorBox>Could not load workers: {error}</ErrorBox>}
        {workers === null && !error && <Empty>Loading workers…</Empty>}
        {workers !== null && groups.length === 0 && <Empty>{liveOnly ? 'No live workers: nothing is running.' : 'No workers yet.'}</Empty>}
        {groups.length > 0 && (
          <table className="table workers">
            <thead>
              <tr>
                <th className="c-name">Name</th>
                <th className="c-state">State</th>
                <th className="c-prov opt">Provider</th>
                <th className="c-started opt">Started</th>
                <th className="c-up r">Uptime</th>
                <th className="c-tasks r">Tasks</th>
                <th className="c-id opt">Id</th>
                <th className="c-reason opt">Stop reason</th>
              </tr>
            </thead>
            {groups.map((g, i) => (
              <tbody key={`${g.run}/${g.activity}`}>
                {(i === 0 || groups[i - 1]!.run !== g.run) && (
                  <tr className="wrun">
                    <th colSpan={8} scope="rowgroup">
                      run <Link href={runHref(g.run)} className="mono">{g.run}</Link>
                    </th>
                  </tr>
                )}
                <tr className="wgroup">
                  <th colSpan={8} scope="rowgroup">
                    <span className="wgroup-act mono">{g.activity || 'starting…'}</span>
                    <span className="muted">
                      {g.info
                        ? `${g.info.provider} · ${g.info.live}/${g.info.max_workers} live · ${g.info.queued} queued`
                        : g.workers[0]?.provider}
                    </span>
                  </th>
                </tr>
                {g.workers.map((w) => <WorkerRow key={w.id} w={w} run={run} selected={w.id === worker} />)}
              </tbody>
            ))}
          </table>
        )}
      </section>
      {worker !== null && (
        <WorkerPanel key={worker} id={worker} worker={selected} onClose={() => navigate(href({ page: 'workers', run, worker: null }))} />
      )}
    </div>
  );
}

function WorkerRow({ w, run, selected }: { w: Worker; run: string; selected: boolean }) {
  const to = href({ page: 'workers', run, worker: w.id });
  const open = (e: MouseEvent): void => {
    if ((e.target as HTMLElement).closest('a, button')) return;
    navigate(to);
  };
  return (
    <tr className={`clickable${isLive(w) ? '' : ' gone'}${selected ? ' current' : ''}`} onClick={open}>
      <td className="c-name"><Link href={to} className="mono wname" title={`${w.name} — open its log`}>{w.name}</Link></td>
      <td className="c-state"><WorkerBadge state={w.state} /></td>
      <td className="c-prov opt">{w.provider}</td>
      <td className="c-started opt"><RelTime iso={w.started_at} /></td>
      <td className="c-up r"><Duration start={w.started_at} end={w.stopped_at} /></td>
      <td className="c-tasks r num">{w.tasks_done}</td>
      <td className="c-id opt mono muted small">{w.id}</td>
      <td className="c-reason opt muted" title={w.stop_reason ?? undefined}>{w.stop_reason ?? ''}</td>
    </tr>
  );
}

function WorkerPanel({ id, worker, onClose }: { id: string; worker: Worker | undefined; onClose: () => void }) {
  const [reload, setReload] = useState(0);
  const log = useFetchedLog(api.workerLog(id), reload);
  const [dlError, setDlError] = useState<string | null>(null);
  useEffect(() => {
    const onKey = (e: KeyboardEvent): void => {
      if (e.key === 'Escape' && !(e.target instanceof HTMLInputElement)) onClose();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [onClose]);
  const raw = (): void => {
    setDlError(null);
    downloadWithToken(api.workerLog(id), `${worker?.run ?? 'run'}-${id}.log`).catch((e: unknown) => setDlError(errorMessage(e)));
  };
  return (
    <aside className="panel" aria-label={`Worker ${worker?.name ?? id}`}>
      <div className="panel-head">
        {worker && <WorkerBadge state={worker.state} />}
        <h2 className="mono" title={worker?.name ?? id}>{worker?.name ?? id}</h2>
        <button type="button" className="btn icon" onClick={onClose} aria-label="Close worker (Esc)" title="Close (Esc)">✕</button>
      </div>
      {worker && (
        <div className="panel-meta">
          <span className="chips">
            <span className="chip"><span className="chip-k">id</span>{worker.id}</span>
            <span className="chip"><span className="chip-k">activity</span>{worker.activity}</span>
            <span className="chip"><span className="chip-k">provider</span>{worker.provider}</span>
            <span className="chip"><span className="chip-k">tasks</span>{worker.tasks_done}</span>
          </span>
          <span className="muted">run <Link href={runHref(worker.run)} className="mono">{worker.run}</Link></span>
        </div>
      )}
      <div className="attempt-log">
        <div className="logtitle">
          <h3>Worker log</h3>
          <span className="muted small">init, every task, cleanup</span>
          <span className="spacer" />
          <button type="button" className="btn small" onClick={() => setReload((n) => n + 1)} title="Fetch the log again">Reload</button>
          <button type="button" className="btn small" onClick={raw}>Raw ↓</button>
        </div>
        {dlError && <ErrorBox>Download failed: {dlError}</ErrorBox>}
        {log.error && <ErrorBox>Could not load the log: {log.error}</ErrorBox>}
        <LogView buffer={log.buffer} version={log.version} label={`Log of worker ${id}`}
          placeholder={log.state === 'done' ? 'The log is empty.' : 'Loading…'} />
      </div>
    </aside>
  );
}

function groupWorkers(workers: readonly Worker[], activities: readonly Activity[], liveOnly: boolean): Group[] {
  const groups = new Map<string, Group>();
  for (const w of workers) {
    if (liveOnly && !isLive(w)) continue;
    const key = `${w.run}\u0000${w.activity}`;
    let g = groups.get(key);
    if (!g) {
      g = { run: w.run, activity: w.activity, workers: [], live: 0, info: activities.find((a) => a.run === w.run && a.name === w.activity) };
      groups.set(key, g);
    }
    g.workers.push(w);
    if (isLive(w)) g.live++;
  }
  const rank = (s: WorkerState): number => STATE_ORDER.indexOf(s);
  const newest = (g: Group): number => Math.max(...g.workers.map((w) => Date.parse(w.started_at) || 0));
  for (const g of groups.values()) {
    g.workers.sort((a, b) => rank(a.state) - rank(b.state) || a.started_at.localeCompare(b.started_at));
  }
  // Runs where work is happening first, then the most recent; a run's activities together.
  const runs = new Map<string, { live: number; newest: number }>();
  for (const g of groups.values()) {
    const r = runs.get(g.run) ?? { live: 0, newest: 0 };
    r.live += g.live;
    r.newest = Math.max(r.newest, newest(g));
    runs.set(g.run, r);
  }
  const runKey = (g: Group) => runs.get(g.run)!;
  return [...groups.values()].sort((a, b) =>
    (runKey(b).live > 0 ? 1 : 0) - (runKey(a).live > 0 ? 1 : 0)
    || runKey(b).newest - runKey(a).newest
    || a.run.localeCompare(b.run)
    || (b.live > 0 ? 1 : 0) - (a.live > 0 ? 1 : 0)
    || a.activity.localeCompare(b.activity));
}
