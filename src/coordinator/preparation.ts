import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Activity, Script } from '../pipeline/types.ts';
import type { RunSpec } from './run-specs.ts';

/** An activity's prepare script, as text, and the fingerprint that says when it changed. */
export interface Preparation {
  /** sha256 of the script's text: a machine prepared with it is ready for every run with the same script. */
  fingerprint: string;
  script: Extract<Script, { kind: 'inline' }>;
}

const preparations = new WeakMap<RunSpec, Map<string, Preparation | undefined>>();

/**
 * The prepare script of an activity, read from the run's source tree when it is a file, so
 * that a machine or an image is prepared by content, not by name. Read once per run: every
 * worker of a run is prepared with the same text even if the file changes meanwhile.
 */
export function preparationOf(spec: RunSpec, activity: string): Preparation | undefined {
  let byActivity = preparations.get(spec);
  if (!byActivity) preparations.set(spec, byActivity = new Map());
  if (!byActivity.has(activity)) byActivity.set(activity, readPreparation(spec, activity));
  return byActivity.get(activity);
}

function readPreparation(spec: RunSpec, activity: string): Preparation | undefined {
  const found = spec.pipeline.activities[activity];
  return found && preparationOfActivity(found, spec.pipeline.sourceDir);
}

/** An activity's prepare script with its file read from `sourceDir`, and its fingerprint. */
export function preparationOfActivity(activity: Activity, sourceDir: string): Preparation | undefined {
  const script = activity.prepare;
  if (!script) return undefined;
  const text = scriptText(script, sourceDir);
  return { fingerprint: createHash('sha256').update(text).digest('hex'), script: { kind: 'inline', text } };
}

/** A script's text: inline, or read from its file in the run's source tree (empty if the file is missing: the run will say so). */
export function scriptText(script: Script, sourceDir: string): string {
  if (script.kind === 'inline') return script.text;
  try {
    return readFileSync(join(sourceDir, script.path), 'utf8');
  } catch {
    return '';
  }
}
