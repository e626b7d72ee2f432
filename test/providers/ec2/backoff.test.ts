import { describe, expect, it } from 'vitest';
import { backoffDelayMs, withBackoff } from '../../../src/providers/ec2/backoff.ts';
import { awsError, recordingBackoff } from './aws-fixtures.ts';

describe('withBackoff', () => {
  it('retries RequestLimitExceeded with growing delays and returns the answer', async () => {
    const backoff = recordingBackoff(5);
    let calls = 0;
    const result = await withBackoff(async () => {
      if (++calls < 4) throw awsError('RequestLimitExceeded');
      return 'ok';
    }, backoff);
    expect(result).toBe('ok');
    expect(calls).toBe(4);
    expect(backoff.delays).toEqual([75, 150, 300]);
  });

  it('gives up after its attempts with the last error', async () => {
    const backoff = recordingBackoff(3);
    let calls = 0;
    await expect(withBackoff(async () => {
      calls++;
      throw awsError('RequestLimitExceeded');
    }, backoff)).rejects.toThrow(/RequestLimitExceeded/);
    expect(calls).toBe(3);
    expect(backoff.delays).toHaveLength(2);
  });

  it('retries server-side failures but not client errors', async () => {
    const backoff = recordingBackoff(3);
    let calls = 0;
    await expect(withBackoff(async () => {
      calls++;
      throw awsError(calls === 1 ? 'InternalError' : 'InvalidParameterValue', calls === 1 ? 500 : 400);
    }, backoff)).rejects.toThrow(/InvalidParameterValue/);
    expect(calls).toBe(2);
  });

  it('caps the delay and jitters within its upper half', () => {
    const options = { baseMs: 100, maxMs: 1000 };
    expect(backoffDelayMs(1, { ...options, random: () => 0 })).toBe(50);
    expect(backoffDelayMs(1, { ...options, random: () => 0.999999 })).toBe(100);
    expect(backoffDelayMs(10, { ...options, random: () => 0 })).toBe(500);
    expect(backoffDelayMs(10, { ...options, random: () => 0.999999 })).toBe(1000);
  });
});
