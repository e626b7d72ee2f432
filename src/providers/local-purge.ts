import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { idPatterns } from '../util/ids.ts';
import { unmountUnder } from '../util/mounts.ts';
import { leftoverNotes, removeEach, type Leftover, type Purger } from './leftovers.ts';
import { LocalProvider, localPreparedDir } from './local.ts';

/**
 * Everything the local provider leaves on this machine: agents still running (found by
 * their marker, with whatever their tasks started), workers' directories, and the marks
 * of prepare scripts already run. The store and the logs are history, not leftovers.
 * A root server may keep its workers elsewhere than `slipway run` does (see
 * `runnerWorkRoot`): every root given is looked through.
 */
export function localPurger(workRoots: readonly string[]): Purger {
  const roots = [...new Set(workRoots)];
  const providers = roots.map((workRoot) => new LocalProvider({ workRoot }));
  const preparedDirs = [...new Set(roots.map(localPreparedDir))];
  const inventory = async () => (await Promise.all(providers.map((p, i) => p.inventory().then((found) => found.map((m) => ({ ...m, provider: providers[i]! })))))).flat();
  return {
    scope: `this machine (${roots.join(', ')})`,
    async find() {
      const found: Leftover[] = (await inventory()).map(({ workerId, machine }) => ({ kind: 'process', id: workerId, name: 'localhost', note: leftoverNotes.process(machine.pid) }));
      for (const root of roots) {
        const dirs = existsSync(root) ? readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory() && idPatterns.worker.test(e.name)) : [];
        for (const dir of dirs) found.push({ kind: 'work-dir', id: dir.name, name: 'localhost', note: join(root, dir.name) });
      }
      for (const dir of preparedDirs) if (existsSync(dir)) found.push({ kind: 'prepared', id: dir, name: 'localhost', note: leftoverNotes.prepared });
      return { found, notHandled: [] };
    },
    async remove(found) {
      const running = new Map((await inventory()).map((m) => [m.workerId, m]));
      return removeEach(found, async (resource) => {
        if (resource.kind === 'process') {
          const machine = running.get(resource.id);
          if (machine) await machine.provider.stop(machine.machine);
        } else if (resource.kind === 'work-dir' && idPatterns.worker.test(resource.id)) {
          // An agent killed as root may have left its tasks' overlays mounted: rm -rf cannot remove a mount point.
          for (const root of roots) {
            await unmountUnder(join(root, resource.id));
            rmSync(join(root, resource.id), { recursive: true, force: true });
          }
        } else if (resource.kind === 'prepared' && preparedDirs.includes(resource.id)) {
          rmSync(resource.id, { recursive: true, force: true });
        }
      });
    },
  };
}
