import { homedir, hostname } from 'node:os';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { join } from 'node:path';
import { defaultArchiveLimits, type ArchiveLimits } from '../archive/check.ts';
import type { Script } from '../pipeline/types.ts';
import { idleStep, nextWaitMs } from '../engine/idle-claim.ts';
import type { AgentStop, AttemptOrder, FinishRequest, HandedOut, WorkerScript, WorkerSettings } from '../protocol/worker.ts';
import { SecretMask } from '../secrets/masking.ts';
import { StopRequested, WorkerClient, type FinishAnswer } from './client.ts';
import { OutputBatcher } from './output-buffer.ts';
import { ensurePrepared } from './prepared-marker.ts';
import { CoordinatorUnreachable } from './reconnect.ts';
import { runScript, type ScriptResult } from './run-script.ts';
import { SourceCache } from './source-cache.ts';
import { getSigned, keepArtifact } from './blob-transfer.ts';
import { emptyInputs, keepFiles, prepareFiles, TaskFilesError, type TaskFiles } from './task-files.ts';
import { openTaskCgroups, type TaskCgroups } from './task-cgroups.ts';
import { ScriptStarter } from './spawner.ts';
import type { Owner } from './drop-privileges.ts';
import { giveTree } from './given-tree.ts';

const cleanupTimeoutMs = 10 * 60_000;
/** How long an agent keeps trying to reach a coordinator that went away (restarting, say). */
const defaultReconnectMs = 10 * 60_000;
const firstHeartbeatMs = 200;
/**
 * Why an attempt's own signal aborts once it has ended. Given, so that no DOMException (and
 * its stack) is made for each task: on a busy worker that was a tenth of the agent's CPU.
 */
const attemptEnded = new Error('the attempt ended');

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

export interface Job {
  /** A name for the job's working directory: an attempt id, `init`, `cleanup`. */
  name: string;
  script: Script;
  env: Record<string, string>;
  timeoutMs: number | null;
  signal: AbortSignal;
  onOutput: (text: string) => void;
  /**
   * The tree of the attempt's run, when it is not the one the worker was started for: a
   * worker serves every run of its pool, and fetches each run's tree once.
   */
  source?: { digest: string; download: () => Promise<Response> };
  /** An attempt's inputs and artifacts (a worker's own scripts have none). */
  files?: TaskFiles;
}

/** How the agent runs a script. The real one runs bash in a fresh copy of the source tree. */
export interface Executor {
  prepare(settings: WorkerSettings, download: () => Promise<Response>): Promise<void>;
  run(job: Job): Promise<ScriptResult>;
  /**
   * Tidies up after the last job (its working directory goes) and, when more are to come,
   * gets ready for the next: called once the job's end is on its way to the coordinator, so
   * the work is done while the answer travels. The next job, and close, wait for it.
   */
  tidy?(moreToCome: boolean): Promise<void>;
  /** Called once, when the agent is done with it. */
  close?(): Promise<void>;
  /** Said once in the worker's log: how scripts run here, when it matters for reading their logs. */
  readonly note?: string;
}

export class ScriptExecutor implements Executor {
  readonly #workDir: string;
  #cache: SourceCache;
  /** Where each task's inputs go: one directory, emptied after each task rather than made again (see refreshTree). */
  readonly #inputs: string;
  readonly #cgroups: TaskCgroups | undefined;
  readonly #launcher: ScriptStarter | undefined;
  readonly note: string | undefined;
  #tree: string | null = null;
  #limits: ArchiveLimits = defaultArchiveLimits;
  /** What the last job left: its working directory, its inputs, and the tree it was a copy of. */
  #untidy: { cwd: string; inputs: string | null; tree: string | null } | undefined;
  #tidying: Promise<void> = Promise.resolve();

  /**
   * With `cgroups`, each script runs in a cgroup of its own (see openTaskCgroups); with
   * `launcher`, a launcher process starts them (else the agent forks itself).
   */
  constructor(workDir: string, options: { cgroups?: TaskCgroups; launcher?: ScriptStarter; note?: string } = {}) {
    this.#workDir = workDir;
    this.#cache = new SourceCache(workDir);
    this.#inputs = join(workDir, 'inputs');
    this.#cgroups = options.cgroups;
    this.#launcher = options.launcher;
    this.note = options.note;
  }

  /**
   * The executor an agent runs its scripts with: in cgroups where it can have them, started
   * by a launcher where one can run. `placedIn`: the cgroup the server puts the agent in.
   */
  static async open(workDir: string, options: { placedIn?: string; say: (line: string) => void }): Promise<ScriptExecutor> {
    // The launcher is born in the agent's own cgroup, so the cgroups come first.
    const { cgroups, note } = await openTaskCgroups(options.placedIn);
    const { starter, note: starting } = await ScriptStarter.open(workDir, options.say);
    return new ScriptExecutor(workDir, { cgroups, launcher: starter, note: `${note}; ${starting}` });
  }

  async prepare(settings: WorkerSettings, download: () => Promise<Response>): Promise<void> {
    // A coordinator from before the limits sends none: the defaults hold.
    if (settings.source_limits) {
      this.#limits = { maxUnpackedBytes: settings.source_limits.max_unpacked_bytes, maxMembers: settings.source_limits.max_archive_members };
    }
    if (settings.source_digest) this.#tree = await this.#cache.ensure(settings.source_digest, download, this.#limits);
  }

  async run(job: Job): Promise<ScriptResult> {
    await this.tidy();
    const tree = job.source ? await this.#cache.ensure(job.source.digest, job.source.download, this.#limits) : this.#tree;
    const cwd = await this.#cache.workdir(tree, job.name);
    // Outside the tree's copy, so nothing the task keeps of its own is mistaken for an input.
    const inputs = this.#inputs;
    const say = (line: string) => job.onOutput(`${line}\n`);
    let result: ScriptResult | undefined;
    try {
      const prepared = job.files && await prepareFiles(cwd, inputs, job.files, this.#limits, say);
      result = await runScript({
        script: job.script, cwd, env: job.files ? { ...job.env, SLIPWAY_INPUTS: inputs } : job.env,
        timeoutMs: job.timeoutMs, signal: job.signal, onOutput: job.onOutput, cgroups: this.#cgroups, launcher: this.#launcher,
      });
      if (result.outcome === 'succeeded' && job.files) await keepFiles(cwd, job.files, prepared!, say);
      return result;
    } catch (error) {
      if (!(error instanceof TaskFilesError)) throw error;
      return { outcome: 'failed', exitCode: null, signal: null, error: error.message, scriptMs: result?.scriptMs ?? null };
    } finally {
      this.#untidy = { cwd, inputs: job.files ? inputs : null, tree };
    }
  }

  /** Nothing left of past jobs: their directories, and a copy made ahead. */
  async #clearWork(): Promise<void> {
    await this.tidy();
    this.#cache.dropCopyAhead();
  }

  tidy(moreToCome = false): Promise<void> {
    const untidy = this.#untidy;
    this.#untidy = undefined;
    if (untidy) {
      this.#tidying = this.#tidying.then(async () => {
        // After the turn that sent the job's end: the report leaves first.
        await nextTurn();
        if (untidy.inputs) emptyInputs(untidy.inputs);
        // Made ready now, from this task's directory, the next task of the tree needs only to rename it.
        await this.#cache.discard(untidy.cwd, moreToCome ? untidy.tree : null);
      });
    }
    return this.#tidying;
  }

  /**
   * Gives the work directory and the scripts' cgroups to `owner`, which the agent (root
   * until now) becomes next. What the cache found it could do as root (mount overlays) is
   * found again.
   */
  async handOver(owner: Owner): Promise<void> {
    await this.#clearWork();
    await giveTree(this.#workDir, owner);
    this.#cgroups?.handOver(owner);
    this.#cache = new SourceCache(this.#workDir);
    // The launcher is root's: the next script starts one of the agent's uid, which is the owner's by then.
    await this.#launcher?.restart();
  }

  async close(): Promise<void> {
    try {
      await this.#clearWork();
    } finally {
      await this.#launcher?.close();
      await this.#cgroups?.close();
    }
  }
}

export interface AgentOptions {
  server: string;
  /** A provider's one-time registration token, or a run's join token with `activity`. */
  token: string;
  activity?: string;
  executor: Executor;
  /** The agent's own diagnostics (not task output). */
  say?: (line: string) => void;
  /** Shown in `ps`: the worker's current name. */
  onName?: (name: string) => void;
  /** How long to keep trying to reach the coordinator before giving up (default 10 minutes). */
  reconnectMs?: number;
  /** Where this machine records the prepare scripts it ran (default ~/.slipway/prepared). */
  preparedDir?: string;
  /** PEM: the coordinator's certificate, the only one an https `server` is trusted with. */
  serverCertificate?: string;
  /**
   * Called once, after the machine's prepare and the worker's init and before its first
   * task: where an agent started as root becomes its task user. What it returns goes in
   * the worker's log.
   */
  beforeTasks?: () => Promise<string>;
}

/**
 * One worker: registers, runs init once, claims and runs tasks until it is idle too long,
 * a task fails or it is told to stop, then runs cleanup and says it stopped.
 */
export class Agent {
  readonly #client: WorkerClient;
  readonly #options: AgentOptions;
  readonly #shutdown = new AbortController();
  #current: AbortController | undefined;
  #unreachable = false;
  /** The coordinator refused the worker's log: its credential ended. */
  #logRefused = false;
  /** The values of every secret this worker's attempts were given. */
  readonly #secretsSeen = new Set<string>();

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#client = new WorkerClient(options.server, options.token, {
      windowMs: options.reconnectMs ?? defaultReconnectMs,
      say: (line) => this.#say(line),
      // Told to stop, the agent does not wait for a coordinator that went away: every request honours it.
      stopping: this.#shutdown.signal,
    }, options.serverCertificate);
  }

  /** Asks the agent to stop: the task in flight is cancelled, cleanup still runs. */
  stop(): void {
    this.#shutdown.abort();
    this.#current?.abort();
  }

  /** Runs the worker to its end; resolves with why it stopped. */
  async run(): Promise<AgentStop> {
    let registered;
    try {
      registered = await this.#client.register({ activity: this.#options.activity, hostname: hostname(), pid: process.pid });
    } catch (error) {
      // Not registered, the agent ends here: what the executor holds (its cgroups) goes now.
      await this.#options.executor.close?.();
      if (error instanceof StopRequested) {
        this.#say(`not needed: ${error.message}`);
        return { cause: 'told', reason: `not needed: ${error.message}` };
      }
      // Not registered, it has no cleanup to run nor credential to report its stop with.
      if (error instanceof CoordinatorUnreachable && this.#shutdown.signal.aborted) {
        this.#say(`stopped: asked to stop before it could register (${error.message})`);
        return { cause: 'asked', reason: 'asked to stop before it could register' };
      }
      throw error;
    }
    const { settings } = registered;
    this.#setName(registered.worker.name);
    this.#say(`registered as ${registered.worker.id} (${registered.worker.name}) for ${registered.worker.activity} of run ${registered.worker.run}`);

    const { note } = this.#options.executor;
    if (note) {
      this.#say(note);
      await this.#log(`--- ${note} ---\n`).catch(() => undefined);
    }
    let stop: AgentStop;
    try {
      await this.#options.executor.prepare(settings, () => this.#client.source());
      stop = (await this.#prepare(settings.prepare)) ?? (await this.#init(settings.init)) ?? (await this.#serve(settings));
    } catch (error) {
      if (error instanceof CoordinatorUnreachable) this.#unreachable = true;
      // Told to stop, an agent that cannot tell its coordinator how its attempt ended stops as asked.
      stop = this.#unreachable && this.#shutdown.signal.aborted
        ? { cause: 'asked', reason: `asked to stop (${(error as Error).message})` }
        : { cause: 'agent_error', reason: `agent error: ${(error as Error).message}` };
    }
    if (settings.cleanup) await this.#workerScript('cleanup', settings.cleanup);
    await this.#options.executor.close?.();
    // A coordinator that could not be reached for the whole window is not waited for again.
    if (!this.#unreachable) {
      const told = await this.#client.stopped(stop).catch((error: Error) => this.#say(`could not report the stop: ${error.message}`));
      if (told === false) this.#say('the coordinator had already let this worker go (its credential ended): the stop is not reported');
    }
    this.#say(`stopped: ${stop.reason}`);
    return stop;
  }

  /** The machine's prepare script, unless this machine (or its image) already ran it. */
  async #prepare(prepare: WorkerSettings['prepare']): Promise<AgentStop | undefined> {
    if (!prepare) return undefined;
    const dir = this.#options.preparedDir ?? join(homedir(), '.slipway', 'prepared');
    let error = 'failed';
    const done = await ensurePrepared(dir, prepare.fingerprint, async () => {
      const result = await this.#workerScript('prepare', prepare);
      error = result.error ?? result.outcome;
      return result.outcome === 'succeeded';
    }, this.#shutdown.signal);
    if (done === 'already') await this.#log(`--- prepare: this machine is ready (${prepare.fingerprint.slice(0, 12)}) ---\n`).catch(() => undefined);
    return done === 'failed' ? { cause: 'init_failed', reason: `prepare ${error}` } : undefined;
  }

  async #init(init: WorkerScript | null): Promise<AgentStop | undefined> {
    if (!init) return undefined;
    const result = await this.#workerScript('init', init);
    return result.outcome === 'succeeded' ? undefined : { cause: 'init_failed', reason: `init ${result.error ?? result.outcome}` };
  }

  async #serve(settings: WorkerSettings): Promise<AgentStop> {
    const asked: AgentStop = { cause: 'asked', reason: 'asked to stop' };
    if (this.#options.beforeTasks) await this.#log(`--- ${await this.#options.beforeTasks()} ---\n`);
    let idleSince = Date.now();
    let next: HandedOut | undefined;
    for (;;) {
      if (this.#shutdown.signal.aborted) return asked;
      if (!next) {
        const step = idleStep(settings, Date.now() - idleSince);
        if (step.kind === 'stop') return { cause: 'idle', reason: `idle for ${Math.round(settings.idle_timeout_ms / 1000)}s` };
        const { pastIdle } = step;
        let claimed;
        try {
          claimed = await this.#client.claim(step.waitMs, this.#shutdown.signal, pastIdle);
        } catch (error) {
          if (this.#shutdown.signal.aborted) return asked;
          throw error;
        }
        if ('stop' in claimed) return { cause: pastIdle ? 'idle' : 'told', reason: `${pastIdle ? 'idle' : 'told to stop'}: ${claimed.stop}` };
        if ('none' in claimed) continue;
        next = claimed;
      }
      const order = next.attempt;
      this.#setName(next.name);
      const { result, finished, endedAt } = await this.#attempt(order, settings);
      if (finished.name) this.#setName(finished.name);
      if (order.kind === 'run' && result.outcome !== 'succeeded') return { cause: 'task_failed', reason: `task ${order.task} ${result.outcome}` };
      if (finished.stop) return this.#shutdown.signal.aborted ? asked : { cause: 'told', reason: 'told to stop' };
      next = finished.next;
      idleSince = endedAt;
    }
  }

  /** Runs one attempt with its heartbeat and output stream, and reports how it ended. */
  async #attempt(order: AttemptOrder, settings: WorkerSettings) {
    const control = new AbortController();
    const ended = new AbortController();
    this.#current = control;
    if (this.#shutdown.signal.aborted) control.abort();
    const output = new OutputBatcher({ flush: (text) => this.#client.output(order.id, text) });
    // Secrets never leave this machine in the clear: the output is masked before it is sent.
    for (const value of Object.values(order.secrets ?? {})) this.#secretsSeen.add(value);
    const mask = new SecretMask(Object.values(order.secrets ?? {}));
    const beating = this.#heartbeat(order.id, settings.heartbeat_interval_ms, control, ended.signal);
    let result: ScriptResult;
    try {
      result = await this.#options.executor.run({
        name: order.id, script: order.script, env: { ...order.env, ...order.secrets }, timeoutMs: order.timeout_ms,
        signal: control.signal, onOutput: (text) => output.push(mask.push(text)),
        ...(order.source_digest && { source: { digest: order.source_digest, download: () => this.#client.source(order.run) } }),
        files: {
          inputs: order.inputs ?? [],
          // A bucket's blob comes straight from the bucket, by the URL the coordinator signed.
          download: (input) => (input.url ? getSigned(input.url) : this.#client.input(order.id, input.sha256)),
          ...(order.kind === 'run' && order.artifacts && { artifacts: order.artifacts }),
          upload: (path, file) => keepArtifact(this.#client, order.id, path, file),
          ...(order.cache && { cache: { order: order.cache, client: this.#client.cacheOf(order.id) } }),
        },
      });
    } finally {
      this.#current = undefined;
      ended.abort(attemptEnded);
      output.push(mask.end());
      await output.close().catch((error: Error) => this.#say(`output of ${order.id} not delivered: ${error.message}`));
    }
    if (this.#unreachable) {
      await beating;
      throw new CoordinatorUnreachable(`attempt ${order.id} ${result.outcome}, and the coordinator cannot be told`);
    }
    // Finishing releases the heartbeat the coordinator may be holding, so it is awaited after.
    // A worker that will go on asks for its next attempt in the same call.
    const goesOn = !this.#shutdown.signal.aborted && (result.outcome === 'succeeded' || (order.kind === 'check' && result.outcome === 'failed'));
    // Idle from here, should no next attempt come: the finish may have waited for one.
    const endedAt = Date.now();
    const [finished] = await Promise.all([
      this.#finish(order.id, {
        outcome: result.outcome, exit_code: result.exitCode, error: result.error, script_ms: result.scriptMs, claim_next: goesOn, wait_ms: goesOn ? nextWaitMs(settings) : 0,
      }),
      this.#options.executor.tidy?.(goesOn),
    ]);
    await beating;
    return { result, finished, endedAt };
  }

  /**
   * Reports an attempt's end. One that waits for the next attempt is a long poll, given up
   * when the agent is asked to stop: the end was recorded before the wait began (should the
   * report itself not have arrived, the worker's stop loses the attempt, which runs again).
   */
  async #finish(attemptId: string, report: FinishRequest): Promise<FinishAnswer> {
    if (report.wait_ms === 0) return this.#client.finish(attemptId, report);
    try {
      return await this.#client.finish(attemptId, report, this.#shutdown.signal);
    } catch (error) {
      if (!this.#shutdown.signal.aborted) throw error;
      return { stop: true };
    }
  }

  /**
   * Heartbeats are long polls the coordinator answers early to cancel the attempt. The
   * first waits a moment: a task that ends at once needs none, and no request is ever
   * aborted (an aborted request costs its connection).
   */
  async #heartbeat(attemptId: string, intervalMs: number, control: AbortController, ended: AbortSignal): Promise<void> {
    await sleep(Math.min(firstHeartbeatMs, intervalMs), ended);
    while (!ended.aborted) {
      try {
        const answer = await this.#client.heartbeat(attemptId, intervalMs);
        if (answer !== 'ok' && !ended.aborted) {
          this.#say(answer === 'cancel' ? `attempt ${attemptId} cancelled` : `attempt ${attemptId} is no longer ours`);
          control.abort();
        }
      } catch (error) {
        if (ended.aborted) return;
        if (error instanceof CoordinatorUnreachable) {
          // Nobody is left to report to: the attempt is given up on, the worker stops.
          this.#unreachable = true;
          this.#say(`${error.message}; stopping attempt ${attemptId}`);
          control.abort();
          return;
        }
        this.#say(`heartbeat failed: ${(error as Error).message}`);
        await sleep(Math.min(1000, intervalMs), ended);
      }
    }
  }

  async #workerScript(kind: 'prepare' | 'init' | 'cleanup', job: WorkerScript): Promise<ScriptResult> {
    const output = new OutputBatcher({ flush: (text) => this.#log(text) });
    // A cleanup may print what a task left behind: the secrets of the worker's attempts are masked here too.
    const mask = new SecretMask(this.#secretsSeen);
    output.push(`--- ${kind} ---\n`);
    // Cleanup runs even when the agent is stopping, so it must not inherit that signal.
    const signal = kind === 'cleanup' ? new AbortController().signal : this.#shutdown.signal;
    const result = await this.#options.executor.run({
      name: kind, script: job.script, env: job.env, timeoutMs: kind === 'cleanup' ? cleanupTimeoutMs : null, signal,
      onOutput: (text) => output.push(mask.push(text)),
    });
    output.push(mask.end());
    output.push(`--- ${kind} ${result.outcome}${result.error ? `: ${result.error}` : ''} ---\n`);
    await output.close().catch(() => undefined);
    return result;
  }

  /**
   * Appends to the worker's log on the coordinator. Once the coordinator takes no more of it
   * (the credential ended with the run, whose end started the cleanup) or cannot be reached,
   * the text goes to the agent's own log instead, so a cleanup's output is not lost.
   */
  async #log(text: string): Promise<void> {
    if (!this.#logRefused && !this.#unreachable) {
      try {
        if (await this.#client.log(text)) return;
        this.#logRefused = true;
        this.#say('the coordinator takes no more of this worker\'s log (its credential ended); it goes on here');
      } catch (error) {
        if (!(error instanceof CoordinatorUnreachable)) throw error;
        this.#unreachable = true;
        this.#say(`${error.message}; this worker's log goes on here`);
      }
    }
    this.#say(text.replace(/\n$/, ''));
  }

  #setName(name: string): void {
    this.#options.onName?.(name);
  }

  #say(line: string): void {
    this.#options.say?.(line);
  }
}
