import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { mayHoldStore, storeLocation } from './local-state.ts';
import type { SlipwayConfig } from '../config/schema.ts';
import type { FoundMachine, Provider } from '../providers/provider.ts';
import { openStore } from '../store/store.ts';
import { workerRows, type WorkerRow } from '../store/worker-rows.ts';
import { idPatterns } from '../util/ids.ts';
import { confirmed, terminal, type Confirmation } from './confirmation.ts';
import { table } from './format.ts';
import { configuredLocal, configuredSsh, providerChoice, providerFlag } from './provider-choice.ts';
import { UsageError } from './usage-error.ts';

/** The AWS SDK loads only for the commands that use it: it takes half a second. */
async function ec2() {
  const [instances, { ec2Session }] = await Promise.all([import('../providers/ec2/instances.ts'), import('../providers/ec2/session.ts')]);
  const settings = loadConfig().providers.ec2;
  return { ...instances, settings, session: ec2Session(settings) };
}

/** A machine the local or ssh provider runs now, with what the store says of its worker. */
interface HostMachine {
  id: string;
  host: string;
  pid: number;
  name: string;
  run: string;
  activity: string;
  state: string;
  machine: FoundMachine['machine'];
}

/** Local agents, or the agents on every configured ssh host; hosts that cannot be reached are named, not skipped silently. */
async function hostMachines(provider: 'local' | 'ssh', config: SlipwayConfig): Promise<{ machines: HostMachine[]; unreachable: string[]; owner: Provider & { close?(): void } }> {
  let found: FoundMachine[];
  let unreachable: string[] = [];
  let owner: Provider & { close?(): void };
  if (provider === 'local') {
    const local = configuredLocal(config);
    owner = local;
    found = await local.inventory();
  } else {
    const ssh = configuredSsh(config);
    owner = ssh;
    const surveys = await ssh.survey();
    found = surveys.flatMap((s) => s.machines);
    unreachable = surveys.filter((s) => s.error !== undefined).map((s) => `${s.host.name}: ${s.error}`);
  }
  const known = await workersInStore(storeLocation(undefined, config), found.map((f) => f.workerId));
  const machines = found.map(({ workerId, machine }) => {
    const worker = known.get(workerId);
    return {
      id: workerId, host: String(machine.host ?? 'localhost'), pid: Number(machine.pid),
      name: worker?.name ?? '', run: worker?.run_id ?? '', activity: worker?.activity ?? '', state: worker?.state ?? 'not in the store',
      machine,
    };
  });
  return { machines, unreachable, owner };
}

async function workersInStore(location: string, ids: string[]) {
  if (ids.length === 0 || !mayHoldStore(location)) return new Map<string, WorkerRow>();
  const store = await openStore(location);
  try {
    return new Map((await workerRows(store.db, ids)).map((row) => [row.id, row]));
  } finally {
    await store.close();
  }
}

const notCreated = {
  local: 'local machines are not made by hand: each run starts its agents as processes here and stops them',
  ssh: 'ssh hosts are not created by Slipway: list yours as [[providers.ssh.hosts]] in the config (slipway instances list --provider ssh shows what runs on them)',
} as const;

export function registerInstances(program: Command, confirmation: Confirmation = terminal): void {
  const instances = program.command('instances')
    .description("list and stop Slipway's machines: EC2 instances (also start one), local agents, agents on ssh hosts")
    .addHelpText('after', `
EC2 instances are found by their slipway:managed tag in [providers.ec2]'s region; local and
ssh agents by the marker in their environment, each with what the store says of its worker.

Examples:
  slipway instances list --provider local
  slipway instances terminate --provider ssh w-1a2b3c4d --yes
  slipway keys create me && slipway instances create --key me --type t3.micro`);

  instances.command('create')
    .description('start an EC2 instance with no agent, to log in to or prepare an image on; terminate it yourself')
    .option(...providerFlag)
    .option('--type <type>', 'the instance type (default: [providers.ec2].instance_types, in order)')
    .option('--name <name>', 'its Name tag', 'slipway-manual')
    .option('--key <name>', 'the key pair to log in with (default: [providers.ec2].key_name)')
    .option('--json', 'print JSON')
    .action(async (options: { provider: string; type?: string; name: string; key?: string; json?: boolean }) => {
      const provider = providerChoice(options.provider);
      if (provider !== 'ec2') throw new UsageError(`slipway instances create --provider ${provider}: ${notCreated[provider]}`);
      if (options.type !== undefined && !/^[a-z0-9-]+\.[a-z0-9-]+$/.test(options.type)) throw new UsageError(`--type takes an instance type such as t3.micro, not '${options.type}'`);
      const { session, settings, createBareInstance } = await ec2();
      const launched = await session.call(() => createBareInstance(session.ec2, settings, { name: options.name, instanceType: options.type, keyName: options.key }));
      process.stdout.write(options.json
        ? `${JSON.stringify(launched, null, 2)}\n`
        : `started ${launched.instanceId} (${launched.market} ${launched.instanceType}, ${launched.imageId}); end it with: slipway instances terminate ${launched.instanceId}\n`);
    });

  instances.command('list')
    .description("list Slipway's machines that run now")
    .option(...providerFlag)
    .option('--json', 'print JSON')
    .action(async (options: { provider: string; json?: boolean }) => {
      const provider = providerChoice(options.provider);
      if (provider === 'ec2') {
        const { session, listInstances } = await ec2();
        const all = await session.call(() => listInstances(session.ec2));
        process.stdout.write(options.json
          ? `${JSON.stringify(all, null, 2)}\n`
          : `${table(all.map((i) => [i.id, i.name, i.type, i.state, i.market, i.worker, i.run, i.launched, i.publicIp || i.privateIp]), ['ID', 'NAME', 'TYPE', 'STATE', 'MARKET', 'WORKER', 'RUN', 'LAUNCHED', 'IP'])}\n`);
        return;
      }
      const { machines, unreachable, owner } = await hostMachines(provider, loadConfig());
      owner.close?.();
      for (const host of unreachable) process.stderr.write(`could not reach ssh host ${host}\n`);
      process.stdout.write(options.json
        ? `${JSON.stringify(machines.map(({ machine: _, ...shown }) => shown), null, 2)}\n`
        : `${table(machines.map((m) => [m.id, m.name, m.run, m.activity, m.state, m.host, String(m.pid)]), ['WORKER', 'NAME', 'RUN', 'ACTIVITY', 'STATE', 'HOST', 'PID'])}\n`);
    });

  instances.command('terminate')
    .description("stop machines by id, with everything on them; refuses any that is not Slipway's")
    .argument('<id...>', 'EC2 instance ids (i-…), or worker ids (w-…) for local and ssh')
    .option(...providerFlag)
    .option('--yes', 'stop without asking (needed when stdin is not a terminal)')
    .action(async (ids: string[], options: { provider: string; yes?: boolean }) => {
      const provider = providerChoice(options.provider);
      const question = `Terminate ${ids.join(' ')}? [y/N] `;
      if (provider === 'ec2') {
        if (!(await confirmed(confirmation, { yes: options.yes, what: `${ids.length} instance(s)`, question }))) return;
        const { session, terminateManaged } = await ec2();
        await session.call(() => terminateManaged(session.ec2, ids));
        process.stdout.write(`terminating ${ids.join(' ')}\n`);
        return;
      }
      for (const id of ids) if (!idPatterns.worker.test(id)) throw new UsageError(`${provider} machines are named by their worker's id (w- and 8 hex digits), not '${id}'`);
      const { machines, unreachable, owner } = await hostMachines(provider, loadConfig());
      try {
        const missing = ids.filter((id) => !machines.some((m) => m.id === id));
        if (missing.length > 0) {
          const blind = unreachable.length > 0 ? `; not reachable: ${unreachable.join('; ')}` : '';
          throw new UsageError(`no ${provider} machine of ${missing.join(', ')} runs now (slipway instances list --provider ${provider})${blind}`);
        }
        if (!(await confirmed(confirmation, { yes: options.yes, what: `${ids.length} machine(s)`, question }))) return;
        for (const machine of machines.filter((m) => ids.includes(m.id))) {
          await owner.stop(machine.machine);
          process.stdout.write(`stopped ${machine.id} (pid ${machine.pid} on ${machine.host})\n`);
        }
      } finally {
        owner.close?.();
      }
    });
}
