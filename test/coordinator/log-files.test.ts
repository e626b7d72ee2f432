import { mkdirSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogFiles } from '../../src/coordinator/log-files.ts';
import { LogTable } from '../../src/coordinator/log-table.ts';
import type { Logs } from '../../src/coordinator/logs.ts';
import type { Store } from '../../src/store/store.ts';
import { logText } from '../helpers/log-text.ts';
import { openTestStore, testStoreKind } from '../helpers/test-store.ts';
import { tempDir } from '../helpers/temp.ts';

/**
 * The cap, in the cases a server test does not reach: a cut inside a line and inside a
 * character, a log appended to while and after it closes, one reopened after a restart,
 * and a task's imitation of the marker. On files (SQLite) or the store's tables
 * (PostgreSQL), as the suite's store. test/security/logs.test.ts checks the cap through a
 * real server and agent.
 */
describe(`a log past its cap (${testStoreKind === 'postgres' ? 'in the store' : 'in files'})`, () => {
  let dir: ReturnType<typeof tempDir>;
  let store: Store | undefined;
  beforeEach(async () => {
    dir = tempDir('slipway-logs-');
    if (testStoreKind === 'postgres') store = await openTestStore(join(dir.path, 'slipway.db'));
  });
  afterEach(async () => {
    await store?.close();
    dir.remove();
  });
  /** Logs as a coordinator process keeps them; a second call is another process on the same store. */
  const openLogs = (maxBytes: number): Logs => (store ? new LogTable(store.db, dir.path, maxBytes) : new LogFiles(dir.path, maxBytes));
  const marker = (dropped: number) => `[slipway: log truncated at 100 bytes (server.max_log_bytes); ${dropped} bytes dropped]\n`;

  it('keeps whole characters up to the cap, then one line counting every byte dropped since', async () => {
    const logs = openLogs(100);
    const path = logs.attemptPath('r-0123abcd', 'a-0123456789ab');
    // 1 + 2 × 60 bytes: the 100th byte is the first half of an é.
    logs.append(path, `a${'é'.repeat(60)}`);
    logs.append(path, 'x'.repeat(1000));
    // Appended to while it closes: the count goes on.
    const closing = logs.close(path);
    logs.append(path, 'late\n');
    await closing;
    await logs.closeAll();
    const kept = `a${'é'.repeat(49)}`;
    expect(await logText(logs, path)).toBe(`${kept}\n${marker(22 + 1000 + 5)}`);

    // And after: the line is rewritten in place with the new count.
    logs.append(path, 'later\n');
    await logs.closeAll();
    expect(await logText(logs, path)).toBe(`${kept}\n${marker(22 + 1000 + 5 + 6)}`);
  });

  it('goes on after what a log holds when it is reopened, as after a restart', async () => {
    const first = openLogs(100);
    const path = first.workerPath('r-0123abcd', 'w-0123abcd');
    first.append(path, `${'1'.repeat(59)}\n`);
    await first.closeAll();
    const second = openLogs(100);
    second.append(path, `${'2'.repeat(39)}\n`);
    second.append(path, 'over\n');
    await second.closeAll();
    expect(await logText(second, path)).toBe(`${'1'.repeat(59)}\n${'2'.repeat(39)}\n${marker(5)}`);
  });

  it('takes a line a task wrote to look like the marker for output', async () => {
    const first = openLogs(100);
    const path = first.attemptPath('r-0123abcd', 'a-0123456789ab');
    first.append(path, marker(999));
    await first.closeAll();
    const second = openLogs(100);
    second.append(path, 'kept\n');
    await second.closeAll();
    expect(await logText(second, path)).toBe(`${marker(999)}kept\n`);
  });

  it.runIf(testStoreKind === 'postgres')('takes writes from two coordinators into one log whole, each at bytes of its own, and reads any range', async () => {
    const [one, two] = [openLogs(1 << 20), openLogs(1 << 20)];
    const path = one.workerPath('r-0123abcd', 'w-0123abcd');
    const lines = (who: string) => Array.from({ length: 50 }, (_, i) => `${who} ${i} é\n`);
    for (const [i, line] of lines('one').entries()) {
      one.append(path, line);
      two.append(path, lines('two')[i]!);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await Promise.all([one.closeAll(), two.closeAll()]);
    const text = await logText(one, path);
    expect(text.split('\n').filter(Boolean).sort()).toEqual([...lines('one'), ...lines('two')].map((line) => line.trimEnd()).sort());
    // Each one's lines in the order it wrote them.
    for (const who of ['one', 'two']) expect(text.split('\n').filter((line) => line.startsWith(who))).toEqual(lines(who).map((line) => line.trimEnd()));
    // A range across chunks, cut inside an é, gives exactly those bytes.
    const bytes = Buffer.from(text, 'utf8');
    expect(await one.read(path, 7, 500)).toEqual(bytes.subarray(7, 507));
    expect(await two.size(path)).toBe(bytes.length);
  });

  it.runIf(testStoreKind === 'postgres')('keeps a large burst in rows of whole characters, read back byte for byte', async () => {
    const logs = openLogs(1 << 20);
    const path = logs.attemptPath('r-0123abcd', 'a-0123456789ab');
    const burst = `x${'é€'.repeat(120_000)}\n`;
    logs.append(path, burst);
    expect(await logText(logs, path)).toBe(burst);
    const bytes = Buffer.from(burst, 'utf8');
    expect(await logs.read(path, 262_140, 20)).toEqual(bytes.subarray(262_140, 262_160));
  });

  it.runIf(testStoreKind === 'postgres')('writes more logs at once than one statement takes, each whole', async () => {
    const logs = openLogs(1 << 20);
    const paths = Array.from({ length: 1100 }, (_, i) => logs.attemptPath('r-0123abcd', `a-${i.toString(16).padStart(12, '0')}`));
    // One of them large enough for several rows, so its rows meet the statements' boundary.
    const large = `${'y'.repeat(300_000)}\n`;
    for (const [i, path] of paths.entries()) logs.append(path, i === 999 ? large : `line of log ${i}\n`);
    await logs.closeAll();
    const texts = await Promise.all(paths.map((path) => logText(logs, path)));
    expect(texts.filter((text, i) => text !== (i === 999 ? large : `line of log ${i}\n`))).toEqual([]);
    expect(await logs.size(paths[999]!)).toBe(large.length);
  });

  it.runIf(testStoreKind === 'sqlite')('says once that a log cannot be written, and goes on with the others', async () => {
    const logs = openLogs(1 << 20);
    const full = logs.attemptPath('r-0123abcd', 'a-0123456789ab');
    const fine = logs.attemptPath('r-0123abcd', 'a-ba9876543210');
    // Every write to /dev/full fails as on a full disk (ENOSPC).
    mkdirSync(dirname(full), { recursive: true });
    symlinkSync('/dev/full', full);
    const warnings: string[] = [];
    const heard = (warning: Error) => warnings.push(warning.message);
    process.on('warning', heard);
    try {
      for (let i = 0; i < 3; i++) {
        logs.append(full, `line ${i}\n`);
        logs.append(fine, `line ${i}\n`);
        await new Promise((resolve) => setImmediate(resolve));
      }
      await logs.closeAll();
      // Warnings are emitted on the next turn of the event loop.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', heard);
    }
    expect(warnings.filter((w) => w.includes('cannot write the log'))).toEqual([`slipway: cannot write the log ${full}: ENOSPC: no space left on device, write`]);
    expect(await logText(logs, fine)).toBe('line 0\nline 1\nline 2\n');
  });
});
