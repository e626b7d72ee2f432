import type { TestProject } from 'vitest/node';
import { startPostgresCluster } from './postgres.ts';

/** Global set-up of the vitest project "postgres": one private cluster for the run, stopped after it. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startPostgresCluster();
  project.provide('postgresUrl', cluster.url('postgres'));
  return () => cluster.stop();
}
