import type { MachineHandle } from '../provider.ts';
import { leftoverNotes, removeEach, type Leftover, type Purger } from '../leftovers.ts';
import type { HostSurvey, SshProvider } from './ssh-provider.ts';

/**
 * Everything of Slipway's on the configured hosts: agents still running (with what their
 * tasks started), workers' directories, the cached runtime and the prepare marks. A host
 * that cannot be reached is named as not handled, never taken as clean.
 */
export function sshPurger(provider: SshProvider, hostNames: readonly string[]): Purger {
  const machines = new Map<string, MachineHandle>();
  return {
    scope: hostNames.length > 0 ? `ssh hosts ${hostNames.join(', ')}` : 'no ssh hosts (none in [[providers.ssh.hosts]])',
    async find() {
      const surveys = await provider.survey();
      const found: Leftover[] = surveys.flatMap((survey) => leftoversOf(survey));
      for (const survey of surveys) for (const m of survey.machines) machines.set(m.workerId, m.machine);
      const unreachable = surveys.filter((s) => s.error !== undefined).map((s) => `host ${s.host.name}, which could not be reached (${s.error})`);
      return { found, notHandled: [...unreachable, 'the ssh keys that log in to the hosts (slipway keys delete --provider ssh)'] };
    },
    remove(found) {
      return removeEach(found, async (resource) => {
        const machine = machines.get(resource.id);
        if (resource.kind === 'process' && machine) await provider.stop(machine);
        else if (resource.kind === 'work-dir') await provider.removeFile(resource.name, { kind: 'dir', workerId: resource.id });
        else if (resource.kind === 'runtime' || resource.kind === 'prepared') await provider.removeFile(resource.name, { kind: resource.kind });
      });
    },
    close: () => provider.close(),
  };
}

function leftoversOf(survey: HostSurvey): Leftover[] {
  const host = survey.host.name;
  return [
    ...survey.machines.map((m): Leftover => ({ kind: 'process', id: m.workerId, name: host, note: leftoverNotes.process(m.machine.pid) })),
    ...survey.files.map((file): Leftover => (file.kind === 'dir'
      ? { kind: 'work-dir', id: file.workerId, name: host, note: '' }
      : { kind: file.kind, id: `${host}:${file.kind}`, name: host, note: leftoverNotes[file.kind] })),
  ];
}
