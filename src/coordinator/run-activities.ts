import { fleetPoolName, operatorPoolId, operatorPoolName, poolIdentity } from '../engine/pool-identity.ts';
import { activityFromPool } from '../pipeline/assemble.ts';
import type { Activity, MinIdle, OperatorPool, Pipeline, Script } from '../pipeline/types.ts';
import { preparationOf, preparationOfActivity, scriptText, type Preparation } from './preparation.ts';
import type { RunSpec } from './run-specs.ts';

/**
 * A run's activities as their workers are started now. An activity that names an
 * operator's pool (`pool: NAME`) is that pool as the config defines it today, so a server
 * restarted with a changed pool starts its new workers the new way; any other is as the
 * run's pipeline defined it.
 */
export class RunActivities {
  readonly #pools: Readonly<Record<string, OperatorPool>>;

  constructor(pools: Readonly<Record<string, OperatorPool>> = {}) {
    this.#pools = pools;
  }

  /** The operator's pool a run's activity names (undefined: the activity defines its own machines). */
  operatorOf(spec: RunSpec, activityName: string): OperatorPool | undefined {
    const name = spec.pipeline.activities[activityName]?.pool;
    return name === undefined ? undefined : this.#pools[name];
  }

  activityOf(spec: RunSpec, activityName: string): Activity {
    const activity = spec.pipeline.activities[activityName]!;
    const operator = this.operatorOf(spec, activityName);
    return operator ? activityFromPool(activityName, activity.pool!, operator) : activity;
  }

  preparation(spec: RunSpec, activityName: string): Preparation | undefined {
    return this.operatorOf(spec, activityName)
      ? preparationOfActivity(this.activityOf(spec, activityName), spec.pipeline.sourceDir)
      : preparationOf(spec, activityName);
  }

  /** The min_idle of the operator's pool a run's activity names; 0 for any other. */
  minIdleOf(spec: RunSpec, activityName: string): MinIdle {
    return this.operatorOf(spec, activityName)?.minIdle ?? 0;
  }

  /**
   * The operator's pool a pool id is, for provisioning. Only the fleet's own (a server's
   * runs with real workers) keeps workers warm: a `slipway run` ends with its run.
   */
  operatorPool(poolId: string): OperatorPool | undefined {
    const name = operatorPoolName(poolId);
    const pool = name === undefined ? undefined : this.#pools[name];
    if (!pool) return undefined;
    return fleetPoolName(poolId) === undefined ? { ...pool, minIdle: 0 } : pool;
  }

  /** The operator's pools that keep workers warm, by name. */
  warmPools(): string[] {
    return Object.entries(this.#pools).filter(([, pool]) => pool.minIdle !== 0).map(([name]) => name);
  }

  /**
   * The pool of each activity of a new run, by identity (see poolIdentity): runs of the
   * same pipeline in the same scope share their workers. An activity that names an
   * operator's pool is in that pool, whatever the pipeline.
   */
  poolsOf(pipeline: Pipeline, scope: string): Record<string, string> {
    const text = (script: Script | undefined) => script && scriptText(script, pipeline.sourceDir);
    return Object.fromEntries(Object.values(pipeline.activities).map((activity) => [activity.name, activity.pool !== undefined
      ? operatorPoolId(activity.pool, scope)
      : poolIdentity({
        activity: activity.name, provider: activity.provider, instance: activity.instance, scope,
        prepare: text(activity.prepare), init: text(activity.init), cleanup: text(activity.cleanup),
      })]));
  }
}
