import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { holdLease, releaseLeases } from '../../src/coordinator/ops/hold-lease.ts';
import type { Coordinator } from '../../src/coordinator/coordinator.ts';
import type { Store } from '../../src/store/store.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { waitFor } from '../helpers/processes.ts';
import { tempDir } from '../helpers/temp.ts';
import { openTestStore } from '../helpers/test-store.ts';

describe('the lease on periodic work', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: Store;

  beforeEach(async () => {
    dir = tempDir();
    store = await openTestStore(join(dir.path, 'leases'));
  });

  afterEach(async () => {
    await store.close();
    dir.remove();
  });

  it('is held by one coordinator at a time, renewed by it, and taken by another once it runs out on the database clock', async () => {
    expect(await holdLease(store.db, 'health', 'c-a', 60_000)).toBe(true);
    expect(await holdLease(store.db, 'health', 'c-b', 60_000)).toBe(false);
    expect(await holdLease(store.db, 'health', 'c-a', 60_000)).toBe(true);
    // Another lease is another name.
    expect(await holdLease(store.db, 'other', 'c-b', 60_000)).toBe(true);
    // A short lease, not renewed: the other takes it when it has run out, and then only it holds it.
    expect(await holdLease(store.db, 'health', 'c-a', 100)).toBe(true);
    await waitFor(() => holdLease(store.db, 'health', 'c-b', 60_000), 10_000, 'the lease to run out');
    expect(await holdLease(store.db, 'health', 'c-a', 60_000)).toBe(false);
    // Given up, it is free at once.
    await releaseLeases(store.db, 'c-b');
    expect(await holdLease(store.db, 'health', 'c-a', 60_000)).toBe(true);
  });
});

describe("coordinators' periodic work", () => {
  let dir: ReturnType<typeof tempDir>;
  let made: { store: Store; coordinator: Coordinator }[];

  beforeEach(async () => {
    dir = tempDir();
    const storePath = join(dir.path, 'shared');
    made = [];
    for (let i = 0; i < 2; i++) made.push(await testCoordinator(dir.path, { storePath, settings: { healthIntervalMs: 50 } }));
    for (const { coordinator } of made) coordinator.start({ local: 'http://127.0.0.1:1', remote: 'http://127.0.0.1:1' });
  });

  afterEach(async () => {
    for (const { coordinator, store } of made) {
      await coordinator.close();
      await store.close();
    }
    dir.remove();
  });

  it('runs on one of them, and on the other once that one closes', async () => {
    const holder = async () => (await made[0]!.store.db.selectFrom('leases').select('holder').where('name', '=', 'health').executeTakeFirst())?.holder;
    await waitFor(async () => (await holder()) !== undefined, 10_000, 'a coordinator to take the lease');
    const first = await holder();
    const ids = await made[0]!.store.db.selectFrom('coordinators').select('id').execute();
    expect(ids.map((row) => row.id)).toContain(first);
    const [closing, staying] = made[0]!.coordinator.id === first ? [made[0]!, made[1]!] : [made[1]!, made[0]!];
    await closing.coordinator.close();
    await waitFor(async () => (await holder()) === staying.coordinator.id, 10_000, 'the other coordinator to take the lease');
  });
});
