/** Time comes in from outside so the engine can be driven by tests and the simulator. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
