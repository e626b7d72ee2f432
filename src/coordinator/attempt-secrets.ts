import type { Db } from '../store/store.ts';
import { sealedSecrets } from '../store/secrets.ts';
import { secretsKey, unseal } from '../secrets/sealing.ts';
import type { RunSpec } from './run-specs.ts';

export type AttemptSecrets = { secrets: Record<string, string> } | { refused: string } | undefined;

/**
 * The secrets an attempt of the step gets, read from the store and unsealed now, so they
 * live only in the order sent to its worker. `refused` says why the attempt cannot have
 * them (a secret that does not exist, a try not allowed it): the attempt then fails
 * with that error. Undefined when the step lists none, or no script runs (--fake-workers).
 */
export async function attemptSecrets(db: Db, stateDir: string, spec: RunSpec, stepName: string, trySecrets: readonly string[]): Promise<AttemptSecrets> {
  const found = await sealedSecretsOf(db, spec, stepName, trySecrets);
  if (!found || 'refused' in found) return found;
  try {
    const key = secretsKey(stateDir, false);
    return { secrets: Object.fromEntries(found.rows.map((row) => [row.name, unseal(key, row.name, row.sealed)])) };
  } catch (error) {
    return { refused: `step ${stepName}'s secrets cannot be read: ${(error as Error).message}` };
  }
}

type SecretsOfRun = Pick<RunSpec, 'pipeline' | 'options' | 'isTry'>;

/**
 * What a new run is told of its steps' secrets: for each step whose attempts would be
 * refused them now, why. Read when the run is created, so its user hears it at once, not
 * when the step's tasks start, perhaps an hour later.
 */
export async function secretRefusals(db: Db, run: SecretsOfRun, stepNames: Iterable<string>, trySecrets: readonly string[]): Promise<string[]> {
  const refusals: string[] = [];
  for (const stepName of new Set(stepNames)) {
    const found = await sealedSecretsOf(db, run, stepName, trySecrets);
    if (found && 'refused' in found) refusals.push(found.refused);
  }
  return refusals;
}

/** The step's secrets, sealed, or why its attempts cannot have them; undefined when it lists none or runs no script. */
async function sealedSecretsOf(
  db: Db, run: SecretsOfRun, stepName: string, trySecrets: readonly string[],
): Promise<{ rows: { name: string; sealed: string }[] } | { refused: string } | undefined> {
  const names = run.pipeline.steps[stepName]?.secrets ?? [];
  if (names.length === 0 || run.options.fakeWorkers) return undefined;
  if (run.isTry) {
    const barred = names.filter((name) => !trySecrets.includes(name));
    if (barred.length > 0) {
      return { refused: `step ${stepName} lists secret${barred.length > 1 ? 's' : ''} ${barred.join(', ')}, which a try does not get (the config's [secrets] try allows some)` };
    }
  }
  const rows = await sealedSecrets(db, names);
  const missing = names.filter((name) => !rows.some((row) => row.name === name));
  if (missing.length > 0) {
    return { refused: `step ${stepName} lists secret${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which the coordinator does not have (slipway secrets set ${missing[0]})` };
  }
  return { rows };
}
