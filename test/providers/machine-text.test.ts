import { describe, expect, it } from 'vitest';
import { describeMachine } from '../../src/providers/machine-text.ts';

describe('a machine in a few words', () => {
  it('names an EC2 instance by its id and type, and says when it is spot', () => {
    const instance = { instanceId: 'i-0abc123', instanceType: 'c5.large', market: 'on-demand', platform: 'linux', launchedAt: 1, hourly_usd: 0.085, billing: 'per-second' };
    expect(describeMachine(instance)).toBe('i-0abc123 (c5.large)');
    expect(describeMachine({ ...instance, market: 'spot' })).toBe('i-0abc123 (c5.large, spot)');
  });

  it('names an SSH agent by its host and pid, and a local one by its pid', () => {
    expect(describeMachine({ host: 'build-2', workerId: 'w-1', pid: 4242, start: '99' })).toBe('build-2 pid 4242');
    expect(describeMachine({ pid: 4242, start: '99', workDir: '/var/lib/slipway/w-1' })).toBe('pid 4242');
  });

  it('shows a handle of another shape by its values, short, without its price', () => {
    expect(describeMachine({ vm: 'vm-7', zone: 'z1', hourly_usd: 1, billing: 'per-hour' })).toBe('vm=vm-7 zone=z1');
    expect(describeMachine({ blob: 'x'.repeat(200) })).toHaveLength(80);
  });
});
