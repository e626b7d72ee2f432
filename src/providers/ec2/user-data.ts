/**
 * The script an instance runs at boot: fetch the agent's bootstrap from the coordinator,
 * run it, and power off when the agent exits (the instance is set to terminate on
 * shutdown, so this ends its billing).
 *
 * Only these values go in, and each is held to a strict pattern first: user data runs as
 * root, so nothing that could close a quote or start a command may reach it. An https
 * server's public key pin goes with them: curl fetches the bootstrap only from the server
 * holding that key, so the token is never sent to anyone else.
 */
import { idPatterns } from '../../util/ids.ts';
import { Ec2Refusal } from './errors.ts';

export type Platform = 'linux' | 'windows';

export interface BootValues {
  serverUrl: string;
  registrationToken: string;
  workerId: string;
  /** `sha256//BASE64` of an https server's public key. */
  serverPin?: string;
  /** An http:// server is accepted ([server] plain_http_workers). */
  allowPlainHttp?: boolean;
}

const serverUrlPattern = /^https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?)(:[0-9]{1,5})?(\/[A-Za-z0-9._~-]+)*\/?$/;
const pinPattern = /^sha256\/\/[A-Za-z0-9+/]{43}=$/;
/** What newSecret makes: base64url. */
const tokenPattern = /^[A-Za-z0-9_-]{16,128}$/;

export function checkedBootValues(values: BootValues): BootValues {
  if (!serverUrlPattern.test(values.serverUrl)) {
    throw new Ec2Refusal(`the server URL for an EC2 worker must be http(s)://host[:port][/path] with plain characters, not ${JSON.stringify(values.serverUrl.slice(0, 100))}`);
  }
  if (!tokenPattern.test(values.registrationToken)) throw new Ec2Refusal('a registration token must be 16 to 128 characters of A-Z a-z 0-9 _ -');
  if (!idPatterns.worker.test(values.workerId)) throw new Ec2Refusal(`not a worker id: ${JSON.stringify(values.workerId.slice(0, 40))}`);
  if (values.serverPin !== undefined && !pinPattern.test(values.serverPin)) throw new Ec2Refusal('a server pin must be sha256// and the base64 of a SHA-256');
  return { serverUrl: values.serverUrl.replace(/\/$/, ''), registrationToken: values.registrationToken, workerId: values.workerId, serverPin: values.serverPin, allowPlainHttp: values.allowPlainHttp };
}

export function linuxUserData(values: BootValues): string {
  const { serverUrl, registrationToken, workerId, serverPin, allowPlainHttp } = checkedBootValues(values);
  // With a pin, curl checks the server's key instead of a CA's signature (a generated certificate has none).
  const pinned = serverPin ? ` --insecure --pinnedpubkey '${serverPin}'` : '';
  return `#!/bin/sh
SLIPWAY_SERVER='${serverUrl}'
SLIPWAY_REGISTRATION_TOKEN='${registrationToken}'
SLIPWAY_WORKER='${workerId}'
SLIPWAY_ROOT=/var/lib/slipway
export SLIPWAY_SERVER SLIPWAY_REGISTRATION_TOKEN SLIPWAY_WORKER SLIPWAY_ROOT
${allowPlainHttp ? 'SLIPWAY_ALLOW_PLAIN_HTTP=1; export SLIPWAY_ALLOW_PLAIN_HTTP\n' : ''}# The header goes to curl on stdin, not its command line, where ps would show the token.
# The network may come up after this script starts, hence the retries.
printf 'header = "authorization: Bearer %s"\\n' "$SLIPWAY_REGISTRATION_TOKEN" |
  curl -fsS --retry 10 --retry-connrefused --retry-delay 3${pinned} -K - "$SLIPWAY_SERVER/api/v1/agent/bootstrap.sh" | sh
shutdown -h now
`;
}

export function windowsUserData(values: BootValues): string {
  const { serverUrl, registrationToken, workerId } = checkedBootValues(values);
  return `<powershell>
$env:SLIPWAY_SERVER = '${serverUrl}'
$env:SLIPWAY_REGISTRATION_TOKEN = '${registrationToken}'
$env:SLIPWAY_WORKER = '${workerId}'
$env:SLIPWAY_ROOT = 'C:\\ProgramData\\Slipway'
try {
  $tries = 0
  while ($true) {
    try {
      $bootstrap = Invoke-RestMethod -Uri "$env:SLIPWAY_SERVER/api/v1/agent/bootstrap.ps1" -Headers @{ Authorization = "Bearer $env:SLIPWAY_REGISTRATION_TOKEN" }
      break
    } catch {
      if (++$tries -ge 10) { throw }
      Start-Sleep -Seconds 3
    }
  }
  Invoke-Expression $bootstrap
} finally {
  Stop-Computer -Force
}
</powershell>
`;
}

/** User data as RunInstances takes it: base64. */
export function encodedUserData(platform: Platform, values: BootValues): string {
  const script = platform === 'windows' ? windowsUserData(values) : linuxUserData(values);
  return Buffer.from(script, 'utf8').toString('base64');
}
