/** A pipeline's tasks: each step at each combination of its axes, and what each waits for. */
import { MAX_TASKS } from './limits.ts';
import { reservedAxis } from './reserved-axes.ts';
import type { Pipeline, Selection, Step, TaskSpec } from './types.ts';
import { didYouMean } from './suggest.ts';

/**
 * A manual selection that names unknown steps, axes or values, or selects nothing. `field`
 * is the selection field the message starts with, when it starts with one, so the CLI can
 * name its flag (`--exclude`) where the API names its field (`exclude`).
 */
export class SelectionError extends Error {
  readonly field: 'exclude' | undefined;
  constructor(message: string, field?: 'exclude') {
    super(message);
    this.name = 'SelectionError';
    this.field = field;
  }
}

/**
 * Tasks in step order, then combination order (the first axis of `over` slowest). A task
 * needs the tasks of each needed step that agree with it on the axes both fan out over;
 * needed steps outside the selection count as done, and so do needed tasks whose values
 * the selection excludes.
 */
export function expandTasks(pipeline: Pipeline, selection: Selection = {}): TaskSpec[] {
  const steps = selectSteps(pipeline, selection.only);
  const values = excludeValues(selectValues(pipeline, selection.set), selection.exclude);
  // Counted before the steps' exclude entries, like the loader's limit, so the check costs nothing.
  const total = steps.reduce((n, step) => n + step.over.reduce((m, axis) => m * (values.get(axis)?.length ?? 0), 1), 0);
  if (total > MAX_TASKS) throw new SelectionError(`the run would have ${total} tasks; at most ${MAX_TASKS} are allowed`);

  const tasksOf = new Map<string, TaskSpec[]>();
  for (const step of steps) {
    const tasks = combinations(step, values).map((matrix) => ({ key: taskKey(step, matrix), step: step.name, matrix, needs: [] }));
    checkKeysDiffer(tasks);
    tasksOf.set(step.name, tasks);
  }
  for (const step of steps) {
    for (const need of step.needs) {
      const needed = tasksOf.get(need);
      if (needed) link(tasksOf.get(step.name)!, step, needed, pipeline.steps[need]!);
    }
  }
  return steps.flatMap((step) => tasksOf.get(step.name)!);
}

function taskKey(step: Step, matrix: Record<string, string>): string {
  if (step.over.length === 0) return step.name;
  return `${step.name}[${step.over.map((axis) => `${axis}=${matrix[axis]}`).join(',')}]`;
}

/**
 * A task's id is its step and values as written (DESIGN), so values holding `,` and `=`
 * could give two tasks one id and make one stand for the other.
 */
function checkKeysDiffer(tasks: TaskSpec[]): void {
  const seen = new Map<string, TaskSpec>();
  for (const task of tasks) {
    const other = seen.get(task.key);
    if (other) {
      throw new SelectionError(
        `two tasks would have the id ${task.key} (${JSON.stringify(other.matrix)} and ${JSON.stringify(task.matrix)}); ` +
          "change the values so that ',' and '=' in them cannot be mistaken for the separators",
      );
    }
    seen.set(task.key, task);
  }
}

function selectSteps(pipeline: Pipeline, only: string[] | undefined): Step[] {
  const all = Object.values(pipeline.steps);
  if (only === undefined) return all;
  if (only.length === 0) throw new SelectionError('no steps selected');
  const unknown = only.filter((name) => !Object.hasOwn(pipeline.steps, name));
  if (unknown.length > 0) {
    const names = unknown.map((name) => `'${name}'`).join(', ');
    const known = Object.keys(pipeline.steps).join(', ');
    throw new SelectionError(`unknown step${unknown.length > 1 ? 's' : ''} ${names}; steps are: ${known}`);
  }
  const chosen = new Set(only);
  return all.filter((step) => chosen.has(step.name));
}

/** Each axis's values: the matrix's, or the selection's, which may name values the matrix lacks. */
function selectValues(pipeline: Pipeline, set: Record<string, string[]> | undefined): Map<string, string[]> {
  const values = new Map(Object.entries(pipeline.matrix));
  for (const [axis, chosen] of Object.entries(set ?? {})) {
    valuesOf(values, axis);
    if (chosen.length === 0) throw new SelectionError(`no values selected for axis '${axis}'`);
    // A value becomes an environment variable, which cannot hold NUL.
    if (chosen.some((value) => value.includes('\0'))) throw new SelectionError(`a value of axis '${axis}' holds a NUL character, which cannot be passed to a script`);
    values.set(axis, [...new Set(chosen)]);
  }
  return values;
}

/**
 * The values left once `exclude` removes some (after `set` chose them): each must be a value
 * the axis has, and at least one must stay, or the exclusion is surely a mistake.
 */
function excludeValues(values: Map<string, string[]>, exclude: Record<string, string[]> | undefined): Map<string, string[]> {
  for (const [axis, removed] of Object.entries(exclude ?? {})) {
    const error = (problem: string) => new SelectionError(`exclude ${axis}=${removed.join(',')}: ${problem}`, 'exclude');
    const known = valuesOf(values, axis, error);
    if (removed.length === 0) throw error(`no values to exclude from axis '${axis}'; its values are: ${known.join(', ')}`);
    const has = new Set(known);
    const unknown = removed.find((value) => !has.has(value));
    if (unknown !== undefined) throw error(`axis '${axis}' has no value '${unknown}'${didYouMean(unknown, known)}; its values are: ${known.join(', ')}`);
    const gone = new Set(removed);
    const kept = known.filter((value) => !gone.has(value));
    if (kept.length === 0) throw error(`every value of axis '${axis}' is excluded, which leaves no task of the steps over it`);
    values.set(axis, kept);
  }
  return values;
}

/** The values `axis` has in the selection so far; a reserved or unknown axis is an `error`. */
function valuesOf(
  values: Map<string, string[]>, axis: string, error = (problem: string) => new SelectionError(problem),
): string[] {
  const reserved = reservedAxis(axis);
  if (reserved) throw error(reserved);
  const known = values.get(axis);
  if (!known) throw error(`unknown axis '${axis}'${didYouMean(axis, values.keys())}; axes are: ${[...values.keys()].join(', ') || 'none'}`);
  return known;
}

/** Every combination of the step's axes not matched by an exclude entry, last axis fastest. */
function combinations(step: Step, values: Map<string, string[]>): Record<string, string>[] {
  const axes = step.over.map((axis) => values.get(axis) ?? []);
  const excluded = compileExcludes(step, axes);
  const out: Record<string, string>[] = [];
  if (axes.some((list) => list.length === 0)) return out;
  const at = axes.map(() => 0);
  for (;;) {
    if (!excluded.some((entry) => entry.every(([axis, index]) => at[axis] === index))) {
      out.push(Object.fromEntries(step.over.map((axis, i) => [axis, axes[i]![at[i]!]!])));
    }
    let i = at.length - 1;
    while (i >= 0 && ++at[i]! === axes[i]!.length) at[i--] = 0;
    if (i < 0) return out;
  }
}

/**
 * Exclude entries as (axis position, value index) pairs. An entry naming a value not
 * selected (or an axis the step does not fan over) matches nothing and is dropped.
 */
function compileExcludes(step: Step, axes: string[][]): [number, number][][] {
  return step.exclude.flatMap((entry) => {
    const pairs = Object.entries(entry).map(([axis, value]): [number, number] => {
      const position = step.over.indexOf(axis);
      return [position, position < 0 ? -1 : axes[position]!.indexOf(value)];
    });
    return pairs.some(([, index]) => index < 0) ? [] : [pairs];
  });
}

/** Adds to each task the needed tasks that agree with it on the shared axes. */
function link(tasks: TaskSpec[], step: Step, needed: TaskSpec[], neededStep: Step): void {
  const shared = step.over.filter((axis) => neededStep.over.includes(axis));
  const signature = (matrix: Record<string, string>) => JSON.stringify(shared.map((axis) => matrix[axis]));
  const index = new Map<string, string[]>();
  for (const task of needed) {
    const key = signature(task.matrix);
    const keys = index.get(key);
    if (keys) keys.push(task.key);
    else index.set(key, [task.key]);
  }
  for (const task of tasks) {
    for (const key of index.get(signature(task.matrix)) ?? []) task.needs.push(key);
  }
}
