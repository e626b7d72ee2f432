import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { powershellBootstrapScript } from '../../src/api/bootstrap-powershell.ts';
import { generatedTls, type ServerTls } from '../../src/api/server-certificate.ts';
import { windowsUserData } from '../../src/providers/ec2/user-data.ts';
import { powershellShapeProblems } from '../helpers/powershell-shape.ts';
import { tempDir } from '../helpers/temp.ts';

/**
 * Windows PowerShell checks a server's certificate with the C# that the user data and the
 * bootstrap compile (Add-Type). There is no Windows here, but Mono runs the same .NET
 * ServicePointManager: each script's own C# and its own Install argument are compiled into
 * a probe that fetches from real HTTPS servers.
 */
const dir = tempDir();
const servers: Server[] = [];
let pinned: ServerTls;
let pinnedUrl: string;
let otherUrl: string;

async function serve(tls: ServerTls, body: string): Promise<string> {
  const server = createServer({ cert: tls.certificate, key: tls.key }, (_request, response) => response.end(body));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/** SHA-256 of the certificate's DER, decoded from the PEM by hand. */
function derSha256(pem: string): string {
  const base64 = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem)![1]!.replace(/\s/g, '');
  return createHash('sha256').update(Buffer.from(base64, 'base64')).digest('hex');
}

/** The script's C# and the sha256 it installs, compiled into a program that fetches a URL with them. */
function compiledProbe(script: string, name: string): string {
  const typeDefinition = /Add-Type -TypeDefinition @'\n([\s\S]*?)\n'@/.exec(script)?.[1];
  const installed = /\[SlipwayServerPin\]::Install\('([0-9a-f]{64})'\)/.exec(script)?.[1];
  expect(typeDefinition, name).toBeDefined();
  expect(installed, name).toBe(derSha256(pinned.certificate));
  const source = join(dir.path, `${name}.cs`);
  writeFileSync(source, `${typeDefinition}
public static class Probe {
  public static int Main(string[] args) {
    SlipwayServerPin.Install("${installed}");
    try {
      System.Console.Write(new System.Net.WebClient().DownloadString(args[0]));
      return 0;
    } catch (System.Net.WebException refused) {
      System.Console.Write(refused.Status);
      return 3;
    }
  }
}
`);
  const program = join(dir.path, `${name}.exe`);
  execFileSync('mcs', ['-nologo', `-out:${program}`, source]);
  return program;
}

function fetchWith(program: string, url: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => execFile('mono', [program, url], (error, out) => resolve({ code: typeof error?.code === 'number' ? error.code : 0, out })));
}

beforeAll(async () => {
  pinned = generatedTls(join(dir.path, 'pinned'), ['127.0.0.1']);
  pinnedUrl = await serve(pinned, 'the pinned server');
  otherUrl = await serve(generatedTls(join(dir.path, 'other'), ['127.0.0.1']), 'another server');
});

afterAll(async () => {
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  dir.remove();
});

describe("Windows workers pin an HTTPS coordinator's certificate", () => {
  const trust = () => ({ pin: pinned.pin, certificate: pinned.certificate });
  const scripts = () => ({
    'user-data': windowsUserData({ serverUrl: 'https://10.0.0.5:7070', registrationToken: 'a'.repeat(43), workerId: 'w-0123abcd', serverTrust: trust() }),
    bootstrap: powershellBootstrapScript({ agentSha256: 'b'.repeat(64), trust: trust() }),
  });

  it('install the pin before the first request, in scripts PowerShell can read', () => {
    for (const [name, script] of Object.entries(scripts())) {
      expect(powershellShapeProblems(script.replace(/^<\/?powershell>$/gm, '')), name).toEqual([]);
      const installed = script.indexOf('[SlipwayServerPin]::Install(');
      expect(installed, name).toBeGreaterThan(0);
      expect(script.search(/Invoke-(RestMethod|WebRequest)/), name).toBeGreaterThan(installed);
    }
    // The agent the bootstrap starts trusts that certificate alone.
    const bootstrap = scripts().bootstrap;
    expect(bootstrap).toContain(`$serverCertificate = '${pinned.certificate.trim()}'`);
    expect(bootstrap.indexOf('$env:SLIPWAY_SERVER_CERTIFICATE = $serverCertificate')).toBeLessThan(bootstrap.indexOf('$token | & $node $agent'));
  });

  it('reach the server holding the pinned certificate and refuse any other', async () => {
    for (const [name, script] of Object.entries(scripts())) {
      const program = compiledProbe(script, name);
      expect(await fetchWith(program, pinnedUrl), name).toEqual({ code: 0, out: 'the pinned server' });
      expect(await fetchWith(program, otherUrl), name).toEqual({ code: 3, out: 'TrustFailure' });
    }
  }, 30_000);

  it('leave scripts for a plain-HTTP coordinator without a pin, and refuse plain HTTP elsewhere unless allowed', () => {
    const values = { serverUrl: 'http://10.0.0.5:7070', registrationToken: 'a'.repeat(43), workerId: 'w-0123abcd' };
    expect(windowsUserData(values)).not.toContain('SlipwayServerPin');
    expect(windowsUserData(values)).not.toContain('SLIPWAY_ALLOW_PLAIN_HTTP');
    expect(windowsUserData({ ...values, allowPlainHttp: true })).toContain("\n$env:SLIPWAY_ALLOW_PLAIN_HTTP = '1'\n");
    const bootstrap = powershellBootstrapScript({ agentSha256: 'b'.repeat(64) });
    expect(bootstrap).not.toContain('SlipwayServerPin');
    expect(bootstrap).toContain("if ($serverUri.Scheme -eq 'http' -and -not $serverUri.IsLoopback -and $env:SLIPWAY_ALLOW_PLAIN_HTTP -ne '1') {");
  });

  it('refuse a certificate that could break out of its quotes', () => {
    expect(() => powershellBootstrapScript({ agentSha256: 'b'.repeat(64), trust: { pin: pinned.pin, certificate: "x'; Remove-Item C:\\ -Recurse; '" } })).toThrow('not a PEM certificate');
    expect(() => windowsUserData({ serverUrl: 'https://10.0.0.5:7070', registrationToken: 'a'.repeat(43), workerId: 'w-0123abcd', serverTrust: { pin: pinned.pin, certificate: "x'; reboot; '" } })).toThrow("the server's certificate is not a PEM certificate");
  });
});
