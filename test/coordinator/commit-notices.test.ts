import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CoordinatorCore } from '../../src/coordinator/core.ts';
import { systemClock } from '../../src/engine/clock.ts';
import { listenForCommitNotices, type CommitListener, type CommitNotice } from '../../src/store/commit-notices.ts';
import type { Store } from '../../src/store/store.ts';
import { waitFor } from '../helpers/processes.ts';
import { tempDir } from '../helpers/temp.ts';
import { openTestStore, testStoreKind } from '../helpers/test-store.ts';

/** What other coordinators on a PostgreSQL store hear of this one's transactions (SQLite tells no other process). */
describe.runIf(testStoreKind === 'postgres')('commit notices', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  let store: Store | undefined;
  let core: CoordinatorCore | undefined;
  let listener: CommitListener | undefined;
  afterEach(async () => {
    core?.close();
    await listener?.close();
    await store?.close();
    dir?.remove();
  });

  it('tell the other coordinators of a transaction once, with what all its operations changed', async () => {
    dir = tempDir();
    store = await openTestStore(join(dir.path, 'db'));
    core = new CoordinatorCore(store, systemClock, {
      stateDir: dir.path, heartbeatTimeoutMs: 60_000, healthIntervalMs: 3_600_000, startTimeoutMs: 120_000,
      providerRetry: { attempts: 1, delayMs: 0, backoff: 1, maxDelayMs: 0 },
    }, []);
    const heard: CommitNotice[] = [];
    listener = await listenForCommitNotices(store.location, (notice) => heard.push(notice), () => undefined);
    const mutate = core.mutate.bind(core);
    // Asked for in one turn, the two operations share a transaction.
    await Promise.all([
      mutate(async (_trx, changes) => changes.queue('pool-a')),
      mutate(async (_trx, changes) => {
        changes.queue('pool-a', 2);
        changes.queue('pool-b');
        changes.delay('pool-c', 5_000);
        changes.drained.add('w-1');
      }),
    ]);
    await mutate(async (_trx, changes) => changes.cancelledAttempts.add('a-1'));
    // Notices come in the order of their commits: the second transaction's is the last.
    await waitFor(() => heard.some((notice) => notice.cancelled.length > 0), 10_000, 'the second transaction\'s notice');
    expect(heard).toEqual([
      { origin: core.id, runs: [], queued: [['pool-a', 3], ['pool-b', 1]], delayed: [['pool-c', 5_000]], drained: ['w-1'], cancelled: [] },
      { origin: core.id, runs: [], queued: [], delayed: [], drained: [], cancelled: ['a-1'] },
    ]);
  });
});
