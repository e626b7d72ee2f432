import { realTimer, type Clock } from '../../src/engine/clock.ts';

/**
 * A clock that moves only when the test says so. Its timers run in real time: tests move
 * the clock to reach a decision, and what waits (a long poll, a retry) stays short.
 */
export class ManualClock implements Clock {
  #now: number;

  constructor(start = Date.UTC(2026, 10, 22)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  after(ms: number, action: () => void): () => void {
    return realTimer(ms, action);
  }

  advance(ms: number): void {
    this.#now += ms;
  }
}
