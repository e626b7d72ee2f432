import { memo, useLayoutEffect, useRef, useState, type KeyboardEvent } from 'react';
import type { GridLayout } from '../lib/grid.ts';
import type { Task } from '../lib/types.ts';
import { elapsed, formatDuration, plural } from '../lib/format.ts';
import { FINAL_TASK_STATUSES } from '../lib/types.ts';
import { statusGlyph } from './bits.tsx';
import { useNow } from './clock.ts';

interface Props {
  layout: GridLayout;
  tasks: ReadonlyMap<string, Task>;
  selected: string | null;
  onSelect: (task: string) => void;
}

/**
 * Steps down, matrix combinations across. Cells are buttons (Tab reaches the grid, the
 * arrow keys move within it); a cell spanning several columns is one task shared by them.
 */
export function MatrixGrid({ layout, tasks, selected, onSelect }: Props) {
  const onKey = (e: KeyboardEvent<HTMLTableElement>): void => {
    const target = e.target as HTMLElement;
    const cell = target.closest<HTMLElement>('[data-start]');
    if (!cell) return;
    const row = Number(cell.dataset.row);
    const start = Number(cell.dataset.start);
    const table = e.currentTarget;
    let next: HTMLElement | null | undefined = null;
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const inRow = [...table.querySelectorAll<HTMLElement>(`button[data-row="${row}"]`)];
      const i = inRow.indexOf(cell);
      next = inRow[e.key === 'ArrowRight' ? i + 1 : i - 1];
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      // The cell below covering the same column, skipping rows with nothing there.
      const step = e.key === 'ArrowDown' ? 1 : -1;
      for (let r = row + step; r >= 0 && r < layout.rows.length && !next; r += step) {
        next = [...table.querySelectorAll<HTMLElement>(`button[data-row="${r}"]`)].find((b) => {
          const s = Number(b.dataset.start);
          return s <= start && start < s + Number(b.dataset.span);
        });
      }
    } else {
      return;
    }
    if (next) {
      e.preventDefault();
      next.focus();
    }
  };

  // When the labelled layout would not fit, cells drop their text and the innermost
  // header turns vertical: every cell stays on screen, and its tooltip still says it all.
  const wrap = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(1200);
  useLayoutEffect(() => {
    const el = wrap.current;
    if (!el) return;
    setWidth(el.clientWidth);
    const ro = new ResizeObserver(() => setWidth(el.clientWidth));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);
  const compact = STEP_COLUMN + layout.columns.length * LABELLED_COLUMN > width;
  const last = layout.axes.length - 1;
  return (
    <div className="grid-wrap" ref={wrap}>
      <table className={`mgrid${compact ? ' compact' : ''}`} onKeyDown={onKey}>
        {layout.axes.length > 0 && (
          <thead>
            {layout.header.map((row, level) => (
              <tr key={layout.axes[level]}>
                <th className="axis" scope="row">{layout.axes[level]}</th>
                {row.map((h, i) => (
                  <th key={i} colSpan={h.span} className={`axis-value${compact && level === last && h.span === 1 ? ' rot' : ''}`}
                    title={`${layout.axes[level]}=${h.label}`}>{compact && level === last && h.span === 1 ? <span>{h.label}</span> : h.label}</th>
                ))}
              </tr>
            ))}
          </thead>
        )}
        <tbody>
          {layout.rows.map((row, r) => (
            <tr key={row.step.name}>
              <th scope="row" className="stepname">
                <span className="stepname-text" title={`${row.step.name} · activity ${row.step.activity}${row.step.over.length ? ` · over ${row.step.over.join(', ')}` : ''}`}>{row.step.name}</span>
                <StepProgress ids={row.tasks} tasks={tasks} />
              </th>
              {row.tasks.length === 0 ? (
                <td colSpan={Math.max(1, layout.columns.length)} className="gap none">not in this run</td>
              ) : row.cells.map((c) => {
                const task = c.task === null ? undefined : tasks.get(c.task);
                if (!task) return <td key={c.start} colSpan={c.span} className="gap" title="excluded" />;
                return (
                  <td key={c.start} colSpan={c.span}>
                    <Cell task={task} row={r} start={c.start} span={c.span} selected={task.id === selected} onSelect={onSelect} />
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Widths the labelled layout needs (see the stylesheet's .mgrid). */
const STEP_COLUMN = 170;
const LABELLED_COLUMN = 88;

function StepProgress({ ids, tasks }: { ids: string[]; tasks: ReadonlyMap<string, Task> }) {
  let done = 0;
  let bad = 0;
  for (const id of ids) {
    const t = tasks.get(id);
    if (!t) continue;
    if (FINAL_TASK_STATUSES.has(t.status)) done++;
    if (t.status === 'failed' || t.status === 'blocked') bad++;
  }
  return <span className={`stepcount num${bad ? ' bad' : ''}`}>{done}/{ids.length}</span>;
}

const Cell = memo(function Cell({ task, row, start, span, selected, onSelect }: {
  task: Task; row: number; start: number; span: number; selected: boolean; onSelect: (id: string) => void;
}) {
  const last = task.attempts[task.attempts.length - 1];
  const running = task.status === 'running' && last !== undefined && last.finished_at === null;
  const tip = `${task.id}\n${task.status} · ${plural(task.attempts.length, 'attempt')}`
    + (last?.worker_name ? `\nworker ${last.worker_name}` : '')
    + (last?.error && task.status !== 'succeeded' ? `\n${last.error}` : '');
  return (
    <button
      type="button"
      className={`cell s-${task.status}${selected ? ' selected' : ''}`}
      title={tip}
      aria-label={`${task.id}: ${task.status}`}
      aria-pressed={selected}
      data-row={row}
      data-start={start}
      data-span={span}
      onClick={() => onSelect(task.id)}
    >
      <span className="cell-glyph" aria-hidden>{statusGlyph(task.status)}</span>
      {running ? <LiveElapsed since={last.started_at} />
        : last?.finished_at ? <span className="cell-text num">{formatDuration(elapsed(last.started_at, last.finished_at, 0))}</span>
        : <span className="cell-text">{task.status}</span>}
      {task.attempts.length > 1 && <span className="cell-tries num">×{task.attempts.length}</span>}
    </button>
  );
});

function LiveElapsed({ since }: { since: string }) {
  const now = useNow();
  return <span className="cell-text num">{formatDuration(elapsed(since, null, now))}</span>;
}
