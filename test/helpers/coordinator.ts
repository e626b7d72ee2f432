import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Coordinator, type CoordinatorSettings } from '../../src/coordinator/coordinator.ts';
import { systemClock, type Clock } from '../../src/engine/clock.ts';
import { providerLifecycle, type Provider } from '../../src/providers/provider.ts';
import type { Store } from '../../src/store/store.ts';
import { openTestStore } from './test-store.ts';

/**
 * A coordinator on a real store (SQLite under `dir`, or PostgreSQL: test-store.ts), with a small source tree to run
 * pipelines from, and no timers that could fire during a test. `store`: one already open instead.
 */
export async function testCoordinator(dir: string, options: { clock?: Clock; providers?: Provider[]; storePath?: string; store?: Store; settings?: Partial<CoordinatorSettings> } = {}) {
  const sourceDir = join(dir, 'source');
  mkdirSync(sourceDir, { recursive: true });
  writeFileSync(join(sourceDir, 'README'), 'source tree\n');
  const store = options.store ?? await openTestStore(options.storePath ?? join(dir, 'db'));
  const coordinator = new Coordinator(store, options.clock ?? systemClock, {
    stateDir: dir, heartbeatTimeoutMs: 60_000, healthIntervalMs: 3_600_000, startTimeoutMs: 120_000,
    providerRetry: { attempts: 1, delayMs: 0, backoff: 1, maxDelayMs: 0 },
    ...options.settings,
  }, (options.providers ?? []).map(providerLifecycle));
  return { store, coordinator, sourceDir };
}
