import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogFiles } from '../../src/coordinator/log-files.ts';
import { tempDir } from '../helpers/temp.ts';

/**
 * The cap on real files, in the cases a server test does not reach: a cut inside a line and
 * inside a character, a log appended to while and after it closes, one reopened after a
 * restart, and a task's imitation of the marker.
 * test/security/logs.test.ts checks the cap through a real server and agent.
 */
describe('a log past its cap', () => {
  let dir: ReturnType<typeof tempDir>;
  beforeEach(() => { dir = tempDir('slipway-logs-'); });
  afterEach(() => dir.remove());
  const marker = (dropped: number) => `[slipway: log truncated at 100 bytes (server.max_log_bytes); ${dropped} bytes dropped]\n`;

  it('keeps whole characters up to the cap, then one line counting every byte dropped since', async () => {
    const logs = new LogFiles(dir.path, 100);
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
    expect(readFileSync(path, 'utf8')).toBe(`${kept}\n${marker(22 + 1000 + 5)}`);

    // And after: the line is rewritten in place with the new count.
    logs.append(path, 'later\n');
    await logs.closeAll();
    expect(readFileSync(path, 'utf8')).toBe(`${kept}\n${marker(22 + 1000 + 5 + 6)}`);
  });

  it('goes on after what a log holds when it is reopened, as after a restart', async () => {
    const first = new LogFiles(dir.path, 100);
    const path = first.workerPath('r-0123abcd', 'w-0123abcd');
    first.append(path, `${'1'.repeat(59)}\n`);
    await first.closeAll();
    const second = new LogFiles(dir.path, 100);
    second.append(path, `${'2'.repeat(39)}\n`);
    second.append(path, 'over\n');
    await second.closeAll();
    expect(readFileSync(path, 'utf8')).toBe(`${'1'.repeat(59)}\n${'2'.repeat(39)}\n${marker(5)}`);
  });

  it('takes a line a task wrote to look like the marker for output', async () => {
    const first = new LogFiles(dir.path, 100);
    const path = first.attemptPath('r-0123abcd', 'a-0123456789ab');
    first.append(path, marker(999));
    await first.closeAll();
    const second = new LogFiles(dir.path, 100);
    second.append(path, 'kept\n');
    await second.closeAll();
    expect(readFileSync(path, 'utf8')).toBe(`${marker(999)}kept\n`);
  });
});
