/**
 * The contract every provider keeps, as the coordinator sees it (its lifecycle, defaults
 * filled in by providerLifecycle): local with real agent processes, ssh on a real sshd,
 * EC2 against a stateful fake of the API behind aws-sdk-client-mock.
 */
import {
  CreateTagsCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type DescribeInstancesCommandInput,
  type EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { mockClient, type AwsClientStub } from 'aws-sdk-client-mock';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Ec2Provider } from '../../src/providers/ec2/ec2-provider.ts';
import { LocalProvider } from '../../src/providers/local.ts';
import { providerLifecycle, type MachineHandle, type ProviderLifecycle, type StartRequest } from '../../src/providers/provider.ts';
import { SshProvider } from '../../src/providers/ssh/ssh-provider.ts';
import { newId } from '../../src/util/ids.ts';
import { processesUnder, waitFor } from '../helpers/processes.ts';
import { keyPair, SshdHost } from '../helpers/sshd.ts';
import { tempDir } from '../helpers/temp.ts';
import { awsError, ec2Settings, recordingBackoff, testClient } from './ec2/aws-fixtures.ts';

/** One store's view of a provider. */
interface StoreSide {
  lifecycle: ProviderLifecycle;
  /** The store's id, as the coordinator passes it to start and inventory. */
  owner: string;
}

/** A provider set up for the contract, with what it needs around it. */
interface Subject extends StoreSide {
  /** The same provider as another store (another state directory, work_dir or store id) has it. */
  otherStore: StoreSide;
  /** Whether rename shows the name somewhere; where it does, where to read it back. */
  shownName?: (machine: MachineHandle) => string | undefined;
  /** A start that cannot succeed, and the error it must give. */
  failingStart: { lifecycle: ProviderLifecycle; token?: string; error: RegExp };
  /** Where the provider's processes would be found if any were left (none for EC2). */
  processRoot?: string;
  close(): Promise<void>;
}

const token = 'x'.repeat(43);
/** A registration token the fake coordinator refuses. */
const refusedToken = `refused${'x'.repeat(36)}`;

/**
 * Stands in for the coordinator: serves ssh hosts a bootstrap that leaves one marked process
 * running (what the ssh provider tracks of a machine), and answers every other request
 * with 503, which a local agent takes as "not now" and retries, so it stays up until stopped.
 */
async function fakeCoordinator(): Promise<{ url: string; server: Server }> {
  const server = createServer((request, response) => {
    if (request.url === '/api/v1/agent/bootstrap.sh') {
      if (request.headers.authorization !== `Bearer ${token}`) {
        response.writeHead(401).end('registration token refused');
        return;
      }
      response.end('SLIPWAY_MACHINE=$SLIPWAY_ROOT/$SLIPWAY_WORKER exec sleep 300\n');
      return;
    }
    response.writeHead(503).end('not now');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

/** Processes of machines still running under `root` (an ssh test host's own sshd is not one). */
function leftBehind(root: string): string[] {
  return processesUnder(root).map((p) => p.cmdline).filter((cmdline) => !/^(sshd: )?\/usr\/sbin\/sshd /.test(cmdline));
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function localSubject(dir: string): Promise<Subject> {
  const options = { killGraceMs: 2000, agentReconnectMs: 300_000 };
  const blocker = join(dir, 'a-file');
  writeFileSync(blocker, '');
  return {
    lifecycle: providerLifecycle(new LocalProvider({ workRoot: join(dir, 'state-a', 'workers'), ...options })),
    owner: 's-storea',
    // Another store keeps its workers in its own state directory.
    otherStore: { lifecycle: providerLifecycle(new LocalProvider({ workRoot: join(dir, 'state-b', 'workers'), ...options })), owner: 's-storeb' },
    failingStart: {
      lifecycle: providerLifecycle(new LocalProvider({ workRoot: join(blocker, 'workers'), ...options })),
      error: new RegExp(`ENOTDIR: not a directory, mkdir '${blocker}/workers/w-`),
    },
    processRoot: dir,
    async close() {},
  };
}

async function sshSubject(dir: string): Promise<Subject> {
  const client = keyPair(join(dir, 'client_ed25519'));
  const host = await SshdHost.start('contract', join(dir, 'host'), client.pub);
  const hostConfig = (workDir: string) => ({ name: host.name, address: '127.0.0.1', port: host.port, user: host.user, key: client.key, max_workers: 20, work_dir: workDir });
  const otherWorkDir = join(host.dir, 'other-store');
  mkdirSync(otherWorkDir, { mode: 0o700 });
  chownSync(otherWorkDir, host.login.uid, host.login.gid);
  const knownHosts = join(dir, 'known_hosts');
  const providers = [host.workDir, otherWorkDir].map((workDir) => new SshProvider({ hosts: [hostConfig(workDir)], knownHosts, liveMachines: async () => [], killGraceMs: 2000 }));
  return {
    lifecycle: providerLifecycle(providers[0]!),
    owner: 's-storea',
    // Another store's coordinator keeps its workers in its own work_dir on the host.
    otherStore: { lifecycle: providerLifecycle(providers[1]!), owner: 's-storeb' },
    failingStart: {
      lifecycle: providerLifecycle(providers[0]!),
      token: refusedToken,
      error: /^no ssh host could start a worker: contract: the coordinator refused the bootstrap script: 401 registration token refused$/,
    },
    processRoot: host.dir,
    async close() {
      for (const provider of providers) provider.close();
      host.cutOff();
    },
  };
}

interface FakeInstance {
  id: string;
  type: string;
  state: string;
  tags: Tag[];
}

/**
 * EC2 as far as the provider uses it, with state: instances are run with their tags,
 * described by id (a terminated one stays visible, an unknown id is NotFound) or by the
 * filters EC2 has, tagged, and terminated (which is idempotent, as in EC2).
 */
class FakeEc2 {
  readonly instances = new Map<string, FakeInstance>();
  #next = 0x1000;

  constructor(mock: AwsClientStub<EC2Client>, runError?: Error) {
    mock.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-00000000000000001', CreationDate: '2026-01-01T00:00:00.000Z' }] });
    mock.on(RunInstancesCommand).callsFake((input) => {
      if (runError) throw runError;
      const id = `i-${(this.#next++).toString(16).padStart(17, '0')}`;
      const tags = input.TagSpecifications?.find((spec: { ResourceType?: string }) => spec.ResourceType === 'instance')?.Tags ?? [];
      this.instances.set(id, { id, type: input.InstanceType, state: 'pending', tags: [...tags] });
      return { Instances: [{ InstanceId: id }] };
    });
    mock.on(DescribeInstancesCommand).callsFake((input: DescribeInstancesCommandInput) => {
      let found = [...this.instances.values()];
      if (input.InstanceIds) {
        const missing = input.InstanceIds.filter((id) => !this.instances.has(id));
        if (missing.length > 0) throw awsError('InvalidInstanceID.NotFound');
        found = found.filter((i) => input.InstanceIds!.includes(i.id));
      }
      for (const filter of input.Filters ?? []) {
        const values = filter.Values ?? [];
        if (filter.Name?.startsWith('tag:')) found = found.filter((i) => i.tags.some((t) => t.Key === filter.Name!.slice(4) && values.includes(t.Value ?? '')));
        else if (filter.Name === 'tag-key') found = found.filter((i) => i.tags.some((t) => values.includes(t.Key ?? '')));
        else if (filter.Name === 'instance-state-name') found = found.filter((i) => values.includes(i.state));
        else throw new Error(`the fake EC2 has no filter ${filter.Name}`);
      }
      return { Reservations: found.map((i) => ({ Instances: [{ InstanceId: i.id, InstanceType: i.type as never, State: { Name: i.state as never }, Tags: i.tags }] })) };
    });
    mock.on(TerminateInstancesCommand).callsFake((input) => {
      for (const id of input.InstanceIds as string[]) {
        const instance = this.instances.get(id);
        if (!instance) throw awsError('InvalidInstanceID.NotFound');
        if (instance.state !== 'terminated') instance.state = 'shutting-down';
      }
      return {};
    });
    mock.on(CreateTagsCommand).callsFake((input) => {
      for (const id of input.Resources as string[]) {
        const instance = this.instances.get(id);
        if (!instance) throw awsError('InvalidInstanceID.NotFound');
        for (const tag of input.Tags as Tag[]) instance.tags = [...instance.tags.filter((t) => t.Key !== tag.Key), tag];
      }
      return {};
    });
  }
}

async function ec2Subject(): Promise<Subject> {
  const settings = ec2Settings({ instance_types: ['c6i.large'] });
  const client = testClient();
  const fake = new FakeEc2(mockClient(client));
  const lifecycle = providerLifecycle(new Ec2Provider({ settings, ec2: client, backoff: recordingBackoff() }));
  const full = testClient();
  new FakeEc2(mockClient(full), awsError('InsufficientInstanceCapacity'));
  return {
    lifecycle,
    owner: 's-storea',
    // Every store's coordinator uses the same account and region: the store id tag tells them apart.
    otherStore: { lifecycle, owner: 's-storeb' },
    shownName: (machine) => fake.instances.get(String(machine.instanceId))?.tags.find((t) => t.Key === 'Name')?.Value,
    failingStart: {
      lifecycle: providerLifecycle(new Ec2Provider({ settings, ec2: full, backoff: recordingBackoff() })),
      error: /^no capacity for an instance anywhere it may go: on-demand c6i\.large: InsufficientInstanceCapacity$/,
    },
    async close() {},
  };
}

const subjects: { name: string; showsNames: boolean; setUp: (dir: string) => Promise<Subject> }[] = [
  { name: 'local', showsNames: false, setUp: localSubject },
  { name: 'ssh', showsNames: false, setUp: sshSubject },
  { name: 'ec2', showsNames: true, setUp: () => ec2Subject() },
];

describe('providerLifecycle', () => {
  it('fills in what a provider leaves out: not on this machine, reachable, no exits, status unknown, nothing in inventory, names not shown', async () => {
    const stops: MachineHandle[] = [];
    const bare = { name: 'bare', start: async () => ({ id: 1 }), stop: async (machine: MachineHandle) => void stops.push(machine) };
    const lifecycle = providerLifecycle(bare);
    expect([lifecycle.name, lifecycle.onThisMachine, lifecycle.showsNames, lifecycle.unreachableFrom('http://127.0.0.1:1')]).toEqual(['bare', false, false, undefined]);
    const machine = await lifecycle.start({ owner: 's-storea', workerId: 'w-00000001', runId: 'r-00000001', activity: 'builder', serverUrl: 'http://127.0.0.1:1', registrationToken: token, agentLogPath: '/dev/null' });
    lifecycle.onExit(() => { throw new Error('no provider reported this'); });
    expect(await lifecycle.status(machine)).toBe('unknown');
    expect(await lifecycle.inventory('s-storea')).toEqual([]);
    await lifecycle.rename(machine, 'wb-1-builder');
    await lifecycle.stop(machine);
    expect(stops).toEqual([{ id: 1 }]);
    expect(providerLifecycle(lifecycle)).toBe(lifecycle);
  });

  it("uses the provider's own parts, and reads onThisMachine when asked", async () => {
    const provider = {
      name: 'own', onThisMachine: false, start: async () => ({ id: 2 }), stop: async () => {},
      status: async () => 'gone' as const, inventory: async (owner: string) => [{ workerId: owner, machine: {} }], rename: async () => {},
      unreachableFrom: (url: string) => `not from ${url}`,
    };
    const lifecycle = providerLifecycle(provider);
    provider.onThisMachine = true;
    expect([lifecycle.onThisMachine, lifecycle.showsNames, lifecycle.unreachableFrom('u')]).toEqual([true, true, 'not from u']);
    expect(await lifecycle.status({})).toBe('gone');
    expect(await lifecycle.inventory('s-x')).toEqual([{ workerId: 's-x', machine: {} }]);
  });
});

describe.each(subjects)('the $name provider', ({ name, showsNames, setUp }) => {
  /** Made when the suite runs, not when it is collected: a filtered-out suite leaves none behind. */
  let dir: ReturnType<typeof tempDir>;
  let coordinator: Awaited<ReturnType<typeof fakeCoordinator>>;
  let subject: Subject;
  /** Machines each test started, stopped after it whatever happened. */
  let started: { side: StoreSide; machine: MachineHandle }[] = [];

  const request = (side: StoreSide, registrationToken = token): StartRequest => {
    const workerId = newId('w');
    return { owner: side.owner, workerId, runId: 'r-contract', activity: 'builder', serverUrl: coordinator.url, registrationToken, agentLogPath: join(dir.path, 'logs', `${workerId}.log`) };
  };

  async function start(side: StoreSide = subject): Promise<{ workerId: string; machine: MachineHandle }> {
    const asked = request(side);
    const machine = await side.lifecycle.start(asked);
    started.push({ side, machine });
    return { workerId: asked.workerId, machine };
  }

  const listed = async (side: StoreSide, workerId: string): Promise<boolean> => (await side.lifecycle.inventory(side.owner)).some((m) => m.workerId === workerId);

  beforeAll(async () => {
    dir = tempDir();
    coordinator = await fakeCoordinator();
    subject = await setUp(dir.path);
  });

  afterEach(async () => {
    await Promise.all(started.map(({ side, machine }) => side.lifecycle.stop(machine)));
    started = [];
  });

  afterAll(async () => {
    try {
      if (subject?.processRoot) expect(leftBehind(subject.processRoot)).toEqual([]);
    } finally {
      await subject?.close();
      if (coordinator) await closeServer(coordinator.server);
      dir?.remove();
    }
  });

  it('starts a machine that status says is running and inventory lists (once its agent is up)', async () => {
    const { workerId, machine } = await start();
    expect(await subject.lifecycle.status(machine)).toBe('running');
    await waitFor(() => listed(subject, workerId), 10_000, `inventory to list ${workerId}`);
  });

  it(`${showsNames ? 'shows' : 'takes without failing'} a new name`, async () => {
    const { machine } = await start();
    expect(subject.lifecycle.showsNames).toBe(showsNames);
    await subject.lifecycle.rename(machine, 'wb-3-builder');
    if (subject.shownName) expect(subject.shownName(machine)).toBe('wb-3-builder');
  });

  it('stops a machine: then status says gone and inventory no longer lists it', async () => {
    const { workerId, machine } = await start();
    await waitFor(() => listed(subject, workerId), 10_000, `inventory to list ${workerId}`);
    await subject.lifecycle.stop(machine);
    expect(await subject.lifecycle.status(machine)).toBe('gone');
    expect(await listed(subject, workerId)).toBe(false);
  });

  it('stops a machine twice without harm', async () => {
    const { machine } = await start();
    await subject.lifecycle.stop(machine);
    await subject.lifecycle.stop(machine);
    await subject.lifecycle.stop(machine, { drained: true });
    expect(await subject.lifecycle.status(machine)).toBe('gone');
  });

  it("does not list another store's machine", async () => {
    const other = subject.otherStore;
    const { workerId } = await start(other);
    await waitFor(() => listed(other, workerId), 10_000, `the other store's inventory to list ${workerId}`);
    expect(await listed(subject, workerId)).toBe(false);
  });

  it('fails a start that cannot succeed with an error that says why, and leaves nothing running', async () => {
    const { lifecycle, token: refused, error } = subject.failingStart;
    await expect(lifecycle.start(request(subject, refused))).rejects.toThrow(error);
    if (subject.processRoot) expect(leftBehind(subject.processRoot)).toEqual([]);
  });
});
