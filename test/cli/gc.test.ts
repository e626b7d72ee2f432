import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbedded, type Embedded } from '../../src/coordinator/embedded.ts';
import { createToken } from '../../src/store/tokens.ts';
import { Sandbox } from '../helpers/cli.ts';
import { testCoordinator } from '../helpers/coordinator.ts';
import { seedRetention, type Seeded } from '../helpers/retention-store.ts';

/** A state directory `slipway` finds through XDG_STATE_HOME, seeded as retention's tests seed one. */
async function seededState(sandbox: Sandbox, subdir: string): Promise<{ state: string; seeded: Seeded }> {
  const state = join(sandbox.dir.path, subdir, 'slipway');
  const { store, coordinator } = await testCoordinator(state, { storePath: join(state, 'slipway.db') });
  try {
    return { state, seeded: await seedRetention(store, coordinator, state, Date.now()) };
  } finally {
    await coordinator.close();
    await store.close();
  }
}

describe('slipway gc', () => {
  const sandbox = new Sandbox();
  afterAll(() => sandbox.cleanup());

  it('on the local state directory: --dry-run --json counts, then gc deletes and prints a table', async () => {
    const { state, seeded } = await seededState(sandbox, 'local');
    const env = { XDG_STATE_HOME: join(state, '..'), AWS_REGION: '', AWS_DEFAULT_REGION: '' };
    const dry = await sandbox.run(['gc', '--dry-run', '--json'], env);
    expect(dry.stderr).toBe('');
    expect(JSON.parse(dry.stdout)).toMatchObject({ dry_run: true, runs: { count: 1 }, artifacts: { count: 2 }, blobs: { count: 2 }, source_archives: { count: 1 }, images: null, caches: { count: 0, bytes: 0 } });
    expect(existsSync(join(state, 'logs', seeded.runs.old))).toBe(true);

    const real = await sandbox.run(['gc'], env);
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(/^KIND\s+DELETED\s+BYTES$/m);
    expect(real.stdout).toMatch(/^runs\s+1\s+\d/m);
    expect(real.stdout).toMatch(/^images\s+-\s+not collected$/m);
    expect(existsSync(join(state, 'logs', seeded.runs.old))).toBe(false);
    expect(existsSync(join(state, 'logs', seeded.runs.recent))).toBe(true);
  });

  describe('--server', () => {
    let server: Embedded;
    let served: { state: string; seeded: Seeded };
    let admin: string;

    beforeAll(async () => {
      served = await seededState(sandbox, 'server');
      server = await startEmbedded({ stateDir: served.state });
      admin = (await createToken(server.store.db, 'admin', ['admin'], Date.now())).secret;
    });
    afterAll(() => server.close());

    it('asks the server, which collects its own state by its own [retention] (at start, here), and says who refused', async () => {
      const answer = await sandbox.run(['gc', '--server', server.listening.url, '--token', admin, '--dry-run', '--json']);
      expect(answer.stderr).toBe('');
      // Asked after the collection at start, which it waits for: nothing is left to count.
      expect(JSON.parse(answer.stdout)).toEqual({
        dry_run: true, runs: { count: 0, bytes: 0 }, artifacts: { count: 0, bytes: 0 }, blobs: { count: 0, bytes: 0 }, source_archives: { count: 0, bytes: 0 }, images: null, caches: { count: 0, bytes: 0 },
      });
      expect(existsSync(join(served.state, 'logs', served.seeded.runs.old))).toBe(false);
      expect(existsSync(join(served.state, 'logs', served.seeded.runs.recent))).toBe(true);
      const read = (await createToken(server.store.db, 'reader', ['read'], Date.now())).secret;
      const refused = await sandbox.run(['gc', '--server', server.listening.url, '--token', read]);
      expect(refused.code).not.toBe(0);
      expect(refused.stderr).toMatch(/answered 403/);
    });
  });
});
