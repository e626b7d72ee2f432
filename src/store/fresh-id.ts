import type { InsertResult } from 'kysely';
import { newId } from '../util/ids.ts';

/**
 * Inserts a row under a new random id, drawing another in the rare case the id is taken.
 * Run and worker ids have 32 random bits, so a store with many rows meets a repeat now and
 * then (even odds by about 77,000 rows; a simulated ten days met one). `insert` inserts with
 * ON CONFLICT DO NOTHING and answers what it inserted: nothing costs an extra statement
 * unless the id was taken. `first`: the id to try first, drawn already (and written elsewhere).
 */
export async function insertWithFreshId(prefix: 'r' | 'w' | 'a', insert: (id: string) => Promise<InsertResult | number>, first?: string): Promise<string> {
  for (let id = first ?? newId(prefix); ; id = newId(prefix)) {
    const result = await insert(id);
    if (Number(typeof result === 'number' ? result : result.numInsertedOrUpdatedRows ?? 0) > 0) return id;
  }
}
