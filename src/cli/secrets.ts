import { readFileSync } from 'node:fs';
import { text } from 'node:stream/consumers';
import type { Command } from 'commander';
import { stateDir } from '../config/paths.ts';
import { secretNameProblem, secretValueProblem } from '../secrets/rules.ts';
import { seal, secretsKey } from '../secrets/sealing.ts';
import { deleteSecret, listSecrets, putSecret, type SecretInfo } from '../store/secrets.ts';
import { openStore } from '../store/store.ts';
import { serverOf } from './api-client.ts';
import { table } from './format.ts';
import { openLocalStore, storeLocation } from './local-state.ts';
import { UsageError } from './usage-error.ts';

export function registerSecrets(program: Command): void {
  const secrets = program.command('secrets')
    .description("manage the secrets steps may read (secrets: [NAME]), kept encrypted in this machine's store or a server's (--server, an admin token)");
  const where = (command: Command) => command
    .option('--db <path>', 'the store (default: the state directory\'s)')
    .option('--server <url>', "a server's secrets instead (default: $SLIPWAY_SERVER)")
    .option('--token <token>', 'a server token with the admin scope (default: $SLIPWAY_TOKEN, or the admin token of a server on this machine)');

  where(secrets.command('set'))
    .description('set a secret, from stdin (one trailing newline dropped) or --file; replaces one of the same name')
    .argument('<name>', 'upper-case letters, digits and _, e.g. PYPI_TOKEN')
    .option('--file <path>', 'read the value from this file instead of stdin')
    .action(async (name: string, options: Where & { file?: string }) => {
      const nameProblem = secretNameProblem(name);
      if (nameProblem) throw new UsageError(nameProblem);
      const value = (await readValue(options.file)).replace(/\r?\n$/, '');
      const valueProblem = secretValueProblem(value);
      if (valueProblem) throw new UsageError(`${name}: ${valueProblem}`);
      const api = serverOf(options);
      if (api) {
        await api.json('POST', `/api/v1/secrets/${name}`, { value });
        process.stdout.write(`set secret ${name} on ${api.origin}\n`);
        return;
      }
      // The first secret of a machine may come before its first run: the store is made here then.
      const store = await openStore(storeLocation(options.db));
      try {
        await putSecret(store.db, name, seal(secretsKey(stateDir(), true), name, value), Date.now());
        process.stdout.write(`set secret ${name}\n`);
      } finally {
        await store.close();
      }
    });

  where(secrets.command('list'))
    .description('list secrets: names and when each was set, never values')
    .option('--json', 'print JSON')
    .action(async (options: Where & { json?: boolean }) => {
      const api = serverOf(options);
      const all = api ? (await api.json<{ secrets: SecretInfo[] }>('GET', '/api/v1/secrets')).secrets : await localSecrets(options.db);
      process.stdout.write(options.json
        ? `${JSON.stringify(all, null, 2)}\n`
        : `${table(all.map((s) => [s.name, s.updated_at]), ['NAME', 'SET'])}\n`);
    });

  where(secrets.command('delete'))
    .description('delete a secret; steps that list it fail from their next attempt on')
    .argument('<name>')
    .action(async (name: string, options: Where) => {
      const nameProblem = secretNameProblem(name);
      if (nameProblem) throw new UsageError(nameProblem);
      const api = serverOf(options);
      if (api) {
        await api.json('POST', `/api/v1/secrets/${name}/delete`);
        process.stdout.write(`deleted secret ${name} on ${api.origin}\n`);
        return;
      }
      const store = await openLocalStore(options.db);
      try {
        if (!(await deleteSecret(store.db, name))) throw new UsageError(`no secret ${name}`);
        process.stdout.write(`deleted secret ${name}\n`);
      } finally {
        await store.close();
      }
    });
}

type Where = { db?: string; server?: string; token?: string };

async function localSecrets(db: string | undefined): Promise<SecretInfo[]> {
  const store = await openLocalStore(db);
  try {
    return await listSecrets(store.db);
  } finally {
    await store.close();
  }
}

async function readValue(file: string | undefined): Promise<string> {
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`--file ${file}: ${(error as Error).message}`);
    }
  }
  if (process.stdin.isTTY) process.stderr.write('the value, then Ctrl-D:\n');
  return text(process.stdin);
}
