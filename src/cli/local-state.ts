import { existsSync } from 'node:fs';
import { defaultStorePath, stateDir } from '../config/paths.ts';
import { openSqliteStore, type Store } from '../store/store.ts';
import { UsageError } from './usage-error.ts';

/** The store that `slipway run` writes: the state directory's, or the one --db names. */
export async function openLocalStore(dbPath: string | undefined): Promise<Store> {
  const path = dbPath ?? defaultStorePath(stateDir());
  if (!existsSync(path)) throw new UsageError(`no store at ${path}: nothing has run here yet (or pass --db PATH)`);
  return openSqliteStore(path);
}

/** How the user invoked Slipway, for commands we print back to them. */
export function selfCommand(): string {
  return process.env.SLIPWAY_COMMAND || 'slipway';
}
