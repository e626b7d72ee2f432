import { EventEmitter } from 'node:events';
import type { RunEvent } from '../engine/events.ts';

/** Committed events, fanned out to whoever follows them (CLI progress, live UI). */
export class EventBus {
  readonly #emitter = new EventEmitter().setMaxListeners(0);

  publish(events: readonly RunEvent[]): void {
    for (const event of events) this.#emitter.emit('event', event);
  }

  subscribe(listener: (event: RunEvent) => void): () => void {
    this.#emitter.on('event', listener);
    return () => this.#emitter.off('event', listener);
  }
}
