import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentFiles } from '../../src/api/agent-files.ts';
import { machineMarker } from '../../src/agent/machine-marker.ts';
import { pidsByMarker, ProcessTree } from '../../src/agent/process-tree.ts';
import { Sandbox } from '../helpers/cli.ts';
import { waitFor } from '../helpers/processes.ts';
import { agentPids } from '../helpers/server-process.ts';
import { SshdHost } from '../helpers/sshd.ts';

/** One activity on `provider` whose one task sleeps: its agent is left running when slipway run is killed. */
function sleeper(provider: string): string {
  return `name: leftovers
activities:
  builder:
    provider: ${provider}
    prepare: "true"
steps:
  nap:
    activity: builder
    run: sleep 120
`;
}

/** Processes carrying a machine marker under `root`: agents and their tasks. */
function marked(root: string): number[] {
  return [...pidsByMarker(machineMarker, (value) => value.startsWith(`${root}/`)).keys()];
}

function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
  } catch {
    return undefined;
  }
}

function stopAll(root: string): void {
  for (const pid of marked(root)) new ProcessTree(pid).signal('SIGKILL');
}

/** `slipway run` killed once its task runs, as a crash would: its agent and task are left behind. */
async function leaveAgentRunning(box: Sandbox, provider: string, root: string): Promise<void> {
  const run = box.spawn(['run', box.write({ 'slipway.yml': sleeper(provider) })]);
  // The task itself, not the prepare script that runs first with the same marker.
  await waitFor(() => marked(root).some((pid) => commandOf(pid) === 'sleep 120'), 60_000, 'the agent to run its task (sleep 120)');
  run.kill('SIGKILL');
  await run.result;
}

const json = <T>(text: string): T => JSON.parse(text) as T;

describe('slipway instances and purge --provider local', () => {
  const box = new Sandbox();
  const workRoot = join(box.state, 'slipway', 'workers');
  afterAll(() => {
    stopAll(workRoot);
    box.cleanup();
  });

  it('lists an agent left running with what the store says of it, and terminates it by worker id, asking first', async () => {
    await leaveAgentRunning(box, 'local', workRoot);
    const [agent] = agentPids(workRoot);
    const listed = await box.run(['instances', 'list', '--provider', 'local', '--json']);
    expect(listed.code).toBe(0);
    const machines = json<{ id: string; run: string; activity: string; state: string; host: string; pid: number }[]>(listed.stdout);
    expect(machines).toEqual([expect.objectContaining({ run: expect.stringMatching(/^r-/), activity: 'builder', host: 'localhost', pid: agent })]);
    expect(machines[0]!.state).not.toBe('not in the store');

    const table = await box.run(['instances', 'list', '--provider', 'local']);
    expect(table.stdout).toMatch(new RegExp(`^WORKER\\s+NAME\\s+RUN\\s+ACTIVITY\\s+STATE\\s+HOST\\s+PID\\n${machines[0]!.id}\\s+\\S+\\s+r-`));

    const unasked = await box.run(['instances', 'terminate', '--provider', 'local', machines[0]!.id]);
    expect(unasked.code).toBe(2);
    expect(unasked.stderr).toBe('refusing to delete 1 machine(s) without --yes when stdin is not a terminal\n');
    expect(marked(workRoot)).toContain(agent);

    const unknown = await box.run(['instances', 'terminate', '--provider', 'local', 'w-00000000', '--yes']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^no local machine of w-00000000 runs now/);

    const stopped = await box.run(['instances', 'terminate', '--provider', 'local', machines[0]!.id, '--yes']);
    expect(stopped.stdout).toBe(`stopped ${machines[0]!.id} (pid ${agent} on localhost)\n`);
    // The agent and the task it ran, setsid-escaped or not, are gone.
    expect(marked(workRoot)).toEqual([]);
  });

  it('purges what runs and what is left: agents with their tasks, work directories, prepare marks', async () => {
    await leaveAgentRunning(box, 'local', workRoot);
    const preparedDir = join(box.state, 'slipway', 'prepared');
    const dry = json<{ provider: string; resources: { kind: string; id: string }[] }>((await box.run(['purge', '--provider', 'local', '--dry-run', '--json'])).stdout);
    const kinds = dry.resources.map((r) => r.kind);
    expect(dry.provider).toBe('local');
    expect(kinds.filter((k) => k === 'process')).toHaveLength(1);
    // This one's directory: the worker terminated before took its own with it.
    expect(kinds.filter((k) => k === 'work-dir')).toHaveLength(1);
    expect(dry.resources).toContainEqual(expect.objectContaining({ kind: 'prepared', id: preparedDir }));
    expect(marked(workRoot).length).toBeGreaterThanOrEqual(1);

    const purged = await box.run(['purge', '--provider', 'local', '--yes', '--json']);
    expect(purged.code).toBe(0);
    const results = json<{ results: { kind: string; error: string }[] }>(purged.stdout).results;
    expect(results.map((r) => [r.kind, r.error])).toEqual(dry.resources.map((r) => [r.kind, '']));
    expect(marked(workRoot)).toEqual([]);
    expect(readdirSync(workRoot).filter((name) => name.startsWith('w-'))).toEqual([]);
    expect(existsSync(preparedDir)).toBe(false);

    const again = await box.run(['purge', '--provider', 'local', '--dry-run']);
    expect(again.stdout).toBe(`0 resource(s) of Slipway's in this machine (${workRoot})\n`);
  });

  it('says local workers need no keys and are not made by hand', async () => {
    const keys = await box.run(['keys', 'list', '--provider', 'local']);
    expect([keys.code, keys.stderr]).toEqual([2, 'local workers need no keys: they run as you on this machine (keys are for --provider ssh or ec2)\n']);
    const create = await box.run(['instances', 'create', '--provider', 'local']);
    expect(create.code).toBe(2);
    expect(create.stderr).toMatch(/local machines are not made by hand/);
    const bad = await box.run(['purge', '--provider', 'gcp']);
    expect([bad.code, bad.stderr]).toEqual([2, "--provider takes local, ssh, ec2, not 'gcp'\n"]);
  });
});

describe('slipway keys, instances and purge --provider ssh, against a real sshd', () => {
  const box = new Sandbox();
  let host: SshdHost | undefined;
  afterAll(() => {
    if (host) {
      stopAll(host.workDir);
      host.cutOff();
    }
    box.cleanup();
  });

  it('makes the key hosts log in with by default, which OpenSSH accepts; lists agents and purges them with their files', async () => {
    const created = await box.run(['keys', 'create', '--provider', 'ssh', '--json']);
    expect(created.code).toBe(0);
    const key = json<{ privateKey: string; publicKey: string; fingerprint: string }>(created.stdout);
    expect(key.privateKey).toBe(join(box.state, 'slipway', 'keys', 'ssh_ed25519'));
    expect(statSync(key.privateKey).mode & 0o777).toBe(0o600);
    const again = await box.run(['keys', 'create', '--provider', 'ssh']);
    expect([again.code, again.stderr]).toEqual([2, `${key.privateKey} exists already: delete it first (slipway keys delete --provider ssh ed25519), or pick another name\n`]);

    // The host lets in the key Slipway made, and the config names no key: the default is that one.
    host = await SshdHost.start('builder-1', join(box.dir.path, 'builder-1'), key.publicKey);
    // Its runtime cache has node, as after a first worker: the purge removes it all the same.
    const node = await new AgentFiles().runtime();
    host.seedRuntime(node.path, node.sha256);
    mkdirSync(join(box.config, 'slipway'), { recursive: true });
    writeFileSync(join(box.config, 'slipway', 'config.toml'), host.configTable());
    const keygen = spawnSync('ssh-keygen', ['-l', '-f', key.privateKey], { encoding: 'utf8' });
    const listedKeys = json<{ name: string; fingerprint: string; usedBy: string[] }[]>((await box.run(['keys', 'list', '--provider', 'ssh', '--json'])).stdout);
    expect(listedKeys).toEqual([expect.objectContaining({ name: 'ed25519', fingerprint: keygen.stdout.split(' ')[1], usedBy: ['builder-1'] })]);

    await leaveAgentRunning(box, 'ssh', host.workDir);
    const listed = await box.run(['instances', 'list', '--provider', 'ssh', '--json']);
    const machines = json<{ id: string; host: string; activity: string }[]>(listed.stdout);
    expect(machines).toEqual([expect.objectContaining({ host: 'builder-1', activity: 'builder' })]);

    const dry = json<{ resources: { kind: string; id: string; name: string }[]; not_handled: string[] }>((await box.run(['purge', '--provider', 'ssh', '--dry-run', '--json'])).stdout);
    expect(dry.resources).toEqual(expect.arrayContaining([
      expect.objectContaining({ kind: 'process', id: machines[0]!.id, name: 'builder-1' }),
      expect.objectContaining({ kind: 'work-dir', id: machines[0]!.id }),
      expect.objectContaining({ kind: 'runtime', id: 'builder-1:runtime' }),
      expect.objectContaining({ kind: 'prepared', id: 'builder-1:prepared' }),
    ]));
    expect(dry.not_handled).toEqual(['the ssh keys that log in to the hosts (slipway keys delete --provider ssh)']);

    const purged = await box.run(['purge', '--provider', 'ssh', '--yes']);
    expect(purged.stdout).toMatch(/\d+ deleted, 0 failed\n$/);
    expect(marked(host.workDir)).toEqual([]);
    expect(readdirSync(host.workDir)).toEqual([]);

    const deleted = await box.run(['keys', 'delete', '--provider', 'ssh', 'ed25519', '--yes']);
    expect(deleted.stdout).toBe('deleted ssh key ed25519; hosts builder-1 need another key to log in with\n');
    expect(existsSync(key.privateKey)).toBe(false);
  });
});
