import type { Command } from 'commander';
import { isScope, scopes, type Scope } from '../engine/scopes.ts';
import { createToken, listTokens, revokeToken } from '../store/tokens.ts';
import { table } from './format.ts';
import { openLocalStore } from './local-state.ts';
import { UsageError } from './usage-error.ts';

export function registerTokens(program: Command): void {
  const tokens = program.command('tokens')
    .description('manage the tokens of the server on this machine (its store)');

  tokens.command('create')
    .description('create a token; its secret is printed once')
    .argument('<name>', 'who or what uses it, e.g. ci or alice')
    .option('--scope <scope>', `one of: ${scopes.join(', ')} (read, submit and admin each include the ones before; worker only registers hand-started workers, for slipway worker)`, 'read')
    .option('--db <path>', 'the store (default: the state directory\'s)')
    .action(async (name: string, options: { scope: string; db?: string }) => {
      if (!isScope(options.scope)) throw new UsageError(`--scope takes one of ${scopes.join(', ')}, not '${options.scope}'`);
      if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$/.test(name)) throw new UsageError(`a token name is letters, digits and . _ @ -, not '${name}'`);
      const store = await openLocalStore(options.db);
      try {
        const { token, secret } = await createToken(store.db, name, [options.scope as Scope], Date.now());
        process.stderr.write(`created token ${token.id} (${name}, ${options.scope}); its secret, shown only now:\n`);
        process.stdout.write(`${secret}\n`);
      } finally {
        await store.close();
      }
    });

  tokens.command('list')
    .description('list tokens (never their secrets)')
    .option('--json', 'print JSON')
    .option('--db <path>', 'the store (default: the state directory\'s)')
    .action(async (options: { json?: boolean; db?: string }) => {
      const store = await openLocalStore(options.db);
      try {
        const all = await listTokens(store.db);
        process.stdout.write(options.json
          ? `${JSON.stringify(all, null, 2)}\n`
          : `${table(all.map((t) => [t.id, t.name, t.scopes.join(','), t.created_at, t.revoked_at ?? '']), ['ID', 'NAME', 'SCOPES', 'CREATED', 'REVOKED'])}\n`);
      } finally {
        await store.close();
      }
    });

  tokens.command('revoke')
    .description('revoke a token by id or name; it stops working at once')
    .argument('<token>', 'its id (t-…) or name')
    .option('--db <path>', 'the store (default: the state directory\'s)')
    .action(async (which: string, options: { db?: string }) => {
      const store = await openLocalStore(options.db);
      try {
        if (!(await revokeToken(store.db, which, Date.now()))) throw new UsageError(`no live token ${which}`);
        process.stdout.write(`revoked ${which}\n`);
      } finally {
        await store.close();
      }
    });
}
