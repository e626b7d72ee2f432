/**
 * The mistakes that need the whole file in view: references between steps, activities
 * and axes, `needs` cycles, script files, and how many tasks the matrix expands to. Works
 * on every part of the file that has the right shape, so that one pass reports the shape
 * mistakes (issues.ts) and these together.
 */
import type { z } from 'zod';
import { CONTROL_ACTIVITY } from './assemble.ts';
import { parseCacheKey } from './cache-key.ts';
import { findCycles } from './cycles.ts';
import type { Diagnostics } from './diagnostics.ts';
import { MAX_TASKS } from './limits.ts';
import type { Path } from './positions.ts';
import { activitySchema, axisValuesSchema, excludeEntrySchema, MACHINE_KEYS, stepSchema, type StepDoc } from './schema.ts';
import { scriptFileProblem, toScript } from './scripts.ts';
import { didYouMean } from './suggest.ts';
import type { PipelineRules } from './types.ts';
import { axisVariable, reservedVariable } from './variables.ts';

interface Context {
  report: Diagnostics;
  sourceDir: string;
  /** Undefined when the section itself is malformed: references to it are not checked then. */
  axes: Map<string, Set<string> | undefined> | undefined;
  activities: Set<string> | undefined;
  userActivities: string[];
  steps: Set<string>;
  rules: PipelineRules;
}

export function checkPipeline(data: unknown, report: Diagnostics, sourceDir: string, rules: PipelineRules = {}): void {
  const root = asRecord(data);
  const steps = asRecord(root?.steps);
  if (!root || !steps) return;
  const userActivities = root.activities === undefined ? {} : asRecord(root.activities);
  const context: Context = {
    report,
    sourceDir,
    axes: checkMatrix(root.matrix, report),
    activities: userActivities && new Set([...Object.keys(userActivities), CONTROL_ACTIVITY.name]),
    userActivities: Object.keys(userActivities ?? {}),
    steps: new Set(Object.keys(steps)),
    rules,
  };
  for (const [name, raw] of Object.entries(userActivities ?? {})) checkActivity(name, raw, context);

  const needs = new Map<string, (string | undefined)[]>();
  let tasks = 0;
  /** The step that takes the count past the limit: where the message points. */
  let overflow: { at: Path; hasOver: boolean } | undefined;
  for (const [name, raw] of Object.entries(steps)) {
    if (report.full) return;
    const step = fields(stepSchema, raw);
    const written = asRecord(raw) ?? {};
    const at: Path = ['steps', name];
    checkStepActivity(step, Object.hasOwn(written, 'activity'), at, context);
    // Lists are checked item by item, so one malformed item does not hide the others.
    const over = strings(written.over);
    checkOver(over, at, context);
    checkExclude(written.exclude, over, at, context);
    checkCacheAxes(written.cache, over, at, context);
    needs.set(name, checkNeeds(strings(written.needs), at, context));
    checkScript(step.run, [...at, 'run'], context);
    checkDoneIf(step.done_if, at, context);

    tasks += combinations(over, context.axes);
    if (tasks > MAX_TASKS && !overflow) overflow = { at, hasOver: Object.hasOwn(written, 'over') };
  }
  if (overflow) {
    const message =
      `the pipeline expands to ${count(tasks)} tasks (counted before exclude); ` +
      `at most ${count(MAX_TASKS)} are allowed`;
    if (overflow.hasOver) report.value([...overflow.at, 'over'], message);
    else report.key(overflow.at, message);
  }
  for (const { step, index, cycle } of findCycles(needs)) {
    report.value(['steps', step, 'needs', index], `needs cycle: ${cycle.join(' -> ')}`);
  }
}

/** Axis names (values too when well-formed); undefined when `matrix` is not a mapping. */
function checkMatrix(raw: unknown, report: Diagnostics): Context['axes'] {
  const matrix = raw === undefined ? {} : asRecord(raw);
  if (!matrix) return undefined;
  const axes: Context['axes'] = new Map();
  const variables = new Map<string, string>();
  for (const [axis, rawValues] of Object.entries(matrix)) {
    const values = axisValuesSchema.safeParse(rawValues).data;
    axes.set(axis, values && new Set(values));
    for (const i of repeats(values ?? [])) {
      report.value(['matrix', axis, i], `duplicate value ${JSON.stringify(values![i])}`);
    }
    const variable = axisVariable(axis);
    const clash = variables.get(variable);
    const reserved = reservedVariable(variable);
    if (clash !== undefined) {
      report.key(['matrix', axis], `axes '${clash}' and '${axis}' would both set the variable ${variable}`);
    } else if (reserved) {
      report.key(['matrix', axis], `axis '${axis}' would set ${variable}, ${reserved}`);
    } else if (/^[0-9]/.test(variable)) {
      report.key(['matrix', axis], `axis '${axis}' would set ${variable}, which shells cannot read; start it with a letter`);
    }
    variables.set(variable, axis);
  }
  return axes;
}

function checkActivity(name: string, raw: unknown, context: Context): void {
  const at: Path = ['activities', name];
  if (name === CONTROL_ACTIVITY.name) context.report.key(at, `activity name '${name}' is built in`);
  const activity = fields(activitySchema, raw);
  const written = asRecord(raw);
  if (written && Object.hasOwn(written, 'pool')) {
    checkPoolActivity(written, activity.pool, at, context);
    return;
  }
  const { pools, mayDefinePools } = context.rules;
  if (mayDefinePools === false && written) {
    const known = pools === 'unchecked' || pools === undefined ? [] : Object.keys(pools);
    context.report.key(
      at,
      `activity '${name}' defines its own machines, which this server does not allow: ` +
        `name one of the operator's pools instead (pool: NAME; ${known.length > 0 ? `defined: ${known.join(', ')}` : 'none is defined'})`,
    );
  }
  checkScript(activity.prepare, [...at, 'prepare'], context);
  checkScript(activity.init, [...at, 'init'], context);
  checkScript(activity.cleanup, [...at, 'cleanup'], context);
}

/** An activity that names an operator's pool: the name must be one, and nothing may be written beside it. */
function checkPoolActivity(written: Record<string, unknown>, pool: string | undefined, at: Path, { report, rules }: Context): void {
  for (const key of MACHINE_KEYS) {
    if (Object.hasOwn(written, key)) {
      report.key([...at, key], `'${key}' cannot be written beside 'pool': the pool defines ${MACHINE_KEYS.join(', ')}`, at);
    }
  }
  const pools = rules.pools ?? {};
  if (pool === undefined || pools === 'unchecked' || Object.hasOwn(pools, pool)) return;
  const known = Object.keys(pools);
  report.value(
    [...at, 'pool'],
    `unknown pool '${pool}'${didYouMean(pool, known)}; ` +
      (known.length > 0 ? `the config defines: ${known.join(', ')}` : 'the config defines none ([pools.NAME] tables)'),
  );
}

function checkStepActivity(step: Partial<StepDoc>, written: boolean, at: Path, context: Context): void {
  const { report, activities, userActivities } = context;
  if (!activities) return;
  if (step.activity !== undefined) {
    checkActivityRef(step.activity, [...at, 'activity'], context);
  } else if (!written && userActivities.length !== 1) {
    report.key(
      at,
      userActivities.length === 0
        ? "missing required key 'activity' (no activities are defined; add one under activities)"
        : `missing required key 'activity' (it may be left out only when one activity is defined; ` +
            `defined: ${userActivities.join(', ')})`,
    );
  }
}

function checkActivityRef(name: string, at: Path, { report, activities, rules }: Context): void {
  if (name === CONTROL_ACTIVITY.name && rules.mayDefinePools === false) report.value(at, controlRefusal);
  if (!activities || activities.has(name)) return;
  report.value(at, `unknown activity '${name}'${didYouMean(name, activities)}; defined: ${[...activities].join(', ')}`);
}

/** Why a server whose pipelines may not define pools refuses one that names `control`. */
export const controlRefusal =
  "'control' runs on the server's own host, which this server does not allow: name one of the operator's pools' activities instead";

function checkOver(over: (string | undefined)[], at: Path, { report, axes }: Context): void {
  const repeated = repeats(over);
  over.forEach((axis, i) => {
    if (axis === undefined) return;
    if (axes && !axes.has(axis)) report.value([...at, 'over', i], `unknown axis '${axis}'${didYouMean(axis, axes.keys())}`);
    else if (repeated.has(i)) report.value([...at, 'over', i], `axis '${axis}' is listed twice`);
  });
}

function checkExclude(raw: unknown, over: (string | undefined)[], at: Path, { report, axes }: Context): void {
  if (!axes || !Array.isArray(raw)) return;
  raw.forEach((rawEntry, i) => {
    const entry = excludeEntrySchema.safeParse(rawEntry).data;
    if (!entry) return;
    const entryAt: Path = [...at, 'exclude', i];
    if (Object.keys(entry).length === 0) report.value(entryAt, 'an empty entry would exclude every task');
    for (const [axis, value] of Object.entries(entry)) {
      if (!axes.has(axis)) {
        report.key([...entryAt, axis], `unknown axis '${axis}'${didYouMean(axis, axes.keys())}`, entryAt);
      } else if (!over.includes(axis)) {
        report.key([...entryAt, axis], `axis '${axis}' is not in this step's over`, entryAt);
      } else {
        const values = axes.get(axis);
        if (values && !values.has(value)) {
          report.value(
            [...entryAt, axis],
            `${JSON.stringify(value)} is not a value of axis '${axis}'${didYouMean(value, values)}`,
          );
        }
      }
    }
  });
}

/** A cache key's {{ AXIS }} must name an axis the step fans out over: other tasks have no value for it. */
function checkCacheAxes(raw: unknown, over: (string | undefined)[], at: Path, { report, axes }: Context): void {
  const cache = asRecord(raw);
  if (!axes || !cache) return;
  const templates: [Path, unknown][] = [[[...at, 'cache', 'key'], cache.key]];
  if (Array.isArray(cache.restore_keys)) cache.restore_keys.forEach((key, i) => templates.push([[...at, 'cache', 'restore_keys', i], key]));
  for (const [where, template] of templates) {
    if (typeof template !== 'string') continue;
    const parts = parseCacheKey(template);
    if ('problem' in parts) continue;
    for (const part of parts) {
      if (!('axis' in part) || over.includes(part.axis)) continue;
      report.value(where, axes.has(part.axis)
        ? `{{ ${part.axis} }}: axis '${part.axis}' is not in this step's over`
        : `{{ ${part.axis} }}: unknown axis '${part.axis}'${didYouMean(part.axis, axes.keys())}`);
    }
  }
}

/** The step's needs, for the cycle check, which reports an entry by its index. */
function checkNeeds(needs: (string | undefined)[], at: Path, { report, steps }: Context): (string | undefined)[] {
  const repeated = repeats(needs);
  needs.forEach((step, i) => {
    if (step === undefined) return;
    if (!steps.has(step)) report.value([...at, 'needs', i], `unknown step '${step}'${didYouMean(step, steps)}`);
    else if (repeated.has(i)) report.value([...at, 'needs', i], `step '${step}' is listed twice`);
  });
  return needs;
}

function checkDoneIf(doneIf: StepDoc['done_if'], at: Path, context: Context): void {
  if (typeof doneIf === 'string') {
    checkScript(doneIf, [...at, 'done_if'], context);
  } else if (doneIf) {
    checkScript(doneIf.run, [...at, 'done_if', 'run'], context);
    if (doneIf.activity !== undefined) checkActivityRef(doneIf.activity, [...at, 'done_if', 'activity'], context);
  }
}

function checkScript(text: string | undefined, at: Path, { report, sourceDir }: Context): void {
  const script = text === undefined ? undefined : toScript(text);
  const problem = script?.kind === 'file' ? scriptFileProblem(script, sourceDir) : undefined;
  if (problem) report.value(at, problem);
}

/** How many combinations `over` spans; 0 when an axis is unknown or malformed. */
function combinations(over: (string | undefined)[], axes: Context['axes']): number {
  return over.reduce((n, axis) => n * ((axis !== undefined && axes?.get(axis)?.size) || 0), 1);
}

function count(n: number): string {
  return n > 1e15 ? 'more than 10^15' : n.toLocaleString('en-US');
}

/** Indices of the items equal to an earlier one. */
function repeats(items: readonly (string | undefined)[]): Set<number> {
  const seen = new Set<string>();
  const repeated = new Set<number>();
  items.forEach((item, i) => {
    if (item === undefined) return;
    if (seen.has(item)) repeated.add(i);
    else seen.add(item);
  });
  return repeated;
}

/** A list's strings in place, other items as undefined; empty when `raw` is not a list. */
function strings(raw: unknown): (string | undefined)[] {
  return Array.isArray(raw) ? raw.map((item) => (typeof item === 'string' ? item : undefined)) : [];
}

/** The fields of `raw` that are well-formed, so one bad field does not hide the others. */
function fields<T extends z.ZodObject>(schema: T, raw: unknown): Partial<z.output<T>> {
  const record = asRecord(raw) ?? {};
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const parsed = field.safeParse(Object.hasOwn(record, key) ? record[key] : undefined);
    if (parsed.success) out[key] = parsed.data;
  }
  return out as Partial<z.output<T>>;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}
