/**
 * A worker's name tells its state at a glance: `wa-<n>-<task>` while active on its n-th
 * task, `ww-<n>-<last task>` while waiting after n tasks (`ww-0-<activity>` when fresh).
 */
export function waitingName(tasksDone: number, lastTask: string | null, activity: string): string {
  return `ww-${tasksDone}-${lastTask ?? activity}`;
}

export function activeName(tasksDone: number, task: string): string {
  return `wa-${tasksDone + 1}-${task}`;
}
