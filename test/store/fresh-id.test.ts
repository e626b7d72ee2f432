import { describe, expect, it } from 'vitest';
import { insertWithFreshId } from '../../src/store/fresh-id.ts';
import { idPatterns } from '../../src/util/ids.ts';
import { pipelineOf } from '../helpers/pipelines.ts';
import { protocolHarness } from '../helpers/protocol.ts';

describe('a new row under a random id', () => {
  const h = protocolHarness();

  it('draws another id when the one drawn is taken, on the real store', async () => {
    const taken = await h.start(pipelineOf([{ name: 'build' }]));
    const row = await h.store.db.selectFrom('runs').selectAll().where('id', '=', taken).executeTakeFirstOrThrow();
    const drawn: string[] = [];
    // The first insert is made under the taken id, as if the draw had repeated it.
    const id = await insertWithFreshId('r', (fresh) => {
      drawn.push(fresh);
      return h.store.db.insertInto('runs').values({ ...row, id: drawn.length === 1 ? taken : fresh })
        .onConflict((oc) => oc.column('id').doNothing()).executeTakeFirst();
    });
    expect(drawn).toHaveLength(2);
    expect(id).toBe(drawn[1]);
    expect(id).toMatch(idPatterns.run);
    const ids = (await h.store.db.selectFrom('runs').select('id').execute()).map((r) => r.id);
    expect(ids.sort()).toEqual([taken, id].sort());
  });
});
