import type { Command } from 'commander';
import { join } from 'node:path';
import { loadConfig } from '../config/load.ts';
import { ensurePrivateDir, stateDir } from '../config/paths.ts';
import type { KeyType } from '../providers/ec2/keys.ts';
import { table } from './format.ts';
import { UsageError } from './usage-error.ts';

const keyTypes: readonly KeyType[] = ['ed25519', 'rsa'];

function keysDir(): string {
  return ensurePrivateDir(join(stateDir(), 'keys'));
}

/** The AWS SDK loads only for the commands that use it: it takes half a second. */
async function ec2() {
  const [keys, { ec2Session }] = await Promise.all([import('../providers/ec2/keys.ts'), import('../providers/ec2/session.ts')]);
  return { ...keys, session: ec2Session(loadConfig().providers.ec2) };
}

export function registerKeys(program: Command): void {
  const keys = program.command('keys')
    .description("manage EC2 key pairs for logging in to Slipway's instances (region and credentials from [providers.ec2])")
    .addHelpText('after', `
Private keys are saved under the state directory's keys/ (mode 0600). Name one in
[providers.ec2].key_name to put it on every instance.

Examples:
  slipway keys create ci && ssh -i "$(slipway keys list --json | jq -r '.[0].privateKey')" admin@HOST
  slipway keys list
  slipway keys delete ci`);

  keys.command('create')
    .description('create a key pair tagged as Slipway\'s and save its private key')
    .argument('<name>', 'the key pair name: letters, digits, . _ -')
    .option('--type <type>', `${keyTypes.join(' or ')} (Windows instances need rsa)`, 'ed25519')
    .option('--json', 'print JSON')
    .action(async (name: string, options: { type: string; json?: boolean }) => {
      if (!keyTypes.includes(options.type as KeyType)) throw new UsageError(`--type takes ${keyTypes.join(' or ')}, not '${options.type}'`);
      const { session, createKeyPair } = await ec2();
      const key = await session.call(() => createKeyPair(session.ec2, keysDir(), name, options.type as KeyType));
      process.stdout.write(options.json ? `${JSON.stringify(key, null, 2)}\n` : `created key pair ${key.name} (${key.id}); private key: ${key.privateKey}\n`);
    });

  keys.command('list')
    .description("list Slipway's key pairs in the region")
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const { session, listKeyPairs } = await ec2();
      const all = await session.call(() => listKeyPairs(session.ec2, keysDir()));
      process.stdout.write(options.json
        ? `${JSON.stringify(all, null, 2)}\n`
        : `${table(all.map((k) => [k.name, k.id, k.type, k.created, k.privateKey ?? '(not on this machine)']), ['NAME', 'ID', 'TYPE', 'CREATED', 'PRIVATE KEY'])}\n`);
    });

  keys.command('delete')
    .description("delete one of Slipway's key pairs and its private key file")
    .argument('<name>', 'the key pair name')
    .action(async (name: string) => {
      const { session, deleteKeyPair } = await ec2();
      await session.call(() => deleteKeyPair(session.ec2, keysDir(), name));
      process.stdout.write(`deleted key pair ${name}\n`);
    });
}
