import type { Command } from 'commander';
import { join } from 'node:path';
import { loadConfig } from '../config/load.ts';
import { ensurePrivateDir, stateDir } from '../config/paths.ts';
import type { KeyType } from '../providers/ec2/keys.ts';
import { confirmed, terminal, type Confirmation } from './confirmation.ts';
import { table } from './format.ts';
import { providerChoice, providerFlag, type ProviderName } from './provider-choice.ts';
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

async function ssh() {
  return { ...await import('../providers/ssh/keys.ts'), hosts: loadConfig().providers.ssh.hosts };
}

/** Local workers run as you, here: there is nothing to log in to. */
function keyedProvider(text: string): Exclude<ProviderName, 'local'> {
  const provider = providerChoice(text);
  if (provider === 'local') throw new UsageError('local workers need no keys: they run as you on this machine (keys are for --provider ssh or ec2)');
  return provider;
}

export function registerKeys(program: Command, confirmation: Confirmation = terminal): void {
  const keys = program.command('keys')
    .description('manage the keys that log in to machines: EC2 key pairs, or the ssh keys Slipway logs in to your hosts with')
    .addHelpText('after', `
Private keys are saved under the state directory's keys/ (mode 0600).
  ec2: a key pair in [providers.ec2]'s region; name one in [providers.ec2].key_name to put
       it on every instance.
  ssh: keys/ssh_NAME and its .pub; [[providers.ssh.hosts]] log in with keys/ssh_ed25519
       unless their key says otherwise, so 'slipway keys create --provider ssh' makes that
       one. Add the printed public key to each host's ~/.ssh/authorized_keys.

Examples:
  slipway keys create --provider ssh
  slipway keys create ci && ssh -i "$(slipway keys list --json | jq -r '.[0].privateKey')" admin@HOST
  slipway keys list --provider ssh
  slipway keys delete ci --yes`);

  keys.command('create')
    .description("create a key: an EC2 key pair tagged as Slipway's, or an ssh key, and save its private key")
    .argument('[name]', 'letters, digits, . _ - (required for ec2; ssh default: ed25519)')
    .option(...providerFlag)
    .option('--type <type>', `for ec2: ${keyTypes.join(' or ')} (Windows instances need rsa); ssh keys are ed25519`, 'ed25519')
    .option('--json', 'print JSON')
    .action(async (name: string | undefined, options: { provider: string; type: string; json?: boolean }) => {
      const provider = keyedProvider(options.provider);
      if (provider === 'ssh') {
        const { createSshKey, hosts } = await ssh();
        const key = createSshKey(keysDir(), name ?? 'ed25519', hosts);
        process.stdout.write(options.json
          ? `${JSON.stringify(key, null, 2)}\n`
          : `created ${key.privateKey} (${key.fingerprint})\nadd this line to ~/.ssh/authorized_keys on each host:\n${key.publicKey}\n`);
        return;
      }
      if (name === undefined) throw new UsageError('an EC2 key pair needs a name: slipway keys create NAME');
      if (!keyTypes.includes(options.type as KeyType)) throw new UsageError(`--type takes ${keyTypes.join(' or ')}, not '${options.type}'`);
      const { session, createKeyPair } = await ec2();
      const key = await session.call(() => createKeyPair(session.ec2, keysDir(), name, options.type as KeyType));
      process.stdout.write(options.json ? `${JSON.stringify(key, null, 2)}\n` : `created key pair ${key.name} (${key.id}); private key: ${key.privateKey}\n`);
    });

  keys.command('list')
    .description("list Slipway's keys: the key pairs in the region, or the ssh keys in the state directory")
    .option(...providerFlag)
    .option('--json', 'print JSON')
    .action(async (options: { provider: string; json?: boolean }) => {
      if (keyedProvider(options.provider) === 'ssh') {
        const { listSshKeys, hosts } = await ssh();
        const all = listSshKeys(keysDir(), hosts);
        process.stdout.write(options.json
          ? `${JSON.stringify(all, null, 2)}\n`
          : `${table(all.map((k) => [k.name, k.type, k.fingerprint, k.privateKey, k.usedBy.join(', ') || '(no host)']), ['NAME', 'TYPE', 'FINGERPRINT', 'PRIVATE KEY', 'USED BY'])}\n`);
        return;
      }
      const { session, listKeyPairs } = await ec2();
      const all = await session.call(() => listKeyPairs(session.ec2, keysDir()));
      process.stdout.write(options.json
        ? `${JSON.stringify(all, null, 2)}\n`
        : `${table(all.map((k) => [k.name, k.id, k.type, k.created, k.privateKey ?? '(not on this machine)']), ['NAME', 'ID', 'TYPE', 'CREATED', 'PRIVATE KEY'])}\n`);
    });

  keys.command('delete')
    .description("delete one of Slipway's keys and its private key file")
    .argument('<name>', 'the key name')
    .option(...providerFlag)
    .option('--yes', 'delete without asking (needed when stdin is not a terminal)')
    .action(async (name: string, options: { provider: string; yes?: boolean }) => {
      if (keyedProvider(options.provider) === 'ssh') {
        const { deleteSshKey, listSshKeys, hosts } = await ssh();
        const usedBy = listSshKeys(keysDir(), hosts).find((k) => k.name === name)?.usedBy ?? [];
        const warning = usedBy.length > 0 ? ` Hosts ${usedBy.join(', ')} log in with it.` : '';
        if (!(await confirmed(confirmation, { yes: options.yes, what: `ssh key ${name}`, question: `Delete ssh key ${name}?${warning} [y/N] ` }))) return;
        deleteSshKey(keysDir(), name);
        process.stdout.write(`deleted ssh key ${name}${usedBy.length > 0 ? `; hosts ${usedBy.join(', ')} need another key to log in with` : ''}\n`);
        return;
      }
      if (!(await confirmed(confirmation, { yes: options.yes, what: `key pair ${name}`, question: `Delete key pair ${name} and its private key? [y/N] ` }))) return;
      const { session, deleteKeyPair } = await ec2();
      await session.call(() => deleteKeyPair(session.ec2, keysDir(), name));
      process.stdout.write(`deleted key pair ${name}\n`);
    });
}
