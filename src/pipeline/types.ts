/** A parsed, validated pipeline file: what the engine and the agents work from. */

/** A script is either a file in the run's source tree or inline text. */
export type Script =
  | { kind: 'file'; path: string }
  | { kind: 'inline'; text: string };

export type ProviderName = 'local' | 'ssh' | 'ec2';

/** What makes an activity's machines: shared by a pipeline's activities and the operator's pools. */
export interface MachineDefinition {
  provider: ProviderName;
  /** Never more live workers at once: an activity's own, or its pool's for all the runs it serves. */
  maxWorkers: number;
  /** Never more live machines than cost this much per hour together (USD, at the provider's price). */
  maxHourlyUsd?: number;
  idleTimeoutMs: number;
  /** Workers older than this are drained (never killed in the middle of a task). */
  maxLifetimeMs?: number;
  /** Makes a machine ready once per fingerprint of the script, before any worker's init. */
  prepare?: Script;
  init?: Script;
  cleanup?: Script;
  /** Provider-specific machine settings, passed through untouched. */
  instance?: Record<string, unknown>;
}

export interface Activity extends MachineDefinition {
  name: string;
  /**
   * The operator's pool (`[pools.NAME]` in the config) the activity names with `pool: NAME`:
   * its machine definition is copied from it, and its workers are shared by every run that names it.
   */
  pool?: string;
}

/**
 * A pool the operator defines in the config (`[pools.NAME]`), which a pipeline's activity
 * names with `pool: NAME` instead of defining its machines. Its scripts are always inline:
 * a config's scripts belong to no run's source tree.
 */
/** Idle workers a pool keeps up even when no task waits: a number, or "auto" (see warmTarget). */
export type MinIdle = number | 'auto';

export interface OperatorPool extends MachineDefinition {
  /** Idle workers kept up even when no task waits (warm), within maxWorkers. */
  minIdle: MinIdle;
}

/** What a pipeline is checked against besides itself: the operator's pools, and whether it may define its own. */
export interface PipelineRules {
  /**
   * The pools `pool: NAME` may name. 'unchecked': names are left to whoever runs the pipeline
   * (a server checks them at submit); such an activity is a placeholder until then.
   */
  pools?: Readonly<Record<string, OperatorPool>> | 'unchecked';
  /** False: every activity must name an operator's pool (`[server] pipelines_may_define_pools`). */
  mayDefinePools?: boolean;
}

export interface RetryPolicy {
  /** Total attempts, the first included. */
  attempts: number;
  delayMs: number;
  backoff: number;
  maxDelayMs: number;
}

export interface DoneCheck {
  script: Script;
  /** The activity the check runs on: `control` unless the step names another. */
  activity: string;
}

export interface Step {
  name: string;
  activity: string;
  /** Axes this step fans out over, in the order written (the task id's order). */
  over: string[];
  needs: string[];
  exclude: Record<string, string>[];
  run: Script;
  doneIf?: DoneCheck;
  retry: RetryPolicy;
  timeoutMs: number | null;
  env: Record<string, string>;
  /** Secrets its attempts get as environment variables (`secrets: [NAME]`); absent when none. */
  secrets?: string[];
  /** Globs of the files a successful attempt keeps (`artifacts: [...]`); absent when none. */
  artifacts?: string[];
  /** What is restored before its script and saved after a success (`cache:`); absent when none. */
  cache?: StepCache;
}

export interface StepCache {
  /** A template: see src/pipeline/cache-key.ts. */
  key: string;
  paths: string[];
  restoreKeys: string[];
}

export interface Pipeline {
  name: string;
  /** Absolute path of the pipeline file. */
  file: string;
  /** Absolute path of the directory that holds the file: the run's source tree. */
  sourceDir: string;
  /** Axis name to its values, in the order written. */
  matrix: Record<string, string[]>;
  /** Every activity, the built-in `control` one included. */
  activities: Record<string, Activity>;
  /** Steps in the order written. */
  steps: Record<string, Step>;
  /** What a run may spend on machines, in USD; `slipway run --budget` overrides it. */
  budgetUsd?: number;
}

/** Which part of a pipeline a run covers (manual mode), and whether done_if is ignored. */
export interface Selection {
  only?: string[];
  /** Axis to the values the run has instead of the matrix's. */
  set?: Record<string, string[]>;
  /** Axis to values left out (after `set`): their tasks are not run, and what needs them does not wait. */
  exclude?: Record<string, string[]>;
  force?: boolean;
}

/** One task of an expanded pipeline. */
export interface TaskSpec {
  /** `step[axis=value,...]` in the order of the step's `over`; `step` when over is empty. */
  key: string;
  step: string;
  matrix: Record<string, string>;
  /** Keys of the tasks this one waits for (only those inside the selection). */
  needs: string[];
}
