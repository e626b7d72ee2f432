/**
 * A task id as one directory name: `$SLIPWAY_INPUTS/<task>/…` on a worker, and
 * `slipway artifacts --download DIR` puts files in `DIR/<task>/…`. A matrix value may hold
 * `/`, which would make two names of one; it and `%` are percent-encoded, nothing else is.
 */
export function taskDirName(task: string): string {
  return task.replaceAll('%', '%25').replaceAll('/', '%2F');
}
