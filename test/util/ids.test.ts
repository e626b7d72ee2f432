import { describe, expect, it } from 'vitest';
import { idPatterns, newId } from '../../src/util/ids.ts';

describe('new ids', () => {
  it('are all different, each of its shape, however many are drawn (past the randomness drawn ahead)', () => {
    // 12 bytes of randomness per pair: far more than one draw ahead holds.
    const attempts = Array.from({ length: 3000 }, () => newId('a'));
    const runs = Array.from({ length: 3000 }, () => newId('r'));
    expect(new Set(attempts).size).toBe(attempts.length);
    expect(new Set(runs).size).toBe(runs.length);
    for (const id of attempts) expect(id).toMatch(idPatterns.attempt);
    for (const id of runs) expect(id).toMatch(idPatterns.run);
  });
});
