import { networkInterfaces } from 'node:os';

/** Where agents reach the coordinator: on this machine, and from any other. */
export interface CoordinatorUrls {
  local: string;
  remote: string;
}

/** What to do when machines elsewhere are given a loopback URL. */
export const remoteCoordinatorHint = 'run a server they can reach (slipway server --listen 0.0.0.0:7070, or [server] public_url) and submit with slipway run --server URL FILE';

/** Hosts that only this machine can reach. */
export function isLoopbackUrl(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/**
 * Local agents use loopback. Machines elsewhere get the URL the user set, else where the
 * coordinator listens, with a wildcard address (0.0.0.0, ::) replaced by this machine's
 * first external IPv4 address, since nobody can connect to a wildcard.
 */
export function coordinatorUrls(listeningUrl: string, publicUrl?: string): CoordinatorUrls {
  const url = new URL(listeningUrl);
  const wildcard = url.hostname === '0.0.0.0' || url.hostname === '[::]';
  if (!wildcard) return { local: listeningUrl, remote: publicUrl?.replace(/\/+$/, '') ?? listeningUrl };
  const local = new URL(listeningUrl);
  local.hostname = '127.0.0.1';
  const external = Object.values(networkInterfaces()).flat().find((address) => address && address.family === 'IPv4' && !address.internal);
  url.hostname = external?.address ?? '127.0.0.1';
  return { local: local.origin, remote: publicUrl?.replace(/\/+$/, '') ?? url.origin };
}
