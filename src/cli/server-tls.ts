import { configuredTls, generatedTls, type ServerTls } from '../api/server-certificate.ts';
import { certificateNames, isLoopbackHost } from '../api/worker-url.ts';
import type { SlipwayConfig } from '../config/schema.ts';
import { UsageError } from './usage-error.ts';

/**
 * What `slipway server` serves HTTPS with, if anything. "auto" serves it as soon as other
 * machines can connect (it listens on an address that is not loopback): a server only this
 * machine reaches, or one behind a proxy that terminates TLS, stays on plain HTTP.
 */
export function serverTls(server: SlipwayConfig['server'], host: string, publicUrl: string | undefined, stateDir: string): ServerTls | undefined {
  const wanted = server.tls === 'on' || (server.tls === 'auto' && (server.certificate !== undefined || !isLoopbackHost(host)));
  if (!wanted) return undefined;
  if (publicUrl?.startsWith('http:')) {
    throw new UsageError(`the public URL ${publicUrl} is plain http://, but the server serves HTTPS ([server] tls = "${server.tls}"): give its https:// URL, or set [server] tls = "off"`);
  }
  try {
    return server.certificate !== undefined && server.key !== undefined
      ? configuredTls(server.certificate, server.key)
      : generatedTls(stateDir, certificateNames(host, publicUrl));
  } catch (error) {
    throw new UsageError(`[server] tls: ${(error as Error).message}`);
  }
}

/** What the server says at start about its certificate, for a user to compare with what a browser or curl shows. */
export function tlsLines(tls: ServerTls, stateDir: string): string[] {
  return [
    `TLS certificate: ${tls.generated ? `generated, ${stateDir}/tls/server.crt (workers pin it; other clients: SLIPWAY_CA=that file)` : 'from [server] certificate'}`,
    `  SHA-256 fingerprint ${tls.fingerprint}`,
    `  public key pin ${tls.pin}`,
  ];
}
