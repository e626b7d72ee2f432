/** How a run was asked to execute, beyond its pipeline and selection. */
export interface RunOptions {
  /** Replace every script by one that prints what would have run. */
  fakeWorkers: boolean;
  /** Start no worker: the user starts them by hand. */
  noProvision: boolean;
  /** What the run may spend on machines (USD): `--budget`, over the pipeline's budget_usd. */
  budgetUsd?: number;
}
