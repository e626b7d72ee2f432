import type { Pipeline } from './types.ts';

/** The activities some step runs on or checks on: `control` is among them only when a check uses it. */
export function activitiesInUse(pipeline: Pipeline): Set<string> {
  const activities = new Set<string>();
  for (const step of Object.values(pipeline.steps)) {
    activities.add(step.activity);
    if (step.doneIf) activities.add(step.doneIf.activity);
  }
  return activities;
}
