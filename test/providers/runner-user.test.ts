import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { canReach, runnerWorkRoot, workerUid, type RunnerUser } from '../../src/providers/runner-user.ts';
import { tempDir } from '../helpers/temp.ts';

describe('where a server puts the workers it runs as other users', () => {
  const dir = tempDir();
  afterAll(() => dir.remove());
  // A user that owns nothing here: only the "other" permission bits let it in.
  const stranger: RunnerUser = { name: 'stranger', uid: 2_000_000_001, gid: 2_000_000_001, home: '/var/lib/stranger' };

  it('keeps the configured work root when the runner can enter every directory above it', () => {
    chmodSync(dir.path, 0o711);
    const state = join(dir.path, 'open-state');
    mkdirSync(join(state, 'workers'), { recursive: true, mode: 0o700 });
    chmodSync(state, 0o711);
    expect(canReach(state, stranger)).toBe(true);
    // The root itself is the server's to open, whatever mode it was made with.
    expect(runnerWorkRoot(join(state, 'workers'), stranger)).toBe(join(state, 'workers'));
  });

  it('moves it to the runner\'s home, one per configured root, when a directory above is closed (as /root is)', () => {
    const closed = join(dir.path, 'closed');
    mkdirSync(join(closed, 'state'), { recursive: true });
    chmodSync(closed, 0o700);
    expect(canReach(join(closed, 'state'), stranger)).toBe(false);
    const moved = runnerWorkRoot(join(closed, 'state', 'workers'), stranger);
    expect(moved).toMatch(/^\/var\/lib\/stranger\/workers-[0-9a-f]{12}$/);
    expect(runnerWorkRoot(join(closed, 'other', 'workers'), stranger)).not.toBe(moved);
  });

  it('gives each worker its own uid, far from accounts', () => {
    const uids = new Set(Array.from({ length: 1000 }, (_, i) => workerUid(`w-${i.toString(16).padStart(8, '0')}`)));
    expect(uids.size).toBe(1000);
    for (const uid of uids) expect(uid).toBeGreaterThanOrEqual(0x5c000000);
  });
});
