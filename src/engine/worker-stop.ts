/** Why a worker ended: said by the agent, or decided by the coordinator. */
export type StopCause =
  | 'idle'          // no task for idle_timeout
  | 'task_failed'   // a failed task ends its worker (DESIGN)
  | 'init_failed'
  | 'told'          // the coordinator drained it: run over, cancelled, scaled down
  | 'asked'         // its process was signalled
  | 'agent_error'
  | 'start_failed'  // the provider could not start its machine
  | 'lost';         // silent, or its process died

export interface WorkerStop {
  cause: StopCause;
  reason: string;
}

export const agentStopCauses = ['idle', 'task_failed', 'init_failed', 'told', 'asked', 'agent_error'] as const;

/** Workers that never became able to take a task. */
const neverWorked: ReadonlySet<string> = new Set<StopCause>(['init_failed', 'start_failed']);

/**
 * An activity gives up when its last `threshold` workers all failed to come up: starting
 * more would loop forever (a broken init script, a provider that refuses every start), so
 * its queued tasks fail with the cause instead.
 */
export function givesUp(latestFirst: readonly { cause: string | null }[], threshold = 3): boolean {
  return latestFirst.length >= threshold && latestFirst.slice(0, threshold).every((w) => neverWorked.has(w.cause ?? ''));
}
