import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { RunReport } from '../../src/engine/report.ts';
import { Sandbox } from '../helpers/cli.ts';

/**
 * A task that goes looking for credentials where a process of the same user can look:
 * the environment and command line of every process of its run (its own agent, the other
 * agent, their tasks), and its own environment.
 */
const snoop = `
seen=0
for dir in /proc/[0-9]*; do
  grep -qa "SLIPWAY_MACHINE=$WORK_ROOT/" "$dir/environ" 2>/dev/null || continue
  seen=$((seen + 1))
  if tr '\\0' '\\n' < "$dir/environ" 2>/dev/null | grep -q 'TOKEN'; then echo "a token in the environment of \${dir#/proc/}"; fi
  if tr '\\0' ' ' < "$dir/cmdline" 2>/dev/null | grep -q 'TOKEN'; then echo "a token on the command line of \${dir#/proc/}"; fi
done
if env | grep -q TOKEN; then echo "a token in the task's own environment"; fi
echo "looked at $seen processes of the run"
`;

describe('what a task can read of its agents', () => {
  const box = new Sandbox();
  afterAll(() => box.cleanup());

  it('holds no token in any environment or command line of its run, its own agent\'s included', async () => {
    const workRoot = join(box.state, 'slipway', 'workers');
    const file = box.write({
      'snoop.sh': snoop,
      'slipway.yml': `
name: snoop
matrix:
  n: ["1", "2"]
activities:
  builder: { max_workers: 2 }
steps:
  look:
    over: [n]
    env: { WORK_ROOT: "${workRoot}" }
    run: |
      bash snoop.sh
      sleep 1
      bash snoop.sh
`,
    });
    const result = await box.run(['run', file, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as RunReport;
    for (const task of report.tasks) {
      const log = (await box.run(['logs', report.run.id, task.id])).stdout;
      expect(log).not.toMatch(/a token/);
      // The look reached the processes it was after: at least its agent, its shell and itself.
      const counts = [...log.matchAll(/looked at (\d+) processes of the run/g)].map((m) => Number(m[1]));
      expect(counts).toHaveLength(2);
      for (const count of counts) expect(count).toBeGreaterThanOrEqual(3);
    }
  });
});
