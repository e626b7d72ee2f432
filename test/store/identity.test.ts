import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/store.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { protocolHarness } from '../helpers/protocol.ts';
import { tempDir } from '../helpers/temp.ts';

async function identityOf(path: string): Promise<string> {
  const store = await openSqliteStore(path, { writable: true });
  try {
    return (await store.db.selectFrom('store_identity').select('id').executeTakeFirstOrThrow()).id;
  } finally {
    await store.close();
  }
}

describe("a store's identity, which marks the machines its coordinators start", () => {
  const dir = tempDir();
  afterAll(() => dir.remove());

  it('is made once with the store and kept; another store has its own', async () => {
    const first = await identityOf(join(dir.path, 'a.db'));
    expect(first).toMatch(/^s-[0-9a-f]{16}$/);
    expect(await identityOf(join(dir.path, 'a.db'))).toBe(first);
    expect(await identityOf(join(dir.path, 'b.db'))).not.toBe(first);
  });

  describe('in start requests', () => {
    const h = protocolHarness();

    it('goes with every machine the coordinator starts', async () => {
      await h.start(pipelineOf([{ name: 'a' }]));
      const id = (await h.store.db.selectFrom('store_identity').select('id').executeTakeFirstOrThrow()).id;
      expect(h.provider.starts.map((s) => s.owner)).toEqual([id]);
    });
  });
});
