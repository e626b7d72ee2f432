import type { FoundMachine, MachineHandle, Provider, StartRequest, StopOptions } from '../src/providers/provider.ts';
import type { SeededRandom } from '../test/helpers/seeded-random.ts';

/**
 * A provider whose starts fail at random, as a cloud out of capacity or over its quota
 * does; everything else is the real provider's.
 */
export class FlakyProvider implements Provider {
  readonly name: string;
  readonly onThisMachine?: boolean;
  readonly #inner: Provider;
  readonly #failureRate: number;
  readonly #random: SeededRandom;
  readonly #onFault: (workerId: string) => void;

  constructor(inner: Provider, failureRate: number, random: SeededRandom, onFault: (workerId: string) => void) {
    this.name = inner.name;
    this.onThisMachine = inner.onThisMachine;
    this.#inner = inner;
    this.#failureRate = failureRate;
    this.#random = random;
    this.#onFault = onFault;
  }

  async start(request: StartRequest): Promise<MachineHandle> {
    if (this.#random.next() < this.#failureRate) {
      this.#onFault(request.workerId);
      throw new Error('injected: the provider refused the start');
    }
    return this.#inner.start(request);
  }

  stop(machine: MachineHandle, options?: StopOptions): Promise<void> {
    return this.#inner.stop(machine, options);
  }

  onExit(listener: (workerId: string, description: string, clean: boolean) => void): void {
    this.#inner.onExit?.(listener);
  }

  async status(machine: MachineHandle): Promise<'running' | 'gone' | 'unknown'> {
    return this.#inner.status ? this.#inner.status(machine) : 'unknown';
  }

  async inventory(owner: string): Promise<FoundMachine[]> {
    return this.#inner.inventory ? this.#inner.inventory(owner) : [];
  }
}
