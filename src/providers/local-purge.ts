import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { idPatterns } from '../util/ids.ts';
import { leftoverNotes, removeEach, type Leftover, type Purger } from './leftovers.ts';
import { LocalProvider, localPreparedDir } from './local.ts';

/**
 * Everything the local provider leaves on this machine: agents still running (found by
 * their marker, with whatever their tasks started), workers' directories, and the marks
 * of prepare scripts already run. The store and the logs are history, not leftovers.
 */
export function localPurger(workRoot: string): Purger {
  const provider = new LocalProvider({ workRoot });
  const preparedDir = localPreparedDir(workRoot);
  return {
    scope: `this machine (${workRoot})`,
    async find() {
      const found: Leftover[] = (await provider.inventory()).map(({ workerId, machine }) => ({ kind: 'process', id: workerId, name: 'localhost', note: leftoverNotes.process(machine.pid) }));
      const dirs = existsSync(workRoot) ? readdirSync(workRoot, { withFileTypes: true }).filter((e) => e.isDirectory() && idPatterns.worker.test(e.name)) : [];
      for (const dir of dirs) found.push({ kind: 'work-dir', id: dir.name, name: 'localhost', note: join(workRoot, dir.name) });
      if (existsSync(preparedDir)) found.push({ kind: 'prepared', id: preparedDir, name: 'localhost', note: leftoverNotes.prepared });
      return { found, notHandled: [] };
    },
    async remove(found) {
      const running = new Map((await provider.inventory()).map((m) => [m.workerId, m.machine]));
      return removeEach(found, async (resource) => {
        if (resource.kind === 'process') {
          const machine = running.get(resource.id);
          if (machine) await provider.stop(machine);
        } else if (resource.kind === 'work-dir' && idPatterns.worker.test(resource.id)) {
          rmSync(join(workRoot, resource.id), { recursive: true, force: true });
        } else if (resource.kind === 'prepared') {
          rmSync(preparedDir, { recursive: true, force: true });
        }
      });
    },
  };
}
