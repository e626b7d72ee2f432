/**
 * Time comes in from outside so the engine can be driven by tests and the simulator: what
 * time it is, and the coordinator's waits (retry delays, periodic checks), which a
 * simulated clock runs in its own time.
 */
export interface Clock {
  now(): number;
  /** Runs `action` once `ms` of this clock's time have passed; the function returned cancels it. Never keeps the process alive. */
  after(ms: number, action: () => void): () => void;
}

/** Runs `action` after the clock's real time (setTimeout, unref'd). */
export function realTimer(ms: number, action: () => void): () => void {
  const timer = setTimeout(action, Math.max(0, ms));
  timer.unref();
  return () => clearTimeout(timer);
}

export const systemClock: Clock = { now: () => Date.now(), after: realTimer };

/** Runs `action` every `ms` of the clock's time until the function returned is called. */
export function every(clock: Clock, ms: number, action: () => void): () => void {
  let cancel = (): void => undefined;
  let stopped = false;
  const schedule = (): void => {
    cancel = clock.after(ms, () => {
      if (stopped) return;
      schedule();
      action();
    });
  };
  schedule();
  return () => { stopped = true; cancel(); };
}
