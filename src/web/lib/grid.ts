import type { Matrix, StepShape, Task } from './types.ts';

/**
 * The run page's matrix: one row per step, one column per combination of the matrix
 * values the steps fan over. A step over fewer axes has one task per group of columns
 * that agree on its axes, so its cell spans that group; a step over none spans all.
 */
export interface GridLayout {
  /** Column axes, outermost first. */
  axes: string[];
  columns: Matrix[];
  /** One header row per axis: its values, each spanning the columns that share it. */
  header: HeaderCell[][];
  rows: GridRow[];
}

export interface HeaderCell {
  label: string;
  span: number;
}

export interface GridRow {
  step: StepShape;
  cells: GridCell[];
  /** Tasks of this step placed in the grid. */
  tasks: string[];
}

/** A task id, or null for a gap (an excluded combination), over `span` columns from `start`. */
export interface GridCell {
  task: string | null;
  start: number;
  span: number;
}

const SEP = '\u0000';

export function layoutGrid(steps: readonly StepShape[], matrix: Record<string, readonly string[]>, tasks: readonly Task[]): GridLayout {
  const used = steps.filter((s) => s.over.length > 0);
  const axes = columnAxes(steps, matrix);
  const values = axisValues(axes, matrix, tasks);

  const byStep = new Map<string, Map<string, Task>>();
  for (const t of tasks) {
    let m = byStep.get(t.step);
    if (!m) byStep.set(t.step, (m = new Map()));
    const step = steps.find((s) => s.name === t.step);
    const key = keyOf(step?.over ?? [], t.matrix);
    if (!m.has(key)) m.set(key, t);
  }

  const all = product(axes, values);
  const columns = keepColumns(all, axes, steps, used, tasks);

  const header = axes.map((_, level) => headerRow(columns, axes, level));
  const rows = steps.map((step) => {
    const stepTasks = byStep.get(step.name) ?? new Map<string, Task>();
    const cells: GridCell[] = [];
    const placed: string[] = [];
    columns.forEach((col, i) => {
      const task = stepTasks.get(keyOf(step.over, col))?.id ?? null;
      const last = cells[cells.length - 1];
      if (last && last.task === task) last.span++;
      else {
        cells.push({ task, start: i, span: 1 });
        if (task !== null && !placed.includes(task)) placed.push(task);
      }
    });
    return { step, cells, tasks: placed };
  });
  return { axes, columns, header, rows };
}

/**
 * The axes any step fans over, outermost first. Axes more steps use go outside, so the
 * steps over fewer axes get contiguous spans; ties follow the widest step's `over`, then
 * the pipeline's matrix order.
 */
export function columnAxes(steps: readonly StepShape[], matrix: Record<string, readonly string[]>): string[] {
  const widest = steps.reduce<StepShape | undefined>((w, s) => (!w || s.over.length > w.over.length ? s : w), undefined);
  const uses = new Map<string, number>();
  for (const s of steps) for (const a of s.over) uses.set(a, (uses.get(a) ?? 0) + 1);
  const matrixOrder = Object.keys(matrix);
  const rank = (a: string, order: readonly string[]): number => {
    const i = order.indexOf(a);
    return i < 0 ? Number.MAX_SAFE_INTEGER : i;
  };
  return [...uses.keys()].sort((a, b) =>
    (uses.get(b)! - uses.get(a)!)
    || (rank(a, widest?.over ?? []) - rank(b, widest?.over ?? []))
    || (rank(a, matrixOrder) - rank(b, matrixOrder))
    || a.localeCompare(b));
}

/** The matrix's values, plus any a task has that the matrix lacks (`--set` may add values). */
function axisValues(axes: readonly string[], matrix: Record<string, readonly string[]>, tasks: readonly Task[]): string[][] {
  return axes.map((a) => {
    const vs = [...(matrix[a] ?? [])];
    for (const t of tasks) {
      const v = t.matrix[a];
      if (v !== undefined && !vs.includes(v)) vs.push(v);
    }
    return vs;
  });
}

function product(axes: readonly string[], values: readonly string[][]): Matrix[] {
  let out: Matrix[] = [{}];
  axes.forEach((a, i) => {
    const next: Matrix[] = [];
    for (const m of out) for (const v of values[i]!) next.push({ ...m, [a]: v });
    out = next;
  });
  return out;
}

/**
 * Drops combinations no step runs (an `exclude`, or values a manual run did not pick).
 * The steps over every column axis decide; a task they leave without a column (a narrower
 * step's value whose every full combination is excluded) brings its combinations back.
 */
function keepColumns(all: Matrix[], axes: readonly string[], steps: readonly StepShape[], used: readonly StepShape[], tasks: readonly Task[]): Matrix[] {
  if (tasks.length === 0 || axes.length === 0) return all;
  const full = new Set(steps.filter((s) => axes.every((a) => s.over.includes(a))).map((s) => s.name));
  const overOf = new Map(used.map((s) => [s.name, s.over]));
  const keep = new Set<number>();
  const placed = new Set<Task>();
  const anyFull = tasks.some((t) => full.has(t.step));
  all.forEach((col, i) => {
    for (const t of tasks) {
      const over = overOf.get(t.step);
      if (!over || (anyFull && !full.has(t.step))) continue;
      if (matches(over, t.matrix, col)) { keep.add(i); placed.add(t); }
    }
  });
  for (const t of tasks) {
    const over = overOf.get(t.step);
    if (!over || placed.has(t)) continue;
    if (all.some((col, i) => keep.has(i) && matches(over, t.matrix, col))) continue;
    all.forEach((col, i) => { if (matches(over, t.matrix, col)) keep.add(i); });
  }
  return all.filter((_, i) => keep.has(i));
}

function headerRow(columns: readonly Matrix[], axes: readonly string[], level: number): HeaderCell[] {
  const cells: HeaderCell[] = [];
  let prev: string | undefined;
  for (const col of columns) {
    const key = axes.slice(0, level + 1).map((a) => col[a]).join(SEP);
    const last = cells[cells.length - 1];
    if (last && key === prev) last.span++;
    else cells.push({ label: col[axes[level]!] ?? '', span: 1 });
    prev = key;
  }
  return cells;
}

function matches(over: readonly string[], values: Matrix, col: Matrix): boolean {
  return over.every((a) => values[a] === col[a]);
}

function keyOf(over: readonly string[], values: Matrix): string {
  return over.map((a) => values[a] ?? '').join(SEP);
}
