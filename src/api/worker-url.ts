import { networkInterfaces } from 'node:os';

/** Where agents reach the coordinator: on this machine, and from any other. */
export interface CoordinatorUrls {
  local: string;
  remote: string;
}

/** What to do when machines elsewhere are given a loopback URL. */
export const remoteCoordinatorHint = 'run a server they can reach (slipway server --listen 0.0.0.0:7070, or [server] public_url) and submit with slipway run --server URL FILE';

/** Host names and addresses that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  return bare === 'localhost' || bare === '::1' || /^127\./.test(bare);
}

export function isLoopbackUrl(url: string): boolean {
  return isLoopbackHost(new URL(url).hostname);
}

/**
 * Local agents use loopback. Machines elsewhere get the URL the user set, else where the
 * coordinator listens, with a wildcard address (0.0.0.0, ::) replaced by this machine's
 * first external IPv4 address, since nobody can connect to a wildcard.
 */
export function coordinatorUrls(listeningUrl: string, publicUrl?: string): CoordinatorUrls {
  const url = new URL(listeningUrl);
  const chosen = publicUrl?.replace(/\/+$/, '');
  if (url.hostname !== '0.0.0.0' && url.hostname !== '[::]') return { local: listeningUrl, remote: chosen ?? listeningUrl };
  url.hostname = '127.0.0.1';
  const local = url.origin;
  if (chosen) return { local, remote: chosen };
  const external = Object.values(networkInterfaces()).flat().find((address) => address && address.family === 'IPv4' && !address.internal);
  url.hostname = external?.address ?? '127.0.0.1';
  return { local, remote: url.origin };
}
