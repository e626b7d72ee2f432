import { useCallback, useEffect, useRef, useState, type FormEvent, type MouseEvent } from 'react';
import { api, errorMessage, isAbort } from '../net/api.ts';
import type { Run, RunEvent } from '../lib/types.ts';
import { href, runHref } from '../lib/route.ts';
import { finished, total } from '../lib/status.ts';
import { Link, navigate } from '../ui/navigation.tsx';
import { useRunEvents } from '../ui/use-stream.ts';
import { CountsBar, Duration, Empty, ErrorBox, LiveDot, Mono, RelTime, StatusBadge } from '../ui/bits.tsx';
import { RunSourceText } from '../ui/run-source.tsx';

const STATUSES = ['', 'running', 'failed', 'succeeded', 'cancelled'];
const PAGE = 50;
/** A busy run sends many events a second; its row is refetched at most this often. */
const ROW_REFRESH_MS = 1000;

export function RunsPage({ status, pipeline, revision, branch }: { status: string; pipeline: string; revision: string; branch: string }) {
  const [runs, setRuns] = useState<Run[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [loadingMore, setLoadingMore] = useState(false);
  const [pipelineText, setPipelineText] = useState(pipeline);
  const pending = useRef(new Map<string, number>());
  const filters = useRef({ status, pipeline, revision, branch });
  filters.current = { status, pipeline, revision, branch };
  // Every link and reload keeps the revision and branch filters with the others.
  const here = (change: { status?: string; pipeline?: string }) => href({ page: 'runs', status, pipeline, revision, branch, ...change });

  const loadFirst = useCallback((signal?: AbortSignal) => {
    api.runs({ status, pipeline, revision, branch, limit: PAGE }, signal).then(
      (page) => { setRuns(page.runs); setNext(page.next); setError(null); },
      (e: unknown) => { if (!isAbort(e)) setError(errorMessage(e)); },
    );
  }, [status, pipeline, revision, branch]);

  useEffect(() => {
    const abort = new AbortController();
    setRuns(null);
    setPipelineText(pipeline);
    loadFirst(abort.signal);
    return () => abort.abort();
  }, [loadFirst, pipeline]);

  useEffect(() => {
    const timers = pending.current;
    return () => { for (const t of timers.values()) window.clearTimeout(t); timers.clear(); };
  }, []);

  const refreshRow = useCallback((id: string, isNew: boolean) => {
    if (pending.current.has(id)) return;
    pending.current.set(id, window.setTimeout(() => {
      pending.current.delete(id);
      api.run(id).then(({ run }) => {
        const f = filters.current;
        const wanted = (!f.status || run.status === f.status) && (!f.pipeline || run.pipeline === f.pipeline)
          && (!f.revision || (run.source.revision ?? '').startsWith(f.revision)) && (!f.branch || run.source.branch === f.branch);
        setRuns((rows) => {
          if (!rows) return rows;
          const i = rows.findIndex((r) => r.id === run.id);
          if (i >= 0) {
            const out = rows.slice();
            out[i] = run;
            return out;
          }
          return isNew && wanted ? [run, ...rows] : rows;
        });
      }, () => {});
    }, isNew ? 0 : ROW_REFRESH_MS));
  }, []);

  const rowsRef = useRef(runs);
  rowsRef.current = runs;
  const onEvent = useCallback((e: RunEvent) => {
    const known = rowsRef.current?.some((r) => r.id === e.run) ?? false;
    if (known) refreshRow(e.run, false);
    else if (e.kind === 'run.started') refreshRow(e.run, true);
  }, [refreshRow]);

  // After a reconnect, events may have been missed: start over from the first page.
  const opens = useRef(0);
  const onOpen = useCallback(() => {
    if (opens.current++ > 0) loadFirst();
  }, [loadFirst]);
  const live = useRunEvents(api.events(), onEvent, onOpen);

  const loadMore = (): void => {
    if (!next) return;
    setLoadingMore(true);
    api.runs({ status, pipeline, revision, branch, before: next, limit: PAGE }).then(
      (page) => {
        setRuns((rows) => [...(rows ?? []), ...page.runs.filter((r) => !rows?.some((x) => x.id === r.id))]);
        setNext(page.next);
      },
      (e: unknown) => setError(errorMessage(e)),
    ).finally(() => setLoadingMore(false));
  };

  const submitPipeline = (e: FormEvent): void => {
    e.preventDefault();
    navigate(here({ pipeline: pipelineText.trim() }));
  };

  const pipelines = [...new Set((runs ?? []).map((r) => r.pipeline))].sort();

  return (
    <div className="runs-page">
      <div className="pagehead">
        <h1>Runs</h1>
        <form className="filters" onSubmit={submitPipeline} role="search">
          <div className="seg-control" role="group" aria-label="Filter by status">
            {STATUSES.map((s) => (
              <Link
                key={s || 'all'}
                href={here({ status: s })}
                className={`seg-item${s === status ? ' on' : ''}`}
                aria-current={s === status ? 'true' : undefined}
                replace
              >
                {s === '' ? 'All' : s}
              </Link>
            ))}
          </div>
          <input
            type="search"
            list="pipelines"
            placeholder="Pipeline"
            aria-label="Filter by pipeline (Enter)"
            value={pipelineText}
            onChange={(e) => {
              setPipelineText(e.target.value);
              if (e.target.value === '' && pipeline !== '') navigate(here({ pipeline: '' }), { replace: true });
            }}
          />
          <datalist id="pipelines">{pipelines.map((p) => <option key={p} value={p} />)}</datalist>
          {(revision || branch) && (
            <span className="chips" aria-label="Source filters">
              {revision && <Link className="chip" href={href({ page: 'runs', status, pipeline, branch })} title="Show every revision" replace><span className="chip-k">revision</span><Mono>{revision.slice(0, 12)}</Mono> ×</Link>}
              {branch && <Link className="chip" href={href({ page: 'runs', status, pipeline, revision })} title="Show every branch" replace><span className="chip-k">branch</span>{branch} ×</Link>}
            </span>
          )}
        </form>
        <span className="spacer" />
        <LiveDot state={live} />
      </div>
      {error && <ErrorBox>Could not load runs: {error}</ErrorBox>}
      {runs === null && !error && <Empty>Loading runs…</Empty>}
      {runs !== null && runs.length === 0 && (
        <Empty>{status || pipeline || revision || branch ? 'No runs match these filters.' : 'No runs yet. Start one with slipway run or the API.'}</Empty>
      )}
      {runs !== null && runs.length > 0 && (
        <table className="table runs">
          <thead>
            <tr>
              <th className="c-status">Status</th>
              <th className="c-pipe">Pipeline</th>
              <th className="c-run">Run</th>
              <th className="c-source">Source</th>
              <th className="c-started">Started</th>
              <th className="r c-dur">Duration</th>
              <th className="c-tasks">Tasks</th>
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => <RunRow key={r.id} run={r} pipelineHref={here({ pipeline: r.pipeline })} />)}
          </tbody>
        </table>
      )}
      {next && (
        <div className="more">
          <button type="button" className="btn" onClick={loadMore} disabled={loadingMore}>
            {loadingMore ? 'Loading…' : 'Load more'}
          </button>
        </div>
      )}
    </div>
  );
}

function RunRow({ run, pipelineHref }: { run: Run; pipelineHref: string }) {
  const n = total(run.counts);
  const target = runHref(run.id);
  // The whole row opens the run; the id stays a real link for keyboards and new tabs.
  const open = (e: MouseEvent): void => {
    if ((e.target as HTMLElement).closest('a, button')) return;
    if (window.getSelection()?.toString()) return;
    navigate(target);
  };
  return (
    <tr className="clickable" onClick={open}>
      <td className="c-status"><StatusBadge status={run.status} /></td>
      <td><Link className="pipeline-link" href={pipelineHref} title={`Only ${run.pipeline}`}>{run.pipeline}</Link></td>
      <td><Link href={target}><Mono>{run.id}</Mono></Link></td>
      <td className="c-source"><RunSourceText source={run.source} /></td>
      <td><RelTime iso={run.started_at} /></td>
      <td className="r"><Duration start={run.started_at} end={run.finished_at} /></td>
      <td className="c-tasks">
        <CountsBar counts={run.counts} />
        <span className="num muted">{finished(run.counts)}/{n}</span>
        {(run.counts.failed ?? 0) > 0 && <span className="bad num">{run.counts.failed} failed</span>}
      </td>
    </tr>
  );
}
