import type { MachineHandle } from './provider.ts';

/**
 * A machine in a few words, from the handle its provider stored: `i-0abc… (c5.large, spot)`
 * for EC2 (ec2/ec2-provider.ts), `build-2 pid 4242` for SSH (ssh/ssh-provider.ts), `pid 4242`
 * for a local agent (local.ts). A handle of another shape is shown by its plain values.
 */
export function describeMachine(machine: MachineHandle): string {
  const { instanceId, instanceType, market, host, pid } = machine;
  if (instanceId !== undefined) {
    const details = [instanceType, market === 'spot' ? 'spot' : undefined].filter((d) => d !== undefined && d !== '');
    return details.length > 0 ? `${instanceId} (${details.join(', ')})` : String(instanceId);
  }
  if (host !== undefined) return pid !== undefined ? `${host} pid ${pid}` : String(host);
  if (pid !== undefined) return `pid ${pid}`;
  const text = Object.entries(machine).filter(([key]) => key !== 'hourly_usd' && key !== 'billing').map(([key, value]) => `${key}=${value}`).join(' ');
  return text.length > 80 ? `${text.slice(0, 79)}…` : text;
}
