import { useCallback, useEffect, useMemo, useRef, useState, type MouseEvent } from 'react';
import { api, errorMessage, isAbort } from '../net/api.ts';
import { downloadWithToken } from '../net/download.ts';
import type { Pool, RunEvent, Worker, WorkerState } from '../lib/types.ts';
import { applyWorkerEvent, isLive, touchesWorkers } from '../lib/worker-events.ts';
import { href, runHref } from '../lib/route.ts';
import { absoluteTime, plural } from '../lib/format.ts';
import { formatUsd } from '../../util/money.ts';
import { Link, navigate } from '../ui/navigation.tsx';
import { useRunEvents } from '../ui/use-stream.ts';
import { Duration, Empty, ErrorBox, LiveDot, RelTime, WorkerBadge } from '../ui/bits.tsx';
import { LogView } from '../ui/log-view.tsx';
import { useFetchedLog } from '../ui/use-log.ts';

/** Worker events come in bursts (a pool starting); the list is refetched once after one. */
const REFETCH_DELAY_MS = 800;

const STATE_ORDER: readonly WorkerState[] = ['busy', 'idle', 'starting', 'draining', 'lost', 'failed', 'stopped'];

interface Group {
  /** The pool's id; a worker only an event has told of yet has none. */
  pool: string | null;
  activity: string;
  provider: string;
  workers: Worker[];
  info: Pool | undefined;
  live: number;
}

export function WorkersPage({ run, worker }: { run: string; worker: string | null }) {
  const [workers, setWorkers] = useState<readonly Worker[] | null>(null);
  const [pools, setPools] = useState<Pool[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [liveOnly, setLiveOnly] = useState(false);

  const load = useCallback((signal?: AbortSignal) => {
    Promise.all([api.workers(run ? { run } : {}, signal), api.pools(signal)]).then(
      ([w, p]) => { setWorkers(w.workers); setPools(p.pools); setError(null); },
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

  const groups = useMemo(() => groupWorkers(workers ?? [], pools, liveOnly, run), [workers, pools, liveOnly, run]);
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
                <th className="c-machine opt">Machine</th>
                <th className="c-current">Task</th>
                <th className="c-up r">Age</th>
                <th className="c-tasks r">Tasks</th>
                <th className="c-cost r">Cost</th>
                <th className="c-id opt">Id</th>
                <th className="c-reason opt">Stop reason</th>
              </tr>
            </thead>
            {groups.map((g) => (
              <tbody key={g.pool ?? ''} aria-label={g.pool ? `Pool ${g.pool}` : 'Workers starting'}>
                <tr className="wgroup">
                  <th colSpan={COLUMNS} scope="rowgroup">
                    <PoolHeading g={g} />
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

const COLUMNS = 10;

/** A pool's heading: its activity and id, provider, the runs it serves now, live workers of its cap, and its queue. */
function PoolHeading({ g }: { g: Group }) {
  if (g.pool === null) return <span className="wgroup-act mono">starting…</span>;
  const info = g.info;
  return (
    <>
      <span className="wgroup-act mono">{g.activity}</span>
      <span className="wgroup-pool mono muted" title="The pool: workers of every run whose activity is alike">{g.pool}</span>
      <span className="muted">
        {g.provider}
        {info ? ` · ${info.live}/${info.max_workers} live · ${info.queued} queued` : ` · ${g.live} live`}
        {' · '}
        {info && info.runs.length > 0 ? (
          <>
            {info.runs.length === 1 ? 'run ' : 'runs '}
            {info.runs.map((r, i) => (
              <span key={r}>{i > 0 && ', '}<Link href={runHref(r)} className="mono">{r}</Link></span>
            ))}
          </>
        ) : 'no running run'}
      </span>
    </>
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
      <td className="c-machine opt mono small" title={w.machine ?? undefined}>{w.machine ?? <span className="muted">{w.provider === 'manual' ? 'by hand' : '—'}</span>}</td>
      <td className="c-current"><CurrentTask w={w} /></td>
      <td className="c-up r" title={`started ${absoluteTime(w.started_at)}`}><Duration start={w.started_at} end={w.stopped_at} /></td>
      <td className="c-tasks r num">{w.tasks_done}</td>
      <td className="c-cost r num" title={w.hourly_usd === null ? 'no price known' : `${formatUsd(w.hourly_usd)}/h, as billed`}>
        {w.cost_usd === null ? <span className="muted">—</span> : formatUsd(w.cost_usd)}
      </td>
      <td className="c-id opt mono muted small">{w.id}</td>
      <td className="c-reason opt muted" title={w.stop_reason ?? undefined}>{w.stop_reason ?? ''}</td>
    </tr>
  );
}

/** The task a worker has in hand, linked to its run's page; a dash when it has none. */
function CurrentTask({ w }: { w: Worker }) {
  const c = w.current;
  if (!c) return <span className="muted">—</span>;
  return (
    <span className="wtask" title={`${c.kind === 'check' ? 'checking' : 'running'} ${c.task} of run ${c.run}, attempt ${c.number}, since ${absoluteTime(c.since)}`}>
      {c.kind === 'check' && <span className="muted">check </span>}
      <Link href={runHref(c.run, c.task)} className="mono">{c.task}</Link>
      <span className="muted small"> in <Link href={runHref(c.run)} className="mono">{c.run}</Link></span>
    </span>
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
            {worker.pool && <span className="chip"><span className="chip-k">pool</span>{worker.pool}</span>}
            <span className="chip"><span className="chip-k">provider</span>{worker.provider}</span>
            {worker.machine && <span className="chip"><span className="chip-k">machine</span>{worker.machine}</span>}
            <span className="chip"><span className="chip-k">tasks</span>{worker.tasks_done}</span>
            {worker.cost_usd !== null && <span className="chip"><span className="chip-k">cost</span>{formatUsd(worker.cost_usd)}</span>}
          </span>
          {worker.current && <span>on <CurrentTask w={worker} /></span>}
          <span className="muted">started for run <Link href={runHref(worker.run)} className="mono">{worker.run}</Link></span>
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

/**
 * Workers by the pool they serve, and the pools that have work queued but no worker shown
 * (filtered to one run, those that serve it). Pools at work come first, then the newest.
 */
function groupWorkers(workers: readonly Worker[], pools: readonly Pool[], liveOnly: boolean, run: string): Group[] {
  const groups = new Map<string | null, Group>();
  const info = new Map(pools.map((p) => [p.id, p]));
  for (const w of workers) {
    if (liveOnly && !isLive(w)) continue;
    let g = groups.get(w.pool);
    if (!g) {
      const pool = w.pool === null ? undefined : info.get(w.pool);
      g = { pool: w.pool, activity: pool?.activity ?? w.activity, provider: pool?.provider ?? w.provider, workers: [], live: 0, info: pool };
      groups.set(w.pool, g);
    }
    g.workers.push(w);
    if (isLive(w)) g.live++;
  }
  for (const p of pools) {
    if (groups.has(p.id) || p.queued === 0 || (run !== '' && !p.runs.includes(run))) continue;
    groups.set(p.id, { pool: p.id, activity: p.activity, provider: p.provider, workers: [], live: 0, info: p });
  }
  const rank = (s: WorkerState): number => STATE_ORDER.indexOf(s);
  for (const g of groups.values()) {
    g.workers.sort((a, b) => rank(a.state) - rank(b.state) || a.started_at.localeCompare(b.started_at));
  }
  const newest = (g: Group): number => Math.max(0, ...g.workers.map((w) => Date.parse(w.started_at) || 0));
  const busy = (g: Group): number => (g.live > 0 || (g.info?.queued ?? 0) > 0 ? 1 : 0);
  return [...groups.values()].sort((a, b) =>
    busy(b) - busy(a)
    || newest(b) - newest(a)
    || (a.pool ?? '').localeCompare(b.pool ?? ''));
}
