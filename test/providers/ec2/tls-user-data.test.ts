import { DescribeImagesCommand, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { generatedTls } from '../../../src/api/server-certificate.ts';
import { Ec2Provider } from '../../../src/providers/ec2/ec2-provider.ts';
import type { StartRequest } from '../../../src/providers/provider.ts';
import { tempDir } from '../../helpers/temp.ts';
import { decodedUserData, ec2Settings, recordingBackoff, testClient, startRequest } from './aws-fixtures.ts';

const client = testClient();
const ec2 = mockClient(client);
afterEach(() => ec2.reset());

const request = startRequest;

async function userDataOf(start: StartRequest, platform?: 'Windows'): Promise<string> {
  ec2.on(DescribeImagesCommand).resolves({ Images: [{ ImageId: 'ami-00000000000000001', CreationDate: '2026-01-01T00:00:00.000Z', Platform: platform }] });
  ec2.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0aaaabbbbccccdddd' }] });
  const image = platform ? { image: 'ami-00000000000000001' } : {};
  await new Ec2Provider({ settings: ec2Settings({ instance_types: ['c6i.large'], ...image }), ec2: client, backoff: recordingBackoff(), now: () => 0 }).start(start);
  return decodedUserData(ec2.commandCalls(RunInstancesCommand)[0]!.args[0].input.UserData);
}

describe('EC2 user data for an HTTPS coordinator', () => {
  it("pins the server's public key when fetching the bootstrap, so the token goes to that server only", async () => {
    const dir = tempDir();
    try {
      const tls = generatedTls(dir.path, ['ci.example.com']);
      const script = await userDataOf({ ...request, serverTrust: { pin: tls.pin, certificate: tls.certificate } });
      expect(script).toContain(`--insecure --pinnedpubkey '${tls.pin}' -K - "$SLIPWAY_SERVER/api/v1/agent/bootstrap.sh"`);
      expect(script).not.toContain('SLIPWAY_ALLOW_PLAIN_HTTP');
    } finally {
      dir.remove();
    }
  });

  it("pins the server's certificate on a Windows image, whose PowerShell would trust only the system's CAs", async () => {
    const dir = tempDir();
    try {
      const tls = generatedTls(dir.path, ['ci.example.com']);
      const script = await userDataOf({ ...request, serverTrust: { pin: tls.pin, certificate: tls.certificate } }, 'Windows');
      const sha256 = tls.fingerprint.replaceAll(':', '').toLowerCase();
      expect(script.indexOf(`[SlipwayServerPin]::Install('${sha256}')`)).toBeGreaterThan(0);
      expect(script.indexOf('Invoke-RestMethod')).toBeGreaterThan(script.indexOf('[SlipwayServerPin]::Install('));
    } finally {
      dir.remove();
    }
  });

  it('lets the bootstrap talk plain HTTP only when the server allows it ([server] plain_http_workers)', async () => {
    const script = await userDataOf({ ...request, serverUrl: 'http://ci.example.com:7070', allowPlainHttp: true });
    expect(script).toContain('SLIPWAY_ALLOW_PLAIN_HTTP=1; export SLIPWAY_ALLOW_PLAIN_HTTP');
    expect(script).not.toContain('--pinnedpubkey');
  });

  it('refuses a pin that is not one, before anything reaches user data', async () => {
    await expect(userDataOf({ ...request, serverTrust: { pin: "sha256//x';reboot;'", certificate: '' } })).rejects.toThrow(/server pin/);
  });
});
