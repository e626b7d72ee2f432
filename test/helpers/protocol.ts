import { afterEach, beforeEach } from 'vitest';
import type { Coordinator, CoordinatorSettings, WorkerIdentity } from '../../src/coordinator/coordinator.ts';
import type { RunEvent } from '../../src/engine/events.ts';
import { expandTasks } from '../../src/pipeline/expand.ts';
import type { Pipeline, Selection } from '../../src/pipeline/types.ts';
import type { FoundMachine, MachineHandle, Provider, StartRequest, StopOptions } from '../../src/providers/provider.ts';
import { runReport } from '../../src/store/run-report.ts';
import type { Store } from '../../src/store/store.ts';
import { testCoordinator } from './coordinator.ts';
import { ManualClock } from './manual-clock.ts';
import { tempDir } from './temp.ts';

/** Records what the coordinator asks for; machines are the test's own calls to register. */
export class RecordingProvider implements Provider {
  readonly name = 'local';
  /** Whether its machines share the coordinator's, as local workers do (they then ramp up). */
  onThisMachine = false;
  readonly starts: StartRequest[] = [];
  readonly stops: MachineHandle[] = [];
  readonly stopOptions: StopOptions[] = [];
  /** Machines that no longer run, by worker id; status() says so. */
  readonly gone = new Set<string>();
  /** Throws from start() while it returns an error. */
  failStart: (request: StartRequest) => Error | undefined = () => undefined;
  /** Extra fields of every machine handle, such as its price. */
  handleExtras: MachineHandle = {};

  /** The price its handles state, known before a start as a cloud's price list is. */
  hourlyUsd(): number | undefined {
    const price = this.handleExtras.hourly_usd;
    return typeof price === 'number' ? price : undefined;
  }

  async start(request: StartRequest): Promise<MachineHandle> {
    this.starts.push(request);
    const failure = this.failStart(request);
    if (failure) throw failure;
    return { pid: 0, worker: request.workerId, ...this.handleExtras };
  }

  async stop(machine: MachineHandle, options: StopOptions = {}): Promise<void> {
    this.stops.push(machine);
    this.stopOptions.push(options);
  }

  /** Names pushed to machines, as "worker name". */
  readonly renames: string[] = [];

  async rename(machine: MachineHandle, name: string): Promise<void> {
    this.renames.push(`${machine.worker} ${name}`);
  }

  async status(machine: MachineHandle): Promise<'running' | 'gone'> {
    return this.gone.has(String(machine.worker)) ? 'gone' : 'running';
  }

  readonly #exitListeners: ((workerId: string, description: string, clean: boolean) => void)[] = [];

  onExit(listener: (workerId: string, description: string, clean: boolean) => void): void {
    this.#exitListeners.push(listener);
  }

  /** The machine's agent exits, as a real one does after its cleanup. */
  exit(workerId: string, clean = true): void {
    for (const listener of this.#exitListeners) listener(workerId, clean ? 'agent process 1 exited with code 0' : 'agent process 1 killed by SIGKILL', clean);
  }

  /** Whether inventory() lists the machines started and not stopped since (off: the health check reconciles nothing). */
  listsMachines = false;

  async inventory(): Promise<FoundMachine[]> {
    if (!this.listsMachines) return [];
    const stopped = new Set(this.stops.map((m) => String(m.worker)));
    return this.starts.filter((s) => !stopped.has(s.workerId)).map((s) => ({ workerId: s.workerId, machine: { pid: 0, worker: s.workerId, ...this.handleExtras } }));
  }
}

/**
 * A coordinator on a real store driven through the worker protocol by the test itself,
 * with a manual clock: no processes, no sleeps. Call inside a describe().
 */
export function protocolHarness(settings: Partial<CoordinatorSettings> = {}) {
  const h = {} as {
    dir: ReturnType<typeof tempDir>;
    store: Store;
    clock: ManualClock;
    provider: RecordingProvider;
    coordinator: Coordinator;
    events: RunEvent[];
  };

  beforeEach(async () => {
    h.dir = tempDir();
    h.clock = new ManualClock();
    h.provider = new RecordingProvider();
    ({ store: h.store, coordinator: h.coordinator } = await testCoordinator(h.dir.path, { clock: h.clock, providers: [h.provider], storePath: ':memory:', settings }));
    h.coordinator.start({ local: 'http://127.0.0.1:1', remote: 'http://127.0.0.1:1' });
    h.events = [];
    h.coordinator.events.subscribe((e) => h.events.push(e));
  });

  afterEach(async () => {
    await h.coordinator.close();
    await h.store.close();
    h.dir.remove();
  });

  async function start(pipeline: Pipeline, selection: Selection = {}): Promise<string> {
    pipeline.sourceDir = `${h.dir.path}/source`;
    const { runId } = await h.coordinator.createRun(pipeline, expandTasks(pipeline, selection), selection, { fakeWorkers: false, noProvision: false });
    await h.coordinator.settled();
    return runId;
  }

  /** Registers the machine of the `index`-th start request. */
  async function worker(index: number): Promise<WorkerIdentity> {
    const registration = await h.coordinator.register(h.provider.starts[index]!.registrationToken);
    if (registration.kind !== 'registered') throw new Error(`not registered: ${registration.kind}`);
    return { workerId: registration.workerId, runId: registration.runId, activity: registration.activity };
  }

  async function claimTask(w: WorkerIdentity) {
    const answer = await h.coordinator.claim(w, 0);
    return answer.kind === 'attempt' ? answer.attempt : answer.kind;
  }

  /** Claims and insists on getting an attempt. */
  async function claimAttempt(w: WorkerIdentity) {
    const attempt = await claimTask(w);
    if (typeof attempt === 'string') throw new Error(`no attempt: ${attempt}`);
    return attempt;
  }

  async function statuses(runId: string): Promise<Record<string, string>> {
    const report = await runReport(h.store.db, runId);
    return Object.fromEntries(report.tasks.map((t) => [t.id, t.status]));
  }

  return Object.assign(h, { start, worker, claimTask, claimAttempt, statuses });
}
