/**
 * The script an instance runs at boot: fetch the agent's bootstrap from the coordinator,
 * run it, and power off when the agent exits (the instance is set to terminate on
 * shutdown, so this ends its billing).
 *
 * Only these values go in, and each is held to a strict pattern first: user data runs as
 * root, so nothing that could close a quote or start a command may reach it. An https
 * server's pin goes with them: curl (its public key) and PowerShell (its certificate) fetch
 * the bootstrap only from that server, so the token is never sent to anyone else.
 */
import { certificateSha256, powershellServerPin } from '../../api/powershell-server-pin.ts';
import type { ServerTrust } from '../../api/worker-url.ts';
import { idPatterns } from '../../util/ids.ts';
import { Ec2Refusal } from './errors.ts';

export type Platform = 'linux' | 'windows';

/** Who a Linux instance's tasks run as: a user the bootstrap makes, never root. */
export const taskUser = 'slipway-task';

export interface BootValues {
  serverUrl: string;
  registrationToken: string;
  workerId: string;
  /** An https server's public key, which Linux's curl pins, and certificate, which Windows PowerShell pins. */
  serverTrust?: ServerTrust;
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
  if (values.serverTrust && !pinPattern.test(values.serverTrust.pin)) throw new Ec2Refusal('a server pin must be sha256// and the base64 of a SHA-256');
  return { ...values, serverUrl: values.serverUrl.replace(/\/$/, '') };
}

export function linuxUserData(values: BootValues): string {
  const { serverUrl, registrationToken, workerId, serverTrust, allowPlainHttp } = checkedBootValues(values);
  // With a pin, curl checks the server's key instead of a CA's signature (a generated certificate has none).
  const pinned = serverTrust ? ` --insecure --pinnedpubkey '${serverTrust.pin}'` : '';
  return `#!/bin/sh
SLIPWAY_SERVER='${serverUrl}'
SLIPWAY_REGISTRATION_TOKEN='${registrationToken}'
SLIPWAY_WORKER='${workerId}'
SLIPWAY_ROOT=/var/lib/slipway
# Cloud-init runs this as root: the machine's prepare and the worker's init run as root, its tasks as this user.
SLIPWAY_TASK_USER=${taskUser}
export SLIPWAY_SERVER SLIPWAY_REGISTRATION_TOKEN SLIPWAY_WORKER SLIPWAY_ROOT SLIPWAY_TASK_USER
${allowPlainHttp ? 'SLIPWAY_ALLOW_PLAIN_HTTP=1; export SLIPWAY_ALLOW_PLAIN_HTTP\n' : ''}# The header goes to curl on stdin, not its command line, where ps would show the token.
# The network may come up after this script starts, hence the retries.
printf 'header = "authorization: Bearer %s"\\n' "$SLIPWAY_REGISTRATION_TOKEN" |
  curl -fsS --retry 10 --retry-connrefused --retry-delay 3${pinned} -K - "$SLIPWAY_SERVER/api/v1/agent/bootstrap.sh" | sh
shutdown -h now
`;
}

export function windowsUserData(values: BootValues): string {
  const { serverUrl, registrationToken, workerId, serverTrust, allowPlainHttp } = checkedBootValues(values);
  return `<powershell>
$env:SLIPWAY_SERVER = '${serverUrl}'
$env:SLIPWAY_REGISTRATION_TOKEN = '${registrationToken}'
$env:SLIPWAY_WORKER = '${workerId}'
$env:SLIPWAY_ROOT = 'C:\\ProgramData\\Slipway'
${allowPlainHttp ? "$env:SLIPWAY_ALLOW_PLAIN_HTTP = '1'\n" : ''}try {
${serverTrust ? `${powershellServerPin(sha256Of(serverTrust.certificate))}\n` : ''}  $tries = 0
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

function sha256Of(certificate: string): string {
  try {
    return certificateSha256(certificate);
  } catch {
    throw new Ec2Refusal("the server's certificate is not a PEM certificate");
  }
}

/** User data as RunInstances takes it: base64. */
export function encodedUserData(platform: Platform, values: BootValues): string {
  const script = platform === 'windows' ? windowsUserData(values) : linuxUserData(values);
  return Buffer.from(script, 'utf8').toString('base64');
}
