import { Option, type Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { operatorPools } from '../config/pools.ts';
import { startEmbedded } from '../coordinator/embedded.ts';
import { activitiesInUse } from '../pipeline/activities-in-use.ts';
import { parseDuration } from '../pipeline/duration.ts';
import { expandTasks, SelectionError } from '../pipeline/expand.ts';
import { loadPipeline } from '../pipeline/load.ts';
import { pipelineFile } from './pipeline-file.ts';
import { reservedAxis } from '../pipeline/reserved-axes.ts';
import type { Pipeline, Selection } from '../pipeline/types.ts';
import { packSource, sourceTree } from '../coordinator/source-archive.ts';
import { serverOf } from './api-client.ts';
import { printable } from './format.ts';
import { runTree, type RunTree } from './run-tree.ts';
import { runOnServer, type SubmitOptions } from './run-remote.ts';
import { runFromRepo } from './run-repo.ts';
import { watchLocalRun } from './watch-local.ts';
import { commandCoordinatorOptions, selfCommand } from './local-state.ts';
import { UsageError } from './usage-error.ts';

interface RunCommandOptions {
  server?: string;
  token?: string;
  json?: boolean;
  db?: string;
  only?: string;
  set: string[];
  exclude: string[];
  force?: boolean;
  fakeWorkers?: boolean;
  provision: boolean;
  heartbeatTimeout: string;
  revision?: string;
  repo?: string;
  budget?: string;
}

export function registerRun(program: Command): void {
  program.command('run')
    .description('run a pipeline on local workers started for it, and report every task')
    .argument('<file>', 'the pipeline file, or a directory holding a slipway.yml; its directory is the source tree')
    .option('--json', 'print the run report as JSON on stdout (progress goes to stderr)')
    .option('--revision <rev>', "run this committed revision of the pipeline's git or Mercurial working copy, not the files on disk")
    .option('--only <steps>', 'manual mode: run only these steps (comma-separated); needs outside count as done')
    .option('--set <axis=values>', 'manual mode: only these values of an axis, e.g. --set version=4.28.2,4.29.0 (repeatable)', collect, [])
    .option('--exclude <axis=values>', 'manual mode: leave out the tasks with these values of an axis (after --set), e.g. --exclude destination=pypi (repeatable); what needs them does not wait', collect, [])
    .option('--force', 'run tasks even if their done_if check says they are done')
    .option('--fake-workers', 'replace every script with one that prints what would have run')
    .option('--budget <usd>', "what the run may spend on machines, in USD (over the pipeline's budget_usd): once spent, no new task starts, running ones finish, and the run fails saying so")
    .option('--no-provision', 'start no worker (a run on this machine); print the command that starts one by hand')
    .option('--db <path>', 'the store (default: slipway.db in the state directory)')
    .option('--server <url>', 'run on this server and follow it here (default: $SLIPWAY_SERVER)')
    .option('--token <token>', 'a server token with the submit scope (default: $SLIPWAY_TOKEN, or the admin token of a server on this machine)')
    .option('--repo <url>', 'with --server and --revision: the server fetches the revision from this git or hg remote (file://, ssh://, http(s)://, git://) and runs FILE of it')
    .addOption(new Option('--heartbeat-timeout <duration>', 'a worker not heard from for this long is lost').default('60s'))
    .addHelpText('after', `
Exit codes: 0 every task succeeded or was skipped, 1 some task failed, 2 invalid input, 130 cancelled.

Examples:
  slipway run examples/hello-c/slipway.yml
  slipway run slipway.yml --only build --set version=4.29.0 --force
  slipway run slipway.yml --exclude destination=pypi   every destination but pypi
  slipway run slipway.yml --fake-workers        see what would run, at no cost
  slipway run slipway.yml --budget 5            stop starting tasks once machines cost $5
  slipway run slipway.yml --revision HEAD~1     the previous commit, whatever the working tree holds
  slipway run slipway.yml --server URL --repo https://example.com/project.git --revision main
  slipway run slipway.yml --json > report.json`)
    .action(async (file: string, options: RunCommandOptions, command: Command) => {
      if (options.server ?? process.env.SLIPWAY_SERVER) refuseLocalFlags(options, command);
      process.exitCode = await runPipeline(file, options);
    });
}

/** Flags of a run on this machine that a run on a server would ignore: each refused, saying what decides there instead. */
function refuseLocalFlags(options: RunCommandOptions, command: Command): void {
  if (!options.provision) throw new UsageError('--no-provision is for a run on this machine: a server starts the workers of its pools (to serve its runs by hand: slipway worker --server URL, with a worker token)');
  if (options.db !== undefined) throw new UsageError('--db is for a run on this machine: a run on a server is in the server\'s store');
  if (command.getOptionValueSource('heartbeatTimeout') === 'cli') throw new UsageError('--heartbeat-timeout is for a run on this machine: a server loses a worker after its own (slipway server --heartbeat-timeout)');
}

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** --only, --set, --exclude and --force as a selection; a malformed --set or --exclude is a UsageError. */
export function parseSelection(options: Pick<RunCommandOptions, 'only' | 'set' | 'exclude' | 'force'>): Selection {
  const selection: Selection = {};
  if (options.only) selection.only = options.only.split(',').map((s) => s.trim()).filter(Boolean);
  const set = axisValues('--set', options.set);
  if (set) selection.set = set;
  const exclude = axisValues('--exclude', options.exclude);
  if (exclude) selection.exclude = exclude;
  if (options.force) selection.force = true;
  return selection;
}

/** A repeatable AXIS=VALUE[,VALUE…] flag as axis to values, or undefined when not given. */
function axisValues(flag: string, entries: string[]): Record<string, string[]> | undefined {
  let values: Record<string, string[]> | undefined;
  for (const entry of entries) {
    const match = entry.match(/^([^=]+)=(.+)$/);
    if (!match) throw new UsageError(`${flag} takes AXIS=VALUE[,VALUE…], not '${entry}'`);
    const axis = match[1]!.trim();
    const reserved = reservedAxis(axis);
    if (reserved) throw new UsageError(`${flag} ${entry}: ${reserved}`);
    values ??= {};
    // Repeating an axis adds values: --set v=1 --set v=2 is --set v=1,2.
    values[axis] = [...(values[axis] ?? []), ...match[2]!.split(',').map((s) => s.trim()).filter(Boolean)];
  }
  return values;
}

async function runPipeline(file: string, options: RunCommandOptions): Promise<number> {
  if (options.repo !== undefined) {
    const api = serverOf(options);
    if (!api || options.revision === undefined) throw new UsageError('--repo needs --server (or SLIPWAY_SERVER) and --revision: the server fetches that revision and runs it');
    return runFromRepo(api, file, options.repo, options.revision, parseSelection(options), submitOptions(options));
  }
  file = pipelineFile(file);
  // The operator's pools a pipeline names are this machine's config's, or a server's, which checks them there.
  const remote = Boolean(options.server ?? process.env.SLIPWAY_SERVER);
  const tree = await runTree(file, options.revision);
  try {
    const pipeline = loadPipeline(tree.file, { pools: remote ? 'unchecked' : operatorPools(loadConfig()) }, file);
    if (tree.summary) (options.json ? process.stderr : process.stdout).write(`${printable(tree.summary, { lines: true })}\n`);
    return await runTreePipeline(file, tree, pipeline, options);
  } finally {
    tree.remove();
  }
}

async function runTreePipeline(file: string, tree: RunTree, pipeline: Pipeline, options: RunCommandOptions): Promise<number> {
  const selection = parseSelection(options);
  let tasks;
  try {
    tasks = expandTasks(pipeline, selection);
  } catch (error) {
    // The message names the selection field; here the user wrote it as a flag.
    if (error instanceof SelectionError) throw new UsageError(error.field ? `--${error.message}` : error.message);
    throw error;
  }
  let heartbeatTimeoutMs: number;
  try {
    heartbeatTimeoutMs = parseDuration(options.heartbeatTimeout);
  } catch (error) {
    throw new UsageError(`--heartbeat-timeout: ${(error as Error).message}`);
  }
  if (tasks.length === 0) throw new UsageError('the selection leaves no task to run');
  const api = serverOf(options);
  if (api) return runOnServer(api, file, pipeline, tree, selection, submitOptions(options));

  const embedded = await startEmbedded(await commandCoordinatorOptions(options.db, heartbeatTimeoutMs));
  const { coordinator } = embedded;
  let joinToken = '';
  return watchLocalRun(embedded, pipeline.name, Boolean(options.json), async () => {
    const sources = await coordinator.sources();
    const digest = await packSource(tree.dir, sources, tree.files ?? undefined);
    // An exported revision goes with this command: the run reads its scripts from the archive's own tree.
    const ranPipeline = tree.origin?.revision ? { ...pipeline, sourceDir: await sourceTree(sources, digest, coordinator.archiveLimits) } : pipeline;
    const created = await coordinator.createRun(ranPipeline, tasks, selection, { fakeWorkers: Boolean(options.fakeWorkers), noProvision: !options.provision, ...budgetOption(options) }, digest, tree.origin ?? undefined);
    joinToken = created.joinToken;
    return created.runId;
  }, (progress) => {
    if (!options.provision) progress.print(manualWorkerHelp(pipeline, embedded.listening.url, joinToken));
  });
}

function submitOptions(options: RunCommandOptions): SubmitOptions {
  return { json: Boolean(options.json), fakeWorkers: Boolean(options.fakeWorkers), ...budgetOption(options) };
}

/** --budget as USD, checked before anything starts. */
function budgetOption(options: Pick<RunCommandOptions, 'budget'>): { budgetUsd?: number } {
  if (options.budget === undefined) return {};
  const usd = Number(options.budget.replace(/^\$/, ''));
  if (!Number.isFinite(usd) || usd <= 0 || options.budget.trim() === '') throw new UsageError(`--budget takes an amount in USD greater than 0, such as 2.50, not '${options.budget}'`);
  return { budgetUsd: usd };
}

function manualWorkerHelp(pipeline: Pipeline, url: string, joinToken: string): string {
  const lines = [...activitiesInUse(pipeline)].map((activity) => `  SLIPWAY_TOKEN=${joinToken} ${selfCommand()} worker --server ${url} --activity ${activity}`);
  return `No workers will be started (--no-provision). Start one per activity by hand, from any shell on this machine:\n${lines.join('\n')}`;
}
