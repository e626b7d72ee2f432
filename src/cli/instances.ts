import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { table } from './format.ts';
import { UsageError } from './usage-error.ts';

/** `--provider` for commands only EC2 has: local workers are processes that end with the slipway that started them. */
export function requireEc2(provider: string, command: string): void {
  if (provider === 'ec2') return;
  if (provider === 'local' || provider === 'ssh') {
    throw new UsageError(`slipway ${command} is not supported for the ${provider} provider: it manages EC2 resources only (${provider} workers end with the slipway that started them)`);
  }
  throw new UsageError(`--provider takes ec2, not '${provider}'`);
}

/** The AWS SDK loads only for the commands that use it: it takes half a second. */
async function ec2() {
  const [instances, { ec2Session }] = await Promise.all([import('../providers/ec2/instances.ts'), import('../providers/ec2/session.ts')]);
  const settings = loadConfig().providers.ec2;
  return { ...instances, settings, session: ec2Session(settings) };
}

export function registerInstances(program: Command): void {
  const instances = program.command('instances')
    .description("start, list and terminate Slipway's EC2 instances (region and credentials from [providers.ec2])");

  instances.command('create')
    .description('start an instance with no agent, to log in to or prepare an image on; terminate it yourself')
    .option('--provider <name>', 'ec2 (the only provider with instances)', 'ec2')
    .option('--type <type>', 'the instance type (default: [providers.ec2].instance_types, in order)')
    .option('--name <name>', 'its Name tag', 'slipway-manual')
    .option('--key <name>', 'the key pair to log in with (default: [providers.ec2].key_name)')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Example:
  slipway keys create me && slipway instances create --key me --type t3.micro`)
    .action(async (options: { provider: string; type?: string; name: string; key?: string; json?: boolean }) => {
      requireEc2(options.provider, 'instances create');
      if (options.type !== undefined && !/^[a-z0-9-]+\.[a-z0-9-]+$/.test(options.type)) throw new UsageError(`--type takes an instance type such as t3.micro, not '${options.type}'`);
      const { session, settings, createBareInstance } = await ec2();
      const launched = await session.call(() => createBareInstance(session.ec2, settings, { name: options.name, instanceType: options.type, keyName: options.key }));
      process.stdout.write(options.json
        ? `${JSON.stringify(launched, null, 2)}\n`
        : `started ${launched.instanceId} (${launched.market} ${launched.instanceType}, ${launched.imageId}); end it with: slipway instances terminate ${launched.instanceId}\n`);
    });

  instances.command('list')
    .description("list Slipway's instances that are not terminated")
    .option('--provider <name>', 'ec2 (the only provider with instances)', 'ec2')
    .option('--json', 'print JSON')
    .action(async (options: { provider: string; json?: boolean }) => {
      requireEc2(options.provider, 'instances list');
      const { session, listInstances } = await ec2();
      const all = await session.call(() => listInstances(session.ec2));
      process.stdout.write(options.json
        ? `${JSON.stringify(all, null, 2)}\n`
        : `${table(all.map((i) => [i.id, i.name, i.type, i.state, i.market, i.worker, i.run, i.launched, i.publicIp || i.privateIp]), ['ID', 'NAME', 'TYPE', 'STATE', 'MARKET', 'WORKER', 'RUN', 'LAUNCHED', 'IP'])}\n`);
    });

  instances.command('terminate')
    .description("terminate instances by id; refuses any that is not Slipway's")
    .argument('<id...>', 'instance ids (i-…)')
    .option('--provider <name>', 'ec2 (the only provider with instances)', 'ec2')
    .action(async (ids: string[], options: { provider: string }) => {
      requireEc2(options.provider, 'instances terminate');
      const { session, terminateManaged } = await ec2();
      await session.call(() => terminateManaged(session.ec2, ids));
      process.stdout.write(`terminating ${ids.join(' ')}\n`);
    });
}
