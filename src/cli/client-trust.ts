import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getCACertificates, setDefaultCACertificates } from 'node:tls';
import { UsageError } from './usage-error.ts';

/**
 * Lets the CLI reach an https server whose certificate no CA signed: besides the system's
 * CAs it trusts this machine's server's own certificate (tls/server.crt in the state
 * directory, as the admin token is found there too) and the PEM file $SLIPWAY_CA names (a
 * copy of that file, for a CLI on another machine).
 */
export function trustServerCertificates(state: string, env: NodeJS.ProcessEnv = process.env): void {
  const extra: string[] = [];
  const own = join(state, 'tls', 'server.crt');
  if (existsSync(own)) extra.push(readFileSync(own, 'utf8'));
  if (env.SLIPWAY_CA) {
    try {
      extra.push(readFileSync(env.SLIPWAY_CA, 'utf8'));
    } catch (error) {
      throw new UsageError(`SLIPWAY_CA names ${env.SLIPWAY_CA}, which cannot be read: ${(error as Error).message}`);
    }
  }
  if (extra.length > 0) setDefaultCACertificates([...getCACertificates('default'), ...extra]);
}
