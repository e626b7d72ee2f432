import { networkInterfaces } from 'node:os';
import { isLoopbackUrl } from '../util/loopback.ts';

export { isLoopbackHost, isLoopbackUrl } from '../util/loopback.ts';

/** How a machine knows it reached this coordinator over HTTPS and nobody in between. */
export interface ServerTrust {
  /** `sha256//BASE64` of the server's public key, which the bootstrap's curl or wget pins. */
  pin: string;
  /** PEM: the certificate the server presents, which the agent trusts alone. */
  certificate: string;
}

/** Where agents reach the coordinator: on this machine, and from any other. */
export interface CoordinatorUrls {
  local: string;
  remote: string;
  /** Set when the coordinator serves HTTPS. */
  trust?: ServerTrust;
  /** Machines elsewhere may be sent a plain http:// URL ([server] plain_http_workers). */
  plainHttpWorkers?: boolean;
}

/** Why machines elsewhere must not be given `urls.remote`: plain HTTP would carry their tokens in clear. */
export function plainHttpRefusal(urls: CoordinatorUrls): string | undefined {
  if (urls.plainHttpWorkers || !urls.remote.startsWith('http:') || isLoopbackUrl(urls.remote)) return undefined;
  return `the coordinator is served over plain HTTP at ${urls.remote}, which would carry the workers' tokens in clear: serve HTTPS ([server] tls = "auto" or "on"), or set [server] plain_http_workers = true to allow it`;
}

/** What to do when machines elsewhere are given a loopback URL. */
export const remoteCoordinatorHint = 'run a server they can reach (slipway server --listen 0.0.0.0:7070, or [server] public_url) and submit with slipway run --server URL FILE';

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

/** The names a generated certificate must carry: loopback, where the server listens (each external address for a wildcard) and its public URL's host. */
export function certificateNames(host: string, publicUrl?: string): string[] {
  const names = new Set(['localhost', '127.0.0.1', '::1']);
  if (host === '0.0.0.0' || host === '::') {
    for (const address of Object.values(networkInterfaces()).flat()) if (address && !address.internal) names.add(address.address.replace(/%.*$/, ''));
  } else {
    names.add(host);
  }
  if (publicUrl) names.add(new URL(publicUrl).hostname.replace(/^\[|\]$/g, ''));
  return [...names];
}
