import { useState } from 'react';
import type { RunDetail, Task } from '../lib/types.ts';
import { plural } from '../lib/format.ts';

/** Beyond this many, the list folds: the grid below must stay in sight. */
const SHOWN = 5;

/**
 * Why the run failed, first thing on the page: every task that failed for good, with
 * where it ran, what it said and the last lines it printed. The grid below shows the same
 * tasks in context.
 */
export function FailureSummary({ detail, tasks, selected, onSelect }: {
  detail: RunDetail;
  tasks: ReadonlyMap<string, Task>;
  selected: string | null;
  onSelect: (task: string) => void;
}) {
  const blocked = detail.run.counts.blocked ?? 0;
  const [all, setAll] = useState(false);
  const shown = all ? detail.failures : detail.failures.slice(0, SHOWN);
  return (
    <section className="failures" aria-label="Failures">
      <h2>
        {plural(detail.failures.length, 'failed task')}
        {blocked > 0 && <span className="muted"> · {plural(blocked, 'task')} blocked behind {detail.failures.length === 1 ? 'it' : 'them'}</span>}
      </h2>
      <ul>
        {shown.map((f) => {
          const attempts = tasks.get(f.task)?.attempts ?? [];
          const byWorker = [...attempts].reverse().find((a) => a.worker === f.worker);
          return (
            <li key={f.task}>
              <button type="button" className={`failure${selected === f.task ? ' selected' : ''}`} onClick={() => onSelect(f.task)}>
                <span className="failure-top">
                  <span className="failure-task mono">{f.step}</span>
                  <span className="chips">
                    {Object.entries(f.matrix).map(([k, v]) => (
                      <span key={k} className="chip"><span className="chip-k">{k}</span>{v}</span>
                    ))}
                  </span>
                </span>
                <span className="failure-bottom">
                  <span className="failure-error mono" title={f.error}>{f.error}</span>
                  {f.worker && (
                    <span className="failure-worker mono" title={`worker ${f.worker}`}>on {byWorker?.worker_name ?? f.worker}</span>
                  )}
                  <span className="failure-attempts muted num">{plural(attempts.length, 'attempt')}</span>
                </span>
                {f.log_tail && <span className="failure-output mono" aria-label="its last output">{f.log_tail}</span>}
              </button>
            </li>
          );
        })}
      </ul>
      {detail.failures.length > SHOWN && (
        <button type="button" className="btn small failures-more" onClick={() => setAll(!all)}>
          {all ? 'Show fewer' : `Show all ${detail.failures.length}`}
        </button>
      )}
    </section>
  );
}
