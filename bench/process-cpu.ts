import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time (user and system, ms) of a process and of every process under it now, from
 * /proc (Linux): a database server's, whose connections are its child processes. Those
 * that already exited are not counted: read it while the connections are open.
 */
export function treeCpuMs(root: number): number {
  const ticksMs = 10; // USER_HZ is 100 on every Linux build
  const children = new Map<number, number[]>();
  const cpu = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // The command name may hold spaces and parentheses: the fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(entry);
    const parent = Number(fields[1]);
    cpu.set(pid, (Number(fields[11]) + Number(fields[12])) * ticksMs);
    const siblings = children.get(parent);
    if (siblings) siblings.push(pid);
    else children.set(parent, [pid]);
  }
  let total = 0;
  const pending = [root];
  while (pending.length > 0) {
    const pid = pending.pop()!;
    total += cpu.get(pid) ?? 0;
    pending.push(...(children.get(pid) ?? []));
  }
  return total;
}
