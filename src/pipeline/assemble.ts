/** Turns a file that passed every check into the Pipeline the engine works from. */
import { parseDuration } from './duration.ts';
import type { Locator } from './positions.ts';
import type { ActivityDoc, PipelineDoc, StepDoc } from './schema.ts';
import { machineDefinition } from './machine-definition.ts';
import { toScript } from './scripts.ts';
import type { Activity, OperatorPool, Pipeline, PipelineRules, Step } from './types.ts';

/**
 * Runs the done_if checks of a pipeline that has a local activity, on the coordinator's
 * host, so no expensive machine starts for them (see checkActivity for the others).
 */
export const CONTROL_ACTIVITY: Activity = Object.freeze({
  name: 'control',
  provider: 'local',
  maxWorkers: 4,
  idleTimeoutMs: 30_000,
});

export function assemble(doc: PipelineDoc, file: string, sourceDir: string, locator: Locator, rules: PipelineRules = {}): Pipeline {
  const activities: Record<string, Activity> = {};
  for (const [name, activity] of Object.entries(doc.activities)) {
    // checks.ts guarantees a named pool is known, unless names are left unchecked.
    const pool = activity.pool !== undefined && rules.pools !== 'unchecked' ? rules.pools?.[activity.pool] : undefined;
    activities[name] = pool ? activityFromPool(name, activity.pool!, pool) : toActivity(name, activity);
  }
  const allRemote = allActivitiesRemote(activities);
  activities[CONTROL_ACTIVITY.name] = { ...CONTROL_ACTIVITY };

  const only = Object.keys(doc.activities);
  const steps: Record<string, Step> = {};
  for (const [name, step] of Object.entries(doc.steps)) {
    steps[name] = toStep(name, step, only.length === 1 ? only[0] : undefined, allRemote, locator);
  }
  return { name: doc.name, file, sourceDir, matrix: doc.matrix, activities, steps, ...(doc.budget_usd !== undefined && { budgetUsd: doc.budget_usd }) };
}

function toActivity(name: string, a: ActivityDoc): Activity {
  // A pool left unchecked (a server resolves it) is a placeholder with the defaults, naming its pool.
  return { name, ...machineDefinition(a, toScript), ...(a.pool !== undefined && { pool: a.pool }) };
}

/** An activity that names an operator's pool: everything about its machines is the pool's. */
export function activityFromPool(name: string, pool: string, { minIdle: _warm, ...machines }: OperatorPool): Activity {
  return { name, pool, ...machines };
}

/**
 * Where a step's done_if check runs when it names no activity. A pipeline that runs code on
 * this machine anyway (it has a local activity) checks on `control`, so no expensive machine
 * starts for work already done. One whose activities are all remote (ssh, ec2) must not
 * run anything on the coordinator's host, so each check runs on its own step's activity:
 * the machine the step would run on, whose worker goes on to run the task when the check
 * says it is not done. A step that names `control` itself keeps its check there.
 */
export function checkActivity(stepActivity: string, allRemote: boolean): string {
  return allRemote ? stepActivity : CONTROL_ACTIVITY.name;
}

/**
 * A step that runs on `control`, or whose check does while no activity of the pipeline is
 * local (named so in the file: checkActivity puts none there then): such a pipeline runs
 * code on the coordinator's host of its own accord.
 */
export function stepOnControl(pipeline: Pipeline): string | undefined {
  const allRemote = allActivitiesRemote(pipeline.activities);
  return Object.values(pipeline.steps).find((step) => step.activity === CONTROL_ACTIVITY.name || (allRemote && step.doneIf?.activity === CONTROL_ACTIVITY.name))?.name;
}

/** No activity but the built-in `control` runs on this machine. */
function allActivitiesRemote(activities: Record<string, Activity>): boolean {
  return Object.values(activities).every((a) => a.name === CONTROL_ACTIVITY.name || a.provider !== 'local');
}

function toStep(name: string, s: StepDoc, onlyActivity: string | undefined, allRemote: boolean, locator: Locator): Step {
  const doneIf = s.done_if === undefined ? undefined : typeof s.done_if === 'string' ? { run: s.done_if } : s.done_if;
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(s.env)) {
    // The text as written: YAML reads `PYTHON: 3.10` as 3.1, which nobody means.
    env[key] = typeof value === 'string' ? value : (locator.source(['steps', name, 'env', key]) ?? String(value));
  }
  // checks.ts guarantees an activity is written whenever there is not exactly one.
  const activity = s.activity ?? onlyActivity!;
  return {
    name,
    activity,
    over: s.over,
    needs: s.needs,
    exclude: s.exclude,
    run: toScript(s.run),
    ...(doneIf && {
      doneIf: { script: toScript(doneIf.run), activity: doneIf.activity ?? checkActivity(activity, allRemote) },
    }),
    retry: {
      attempts: s.retry.attempts,
      delayMs: parseDuration(s.retry.delay),
      backoff: s.retry.backoff,
      maxDelayMs: parseDuration(s.retry.max_delay),
    },
    timeoutMs: s.timeout === undefined ? null : parseDuration(s.timeout),
    env,
    ...(s.secrets.length > 0 && { secrets: [...new Set(s.secrets)] }),
    ...(s.artifacts.length > 0 && { artifacts: [...new Set(s.artifacts)] }),
    ...(s.cache && { cache: { key: s.cache.key, paths: s.cache.paths, restoreKeys: s.cache.restore_keys } }),
  };
}
