/**
 * The shape of `slipway.yml`, as zod schemas: the loader checks files against them and
 * editors get them as JSON Schema. Messages are written to follow `path: ` and precede
 * `, got <value>` (see issues.ts). Cross-references (needs, over, activity) and script
 * files are checked in checks.ts, which sees the whole file.
 */
import { z } from 'zod';
import { SECRET_NAME } from '../secrets/rules.ts';
import { parseCacheKey } from './cache-key.ts';
import { DURATION_PATTERN, parseDuration } from './duration.ts';
import { MAX_EXCLUDES_PER_STEP, MAX_NAME_LENGTH } from './limits.ts';
import { reservedAxis } from './reserved-axes.ts';

const PROVIDERS = ['local', 'ssh', 'ec2'] as const;

function nameSchema(what: string, pattern: RegExp, allowed: string) {
  return z
    .string({ error: `expected a ${what} name` })
    .max(MAX_NAME_LENGTH, { error: `${what} name is longer than ${MAX_NAME_LENGTH} characters`, abort: true })
    .regex(pattern, { error: `invalid ${what} name: use ${allowed}, starting with a letter or digit` });
}

const NAME = /^[a-z0-9][a-z0-9_-]*$/;
const NAME_CHARS = "lower-case letters, digits, '-' and '_'";
const pipelineName = nameSchema('pipeline', /^[a-z0-9][a-z0-9-]*$/, "lower-case letters, digits and '-'");
const stepName = nameSchema('step', NAME, NAME_CHARS);
const activityName = nameSchema('activity', NAME, NAME_CHARS);
const axisName = nameSchema('axis', NAME, NAME_CHARS).refine((name) => !reservedAxis(name), { error: (issue) => reservedAxis(String(issue.input)) });
const envName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    error: "invalid environment variable name: use letters, digits and '_', not starting with a digit",
    abort: true,
  })
  .regex(/^(?!SLIPWAY_)/, { error: 'SLIPWAY_ variables are set by Slipway itself' });

/**
 * Text that reaches a script (through its environment or its arguments) cannot hold NUL:
 * no environment or argument can, and the agent could not start the script at all.
 */
const NO_NUL = /^[^\0]*$/;
const NO_NUL_ERROR = 'a NUL character cannot be passed to a script';

// References are plain strings here: whether they name something is checked with the
// whole file in view, which gives a better message than a pattern would.
const stepRef = z.string({ error: 'expected a step name' });
const activityRef = z.string({ error: 'expected an activity name' });
const axisRef = z.string({ error: 'expected an axis name' });

const script = z
  .string({ error: 'expected a script: a file in the source tree or inline commands' })
  .regex(/\S/, { error: 'expected a script, not blank text' })
  .regex(NO_NUL, { error: NO_NUL_ERROR })
  .describe(
    'A file in the source tree (one word containing "/" or ending in .sh, .bash or .py), ' +
      'or inline commands run with bash -eo pipefail.',
  );

const DURATION_EXPECTED = 'expected a duration like 90s, 5m, 2h, 1h30m or 500ms';
const duration = z
  .string({ error: DURATION_EXPECTED })
  .regex(DURATION_PATTERN, { error: DURATION_EXPECTED, abort: true });
const positiveDuration = duration.refine((s) => parseDuration(s) > 0, { error: 'expected a duration longer than 0' });

const positiveInt = z
  .int({ error: 'expected a positive integer' })
  .min(1, { error: 'expected a positive integer' });

/** A sum of money, as a pipeline or a config writes it. */
export const usdAmount = z.number({ error: 'expected an amount in USD, such as 2.50' }).positive({ error: 'expected an amount in USD greater than 0' });

const matrixValue = z.string({ error: 'expected a string' }).regex(NO_NUL, { error: NO_NUL_ERROR });

export const excludeEntrySchema = z.record(axisRef, matrixValue, { error: 'expected a mapping of axis to value' });

const RETRY_DEFAULTS = { attempts: 3, delay: '1m', backoff: 5, max_delay: '30m' } as const;

const retrySchema = z
  .strictObject(
    {
      attempts: positiveInt.default(RETRY_DEFAULTS.attempts).describe('Total attempts, the first included.'),
      delay: duration.default(RETRY_DEFAULTS.delay).describe('Wait before the second attempt.'),
      backoff: z
        .number({ error: 'expected a number of at least 1' })
        .min(1, { error: 'expected a number of at least 1' })
        .default(RETRY_DEFAULTS.backoff)
        .describe('Each further wait is the previous one times this factor.'),
      max_delay: duration.default(RETRY_DEFAULTS.max_delay).describe('No wait is longer than this.'),
    },
    { error: 'expected a mapping with attempts, delay, backoff and max_delay' },
  )
  .prefault({})
  .describe('How a failed, timed-out or lost attempt is retried.');

const doneIfSchema = z
  .union(
    [
      script,
      z.strictObject(
        {
          run: script.describe('The check: exit status 0 means the task is already done.'),
          activity: activityRef
            .optional()
            .describe("The activity the check runs on (default: control; the step's own when every activity is remote)."),
        },
        { error: 'expected a mapping with run and activity' },
      ),
    ],
    { error: 'expected a script, or a mapping with run and activity' },
  )
  .describe(
    'A check that exits 0 when the task is already done, so it is skipped. Runs on the built-in ' +
      "control activity (on the step's own when every activity is ssh or ec2) unless given as { run, activity }.",
  );

const MAX_ARTIFACT_PATTERNS = 100;
/** A path or glob inside the task's tree: relative, without `..`, so nothing outside it is ever read or written. */
const artifactPattern = z
  .string({ error: 'expected a path or glob pattern' })
  .min(1, { error: 'expected a path or glob pattern' })
  .max(1024, { error: 'expected at most 1024 characters' })
  .regex(NO_NUL, { error: NO_NUL_ERROR })
  .refine((pattern) => !pattern.startsWith('/'), { error: "expected a path relative to the task's tree, not an absolute one" })
  .refine((pattern) => !pattern.split('/').includes('..'), { error: "expected a path inside the task's tree: '..' is not allowed" });

const cacheKey = z
  .string({ error: 'expected a key' })
  .min(1, { error: 'expected a key' })
  .max(512, { error: 'expected at most 512 characters' })
  .superRefine((template, ctx) => {
    const parsed = parseCacheKey(template);
    if ('problem' in parsed) ctx.addIssue({ code: 'custom', message: parsed.problem });
  });

const cacheSchema = z
  .strictObject(
    {
      key: cacheKey.describe("The entry to restore and save, e.g. deps-{{ hashFiles('package-lock.json') }}; {{ AXIS }} is the task's value of an axis."),
      paths: z
        .array(artifactPattern, { error: 'expected a list of paths' })
        .min(1, { error: 'expected at least one path' })
        .max(MAX_ARTIFACT_PATTERNS, { error: `expected at most ${MAX_ARTIFACT_PATTERNS} paths` })
        .describe("What is kept: paths in the task's tree (directories whole)."),
      restore_keys: z
        .array(cacheKey, { error: 'expected a list of key prefixes' })
        .max(10, { error: 'expected at most 10 prefixes' })
        .default([])
        .describe('On a miss, the newest entry whose key starts with one of these, in order, is restored instead.'),
    },
    { error: 'expected a mapping with key, paths and restore_keys' },
  )
  .describe('Restored before the script, saved after a success when the key missed (never by a try); per repository, least recently used first out.');

export const stepSchema = z.strictObject(
  {
    activity: activityRef
      .optional()
      .describe('The activity whose workers run this step; may be omitted when exactly one is defined.'),
    over: z
      .array(axisRef, { error: 'expected a list of axis names' })
      .default([])
      .describe('Matrix axes this step fans out over: one task per combination. Omitted: one task.'),
    needs: z
      .array(stepRef, { error: 'expected a list of step names' })
      .default([])
      .describe('Steps whose tasks must finish first: those with the same values on the shared axes.'),
    exclude: z
      .array(excludeEntrySchema, { error: 'expected a list of mappings of axis to value' })
      .max(MAX_EXCLUDES_PER_STEP, { error: `expected at most ${MAX_EXCLUDES_PER_STEP} entries` })
      .default([])
      .describe('Combinations to leave out; an entry excludes every combination it matches.'),
    run: script.describe('What the task does.'),
    done_if: doneIfSchema.optional(),
    retry: retrySchema,
    timeout: positiveDuration.optional().describe('An attempt running longer than this is stopped (default: none).'),
    env: z
      .record(
        envName,
        z.union([z.string().regex(NO_NUL, { error: NO_NUL_ERROR }), z.number(), z.boolean()], { error: 'expected a string, number or boolean' }),
        { error: 'expected a mapping of variable names to values' },
      )
      .default({})
      .describe("Extra environment variables for this step's scripts."),
    secrets: z
      .array(z.string({ error: 'expected a secret name' }).regex(SECRET_NAME, { error: "expected a secret name: upper-case letters, digits and '_', not starting with a digit" }), {
        error: 'expected a list of secret names',
      })
      .default([])
      .describe('Secrets (slipway secrets set NAME) each attempt of this step gets as environment variables of the same name; masked in its log.'),
    artifacts: z
      .array(artifactPattern, { error: 'expected a list of paths or glob patterns' })
      .max(MAX_ARTIFACT_PATTERNS, { error: `expected at most ${MAX_ARTIFACT_PATTERNS} patterns` })
      .default([])
      .describe(
        "Files a successful attempt keeps (globs relative to the task's tree, e.g. dist/*.whl); " +
          'the tasks that need it get them under $SLIPWAY_INPUTS/<its task id>/<path>. Each must match a file.',
      ),
    cache: cacheSchema.optional(),
  },
  { error: 'expected a mapping describing the step' },
);

const ACTIVITY_DEFAULTS = { provider: 'local', max_workers: 2, idle_timeout: '2m' } as const;

/** The keys that define an activity's machines: an activity that names an operator's pool takes them all from it. */
export const MACHINE_KEYS = ['provider', 'max_workers', 'max_hourly_usd', 'idle_timeout', 'max_lifetime', 'prepare', 'init', 'cleanup', 'instance'] as const;

export const activitySchema = z.strictObject(
  {
    pool: z
      .string({ error: 'expected a pool name' })
      .optional()
      .describe(
        "An operator's pool, defined in the config ([pools.NAME]): its machines, limits and scripts, shared with every run " +
          `that names it. Stands alone: none of ${MACHINE_KEYS.join(', ')} may be written beside it.`,
      ),
    provider: z
      .enum(PROVIDERS, { error: `expected one of ${PROVIDERS.join(', ')}` })
      .default(ACTIVITY_DEFAULTS.provider)
      .describe('Where machines come from; provider settings come from the configuration.'),
    max_workers: positiveInt
      .default(ACTIVITY_DEFAULTS.max_workers)
      .describe('Never more live workers than this.'),
    max_hourly_usd: usdAmount
      .optional()
      .describe("Never more live machines than cost this much per hour together, at the provider's prices ([providers.ec2] prices, [providers.local] hourly_usd): starts wait until a worker stops."),
    idle_timeout: positiveDuration
      .default(ACTIVITY_DEFAULTS.idle_timeout)
      .describe('A worker with no task for this long shuts down.'),
    max_lifetime: positiveDuration
      .optional()
      .describe('A worker older than this is drained: it finishes the task in hand, takes no other, and its machine is stopped.'),
    prepare: script.optional().describe('Makes a machine ready once (toolchains, caches): once per host, or baked into an image on EC2, again only when the script changes.'),
    init: script.optional().describe('Runs once per worker, before its first task.'),
    cleanup: script.optional().describe('Runs once per worker, before it shuts down.'),
    instance: z
      .record(z.string(), z.unknown(), { error: 'expected a mapping of provider-specific settings' })
      .optional()
      .describe('Provider-specific machine settings, e.g. { type: c5.9xlarge } for ec2.'),
  },
  { error: 'expected a mapping describing the activity' },
);

export const axisValuesSchema = z
  .array(matrixValue, { error: 'expected a list of values' })
  .min(1, { error: 'expected at least one value' })
  .describe('The values of this axis, in order. Quote numbers: "3.10".');

const matrixSchema = z
  .record(axisName, axisValuesSchema, { error: 'expected a mapping of axis names to lists of values' })
  .default({})
  .describe('Named axes, each a list of string values; each becomes an upper-case environment variable.');

export const pipelineSchema = z
  .strictObject(
    {
      name: pipelineName.describe('The pipeline name.'),
      matrix: matrixSchema,
      budget_usd: usdAmount
        .optional()
        .describe("What a run may spend on machines, in USD, at the providers' prices: once spent, no new task starts (running ones finish) and the run fails, saying so. `slipway run --budget` overrides it."),
      activities: z
        .record(activityName, activitySchema, { error: 'expected a mapping of activity names to activities' })
        .default({})
        .describe('Pools of interchangeable workers; control is built in.'),
      steps: z
        .record(stepName, stepSchema, { error: 'expected a mapping of step names to steps' })
        .refine((steps) => Object.keys(steps).length > 0, { error: 'expected at least one step' })
        .describe('The kinds of work, in order.'),
    },
    { error: 'expected a mapping with name, matrix, activities and steps' },
  )
  .describe('A Slipway pipeline (slipway.yml).');

export type PipelineDoc = z.output<typeof pipelineSchema>;
export type StepDoc = z.output<typeof stepSchema>;
export type ActivityDoc = z.output<typeof activitySchema>;

/** JSON Schema (draft 2020-12) of the pipeline file, for editors. */
export function pipelineJsonSchema(): object {
  return z.toJSONSchema(pipelineSchema, { target: 'draft-2020-12', io: 'input' });
}
