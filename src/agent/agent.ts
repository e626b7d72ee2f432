import { hostname } from 'node:os';
import type { WorkerScript, WorkerSettings } from '../coordinator/coordinator.ts';
import type { AttemptOrder } from '../coordinator/ops/claim.ts';
import type { Script } from '../pipeline/types.ts';
import { StopRequested, WorkerClient } from './client.ts';
import { OutputBatcher } from './output-buffer.ts';
import { runScript, type ScriptResult } from './run-script.ts';
import { SourceCache } from './source-cache.ts';

const cleanupTimeoutMs = 10 * 60_000;

export interface Job {
  /** A name for the job's working directory: an attempt id, `init`, `cleanup`. */
  name: string;
  script: Script;
  env: Record<string, string>;
  timeoutMs: number | null;
  signal: AbortSignal;
  onOutput: (text: string) => void;
}

/** How the agent runs a script. The real one runs bash in a fresh copy of the source tree. */
export interface Executor {
  prepare(settings: WorkerSettings, download: () => Promise<Response>): Promise<void>;
  run(job: Job): Promise<ScriptResult>;
}

export class ScriptExecutor implements Executor {
  readonly #cache: SourceCache;
  #tree: string | null = null;

  constructor(workDir: string) {
    this.#cache = new SourceCache(workDir);
  }

  async prepare(settings: WorkerSettings, download: () => Promise<Response>): Promise<void> {
    if (settings.source_digest) this.#tree = await this.#cache.ensure(settings.source_digest, download);
  }

  async run(job: Job): Promise<ScriptResult> {
    const cwd = await this.#cache.workdir(this.#tree, job.name);
    try {
      return await runScript({ script: job.script, cwd, env: job.env, timeoutMs: job.timeoutMs, signal: job.signal, onOutput: job.onOutput });
    } finally {
      await this.#cache.discard(cwd);
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

  constructor(options: AgentOptions) {
    this.#options = options;
    this.#client = new WorkerClient(options.server, options.token);
  }

  /** Asks the agent to stop: the task in flight is cancelled, cleanup still runs. */
  stop(): void {
    this.#shutdown.abort();
    this.#current?.abort();
  }

  /** Runs the worker to its end; resolves with why it stopped. */
  async run(): Promise<string> {
    let registered;
    try {
      registered = await this.#client.register({ activity: this.#options.activity, hostname: hostname(), pid: process.pid });
    } catch (error) {
      if (error instanceof StopRequested) return `not needed: ${error.message}`;
      throw error;
    }
    const { settings } = registered;
    this.#setName(registered.worker.name);
    this.#say(`registered as ${registered.worker.id} (${registered.worker.name}) for ${registered.worker.activity} of run ${registered.worker.run}`);

    let reason: string;
    try {
      await this.#options.executor.prepare(settings, () => this.#client.source());
      reason = (await this.#init(settings.init)) ?? (await this.#serve(settings));
    } catch (error) {
      reason = `agent error: ${(error as Error).message}`;
    }
    if (settings.cleanup) await this.#workerScript('cleanup', settings.cleanup);
    await this.#client.stopped(reason).catch((error: Error) => this.#say(`could not report the stop: ${error.message}`));
    this.#say(`stopped: ${reason}`);
    return reason;
  }

  async #init(init: WorkerScript | null): Promise<string | undefined> {
    if (!init) return undefined;
    const result = await this.#workerScript('init', init);
    return result.outcome === 'succeeded' ? undefined : `init ${result.error ?? result.outcome}`;
  }

  async #serve(settings: WorkerSettings): Promise<string> {
    let idleSince = Date.now();
    for (;;) {
      if (this.#shutdown.signal.aborted) return 'asked to stop';
      const idleLeft = settings.idle_timeout_ms - (Date.now() - idleSince);
      if (idleLeft <= 0) return `idle for ${Math.round(settings.idle_timeout_ms / 1000)}s`;
      let claimed;
      try {
        claimed = await this.#client.claim(Math.min(idleLeft, settings.heartbeat_interval_ms), this.#shutdown.signal);
      } catch (error) {
        if (this.#shutdown.signal.aborted) return 'asked to stop';
        throw error;
      }
      if ('stop' in claimed) return `told to stop: ${claimed.stop}`;
      if ('none' in claimed) continue;
      this.#setName(claimed.name);
      const result = await this.#attempt(claimed.attempt, settings);
      const finished = await this.#client.finish(claimed.attempt.id, {
        outcome: result.outcome, exit_code: result.exitCode, error: result.error,
      });
      if (finished.name) this.#setName(finished.name);
      if (claimed.attempt.kind === 'run' && result.outcome !== 'succeeded') return `task ${claimed.attempt.task} ${result.outcome}`;
      if (finished.stop) return 'told to stop';
      idleSince = Date.now();
    }
  }

  async #attempt(order: AttemptOrder, settings: WorkerSettings): Promise<ScriptResult> {
    const control = new AbortController();
    this.#current = control;
    if (this.#shutdown.signal.aborted) control.abort();
    const output = new OutputBatcher({ flush: (text) => this.#client.output(order.id, text) });
    const beating = this.#heartbeat(order.id, settings.heartbeat_interval_ms, control);
    try {
      return await this.#options.executor.run({
        name: order.id, script: order.script, env: order.env, timeoutMs: order.timeout_ms,
        signal: control.signal, onOutput: (text) => output.push(text),
      });
    } finally {
      this.#current = undefined;
      control.abort();
      await beating;
      await output.close().catch((error: Error) => this.#say(`output of ${order.id} not delivered: ${error.message}`));
    }
  }

  /** Long-polled heartbeats; the coordinator answers early to cancel the attempt. */
  async #heartbeat(attemptId: string, intervalMs: number, control: AbortController): Promise<void> {
    while (!control.signal.aborted) {
      try {
        const answer = await this.#client.heartbeat(attemptId, intervalMs, control.signal);
        if (answer !== 'ok') {
          this.#say(answer === 'cancel' ? `attempt ${attemptId} cancelled` : `attempt ${attemptId} is no longer ours`);
          control.abort();
        }
      } catch (error) {
        if (control.signal.aborted) return;
        this.#say(`heartbeat failed: ${(error as Error).message}`);
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, intervalMs)));
      }
    }
  }

  async #workerScript(kind: 'init' | 'cleanup', job: WorkerScript): Promise<ScriptResult> {
    const output = new OutputBatcher({ flush: (text) => this.#client.log(text) });
    output.push(`--- ${kind} ---\n`);
    // Cleanup runs even when the agent is stopping, so it must not inherit that signal.
    const signal = kind === 'init' ? this.#shutdown.signal : new AbortController().signal;
    const result = await this.#options.executor.run({
      name: kind, script: job.script, env: job.env, timeoutMs: kind === 'cleanup' ? cleanupTimeoutMs : null, signal,
      onOutput: (text) => output.push(text),
    });
    output.push(`--- ${kind} ${result.outcome}${result.error ? `: ${result.error}` : ''} ---\n`);
    await output.close().catch(() => undefined);
    return result;
  }

  #setName(name: string): void {
    this.#options.onName?.(name);
  }

  #say(line: string): void {
    this.#options.say?.(line);
  }
}
