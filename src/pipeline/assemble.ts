/** Turns a file that passed every check into the Pipeline the engine works from. */
import { parseDuration } from './duration.ts';
import type { Locator } from './positions.ts';
import type { ActivityDoc, PipelineDoc, StepDoc } from './schema.ts';
import { toScript } from './scripts.ts';
import type { Activity, Pipeline, Step } from './types.ts';

/** Runs done_if checks on the coordinator's host, so no expensive machine starts for them. */
export const CONTROL_ACTIVITY: Activity = Object.freeze({
  name: 'control',
  provider: 'local',
  maxWorkers: 4,
  idleTimeoutMs: 30_000,
});

export function assemble(doc: PipelineDoc, file: string, sourceDir: string, locator: Locator): Pipeline {
  const activities: Record<string, Activity> = {};
  for (const [name, activity] of Object.entries(doc.activities)) activities[name] = toActivity(name, activity);
  activities[CONTROL_ACTIVITY.name] = { ...CONTROL_ACTIVITY };

  const only = Object.keys(doc.activities);
  const steps: Record<string, Step> = {};
  for (const [name, step] of Object.entries(doc.steps)) {
    steps[name] = toStep(name, step, only.length === 1 ? only[0] : undefined, locator);
  }
  return { name: doc.name, file, sourceDir, matrix: doc.matrix, activities, steps };
}

function toActivity(name: string, a: ActivityDoc): Activity {
  return {
    name,
    provider: a.provider,
    maxWorkers: a.max_workers,
    idleTimeoutMs: parseDuration(a.idle_timeout),
    ...(a.max_lifetime !== undefined && { maxLifetimeMs: parseDuration(a.max_lifetime) }),
    ...(a.prepare !== undefined && { prepare: toScript(a.prepare) }),
    ...(a.init !== undefined && { init: toScript(a.init) }),
    ...(a.cleanup !== undefined && { cleanup: toScript(a.cleanup) }),
    ...(a.instance !== undefined && { instance: a.instance }),
  };
}

function toStep(name: string, s: StepDoc, onlyActivity: string | undefined, locator: Locator): Step {
  const doneIf = s.done_if === undefined ? undefined : typeof s.done_if === 'string' ? { run: s.done_if } : s.done_if;
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(s.env)) {
    // The text as written: YAML reads `PYTHON: 3.10` as 3.1, which nobody means.
    env[key] = typeof value === 'string' ? value : (locator.source(['steps', name, 'env', key]) ?? String(value));
  }
  return {
    name,
    // checks.ts guarantees an activity is written whenever there is not exactly one.
    activity: s.activity ?? onlyActivity!,
    over: s.over,
    needs: s.needs,
    exclude: s.exclude,
    run: toScript(s.run),
    ...(doneIf && {
      doneIf: { script: toScript(doneIf.run), activity: doneIf.activity ?? CONTROL_ACTIVITY.name },
    }),
    retry: {
      attempts: s.retry.attempts,
      delayMs: parseDuration(s.retry.delay),
      backoff: s.retry.backoff,
      maxDelayMs: parseDuration(s.retry.max_delay),
    },
    timeoutMs: s.timeout === undefined ? null : parseDuration(s.timeout),
    env,
  };
}
