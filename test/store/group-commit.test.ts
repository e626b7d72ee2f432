import { afterEach, describe, expect, it } from 'vitest';
import { GroupCommit } from '../../src/store/group-commit.ts';
import type { Store } from '../../src/store/store.ts';
import { openTestStore } from '../helpers/test-store.ts';

let store: Store | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

let added = 0;
const addToken = (db: Store['db'], name: string) => {
  added += 1;
  return db.insertInto('tokens').values({ id: `t-${added}`, name, scopes: 'read', secret_hash: `hash-${added}`, created_at: added, revoked_at: null }).execute();
};

async function tokenNames(db: Store['db']): Promise<string[]> {
  return (await db.selectFrom('tokens').select('name').orderBy('created_at').execute()).map((row) => row.name);
}

describe('group commit', () => {
  it('writes a batch whose operations all succeed in one transaction, and tells each just before its commit', async () => {
    store = await openTestStore(':memory:');
    const seen: string[][] = [];
    const told: string[] = [];
    const writes = new GroupCommit<string>(store.transaction, async (_trx, done) => { told.push(...done); });
    const op = (name: string) => writes.run(async (trx) => {
      await addToken(trx, name);
      // Each operation sees those before it in the batch: they share the transaction.
      seen.push(await tokenNames(trx));
      return name;
    });
    expect(await Promise.all([op('a'), op('b'), op('c')])).toEqual(['a', 'b', 'c']);
    expect(seen).toEqual([['a'], ['a', 'b'], ['a', 'b', 'c']]);
    expect(told).toEqual(['a', 'b', 'c']);
    expect(await tokenNames(store.db)).toEqual(['a', 'b', 'c']);
  });

  it('undoes an operation that fails alone: the rest of its batch is written once, and only what is written is told', async () => {
    store = await openTestStore(':memory:');
    const told: string[] = [];
    const writes = new GroupCommit<string>(store.transaction, async (_trx, done) => { told.push(...done); });
    const runs = new Map<string, number>();
    const op = (name: string, fail = false) => writes.run(async (trx) => {
      runs.set(name, (runs.get(name) ?? 0) + 1);
      await addToken(trx, name);
      if (fail) throw new Error(`${name} refused`);
      return name;
    });
    const outcomes = await Promise.allSettled([op('a'), op('b', true), op('c')]);
    expect(outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : (outcome.reason as Error).message))).toEqual(['a', 'b refused', 'c']);
    expect(await tokenNames(store.db)).toEqual(['a', 'c']);
    expect(told).toEqual(['a', 'c']);
    // Run together, then again each in its own savepoint; c never ran in the batch b undid.
    expect(Object.fromEntries(runs)).toEqual({ a: 2, b: 2, c: 1 });
    // The next batch is not held back by the failure.
    await Promise.all([op('d'), op('e')]);
    expect(await tokenNames(store.db)).toEqual(['a', 'c', 'd', 'e']);
  });

  it('gathers operations of one kind that arrive one after the other, and undoes one that fails alone', async () => {
    store = await openTestStore(':memory:');
    const writes = new GroupCommit<string>(store.transaction);
    const gathered: string[][] = [];
    // One statement for all the names it is given; a name "bad" fails.
    const addAll = async (trx: Store['db'], names: string[]) => {
      gathered.push(names);
      for (const name of names) await addToken(trx, name);
      if (names.includes('bad')) throw new Error('bad refused');
      return names.map((name) => name.toUpperCase());
    };
    const between = () => writes.run(async (trx) => { await addToken(trx, 'between'); return 'between'; });
    const outcomes = await Promise.allSettled([writes.gather(addAll, 'a'), writes.gather(addAll, 'b'), between(), writes.gather(addAll, 'c')]);
    expect(outcomes.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : 'failed'))).toEqual(['A', 'B', 'between', 'C']);
    // Consecutive ones together, in the order they came; an operation of another kind between them splits them.
    expect(gathered).toEqual([['a', 'b'], ['c']]);
    expect(await tokenNames(store.db)).toEqual(['a', 'b', 'between', 'c']);

    gathered.length = 0;
    const failing = await Promise.allSettled([writes.gather(addAll, 'd'), writes.gather(addAll, 'bad'), writes.gather(addAll, 'e')]);
    expect(failing.map((outcome) => (outcome.status === 'fulfilled' ? outcome.value : (outcome.reason as Error).message))).toEqual(['D', 'bad refused', 'E']);
    // Together first, then each alone in its savepoint: only the one that failed is undone.
    expect(gathered).toEqual([['d', 'bad', 'e'], ['d'], ['bad'], ['e']]);
    expect((await tokenNames(store.db)).slice(4)).toEqual(['d', 'e']);
  });

  it("ends each batch once, in its transaction, with what its operations that succeeded returned", async () => {
    store = await openTestStore(':memory:');
    const ends: string[][] = [];
    const writes = new GroupCommit<string>(store.transaction, async (trx, done) => {
      ends.push(done);
      // Written with the batch: what an end writes is committed or undone with it.
      await addToken(trx, `end of ${done.join('+')}`);
    });
    const op = (name: string, fail = false) => writes.run(async (trx) => {
      await addToken(trx, name);
      if (fail) throw new Error(`${name} refused`);
      return name;
    });
    await Promise.all([op('a'), op('b')]);
    await Promise.allSettled([op('c'), op('d', true), op('e')]);
    // The second batch ended once: its first try, undone by d, never reached its end.
    expect(ends).toEqual([['a', 'b'], ['c', 'e']]);
    expect(await tokenNames(store.db)).toEqual(['a', 'b', 'end of a+b', 'c', 'e', 'end of c+e']);
  });

  it('tells what a batch end returned whether its transaction committed, before its operations hear theirs', async () => {
    store = await openTestStore(':memory:');
    const opened = store;
    const heard: string[] = [];
    let loseCommit = false;
    // A commit whose answer is lost (the connection dropped during COMMIT) fails the batch.
    const transaction: Store['transaction'] = async (work, mode) => {
      const result = await opened.transaction(work, mode);
      if (loseCommit) throw new Error('connection lost');
      return result;
    };
    const writes = new GroupCommit<string>(transaction, async (_trx, done) => (committed) => { heard.push(`${done.join('+')} ${committed ? 'committed' : 'undone'}`); });
    const op = (name: string) => writes.run(async (trx) => {
      await addToken(trx, name);
      return name;
    }).then((value) => { heard.push(`${value} answered`); }, (error: Error) => { heard.push(`${name} failed: ${error.message}`); });
    await Promise.all([op('a'), op('b')]);
    loseCommit = true;
    await op('c');
    expect(heard).toEqual(['a+b committed', 'a answered', 'b answered', 'c undone', 'c failed: connection lost']);
  });
});
