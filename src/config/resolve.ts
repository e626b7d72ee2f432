import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { DEFAULT_PRICES, type SlipwayConfig } from './schema.ts';

/**
 * The config as Slipway uses it: local paths absolute, and prices for every default type.
 * A relative path is in the state directory, so the printed default holds no absolute
 * path and follows XDG_STATE_HOME wherever it points.
 */
export function resolveConfig(config: SlipwayConfig, state: string): SlipwayConfig {
  const local = (path: string): string => localPath(path, state);
  const { store, server, providers } = config;
  return {
    ...config,
    store: { ...store, path: local(store.path) },
    server: {
      ...server,
      file_remotes: server.file_remotes.map(local),
      ...(server.certificate !== undefined && { certificate: local(server.certificate) }),
      ...(server.key !== undefined && { key: local(server.key) }),
    },
    providers: {
      local: { ...providers.local, work_dir: local(providers.local.work_dir) },
      ssh: {
        ...providers.ssh,
        known_hosts: local(providers.ssh.known_hosts),
        hosts: providers.ssh.hosts.map((host) => ({ ...host, key: local(host.key) })),
      },
      // A table that lists a few types changes those; the rest keep their list prices.
      ec2: {
        ...providers.ec2,
        prices: { ...DEFAULT_PRICES, ...providers.ec2.prices },
        ...(providers.ec2.windows_node !== undefined && { windows_node: local(providers.ec2.windows_node) }),
      },
    },
  };
}

function localPath(path: string, state: string): string {
  if (path === '~') return homedir();
  if (path.startsWith('~/')) return join(homedir(), path.slice(2));
  return resolve(state, path);
}
