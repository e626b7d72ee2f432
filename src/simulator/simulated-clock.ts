import type { Clock } from '../engine/clock.ts';

interface Timer {
  at: number;
  /** Order among timers due at the same time: the one set first runs first. */
  seq: number;
  action: () => void;
  cancelled: boolean;
}

/**
 * A clock whose time moves only when the simulation takes the next timer: no sleeping, so
 * a day of load runs as fast as the code it drives. Timers are kept in a binary heap.
 */
export class SimulatedClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #heap: Timer[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, action: () => void): () => void {
    const timer: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, action, cancelled: false };
    this.#push(timer);
    return () => { timer.cancelled = true; };
  }

  /** Resolves after `ms` of simulated time. */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => { this.after(ms, resolve); });
  }

  /** When the next timer is due, if any is set. */
  get next(): number | undefined {
    this.#dropCancelled();
    return this.#heap[0]?.at;
  }

  /** Moves the time to the next timer and runs it; false when none is set. */
  fireNext(): boolean {
    this.#dropCancelled();
    const timer = this.#pop();
    if (!timer) return false;
    this.#now = Math.max(this.#now, timer.at);
    timer.action();
    return true;
  }

  #dropCancelled(): void {
    while (this.#heap[0]?.cancelled) this.#pop();
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    heap.push(timer);
    for (let i = heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!earlier(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  #pop(): Timer | undefined {
    const heap = this.#heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length > 0 && last) {
      heap[0] = last;
      for (let i = 0; ;) {
        const left = 2 * i + 1;
        const right = left + 1;
        let first = i;
        if (left < heap.length && earlier(heap[left]!, heap[first]!)) first = left;
        if (right < heap.length && earlier(heap[right]!, heap[first]!)) first = right;
        if (first === i) break;
        [heap[i], heap[first]] = [heap[first]!, heap[i]!];
        i = first;
      }
    }
    return top;
  }
}

function earlier(a: Timer, b: Timer): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
