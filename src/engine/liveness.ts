/** A worker that has not been heard from within the timeout is lost. */
export function isSilent(lastSeenAt: number, now: number, heartbeatTimeoutMs: number): boolean {
  return now - lastSeenAt > heartbeatTimeoutMs;
}

/** How often an agent must be heard from so that one missed beat is not yet a loss. */
export function heartbeatIntervalMs(heartbeatTimeoutMs: number): number {
  return Math.max(50, Math.floor(heartbeatTimeoutMs / 4));
}
