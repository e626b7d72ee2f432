import { useSyncExternalStore } from 'react';

/**
 * One shared second tick for every live duration and relative time on screen: one timer,
 * however many rows tick, and none while nothing shows a live time.
 */
let now = Date.now();
let timer: number | undefined;
const listeners = new Set<() => void>();

function subscribe(cb: () => void): () => void {
  listeners.add(cb);
  if (timer === undefined) {
    now = Date.now();
    timer = window.setInterval(() => {
      now = Date.now();
      for (const l of listeners) l();
    }, 1000);
  }
  return () => {
    listeners.delete(cb);
    if (listeners.size === 0 && timer !== undefined) {
      window.clearInterval(timer);
      timer = undefined;
    }
  };
}

export function useNow(live = true): number {
  const t = useSyncExternalStore(live ? subscribe : noSubscribe, () => now);
  return live ? t : now;
}

function noSubscribe(): () => void {
  return () => {};
}
