/** Who a worker request comes from, as its credential says: the worker, the run it was started for, its activity. */
export interface WorkerIdentity {
  workerId: string;
  runId: string;
  activity: string;
}
