import { EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { configSchema } from '../../../src/config/schema.ts';
import type { BackoffOptions } from '../../../src/providers/ec2/backoff.ts';
import type { Ec2Settings } from '../../../src/providers/ec2/settings.ts';
import type { StartRequest } from '../../../src/providers/provider.ts';

/** An error as the EC2 client throws it: its code in `name`. */
export function awsError(code: string, httpStatusCode = 400): EC2ServiceException {
  return new EC2ServiceException({ name: code, $fault: httpStatusCode >= 500 ? 'server' : 'client', $metadata: { httpStatusCode }, message: `${code} (test)` });
}

export function ec2Settings(overrides: Partial<Ec2Settings> = {}): Ec2Settings {
  return { ...configSchema.parse({}).providers.ec2, ...overrides };
}

/** A client that never reaches AWS: every test mocks it, and these credentials are fake. */
export function testClient(): EC2Client {
  return new EC2Client({ region: 'us-east-1', credentials: { accessKeyId: 'AKIATEST', secretAccessKey: 'test' }, maxAttempts: 1 });
}

/** Backoff that records its delays instead of waiting. */
export function recordingBackoff(attempts = 4): BackoffOptions & { delays: number[] } {
  const delays: number[] = [];
  return { attempts, baseMs: 100, maxMs: 1000, random: () => 0.5, sleep: async (ms) => void delays.push(ms), delays };
}

export function decodedUserData(base64: string | undefined): string {
  return Buffer.from(base64 ?? '', 'base64').toString('utf8');
}

/** A worker's start as the coordinator asks it of an EC2 provider. */
export const startRequest: StartRequest = {
  owner: 's-0123456789abcdef',
  workerId: 'w-0123abcd',
  runId: 'r-89abcdef',
  activity: 'builder',
  serverUrl: 'https://ci.example.com:7070',
  registrationToken: 'tok_0123456789abcdefghijklmnop',
  agentLogPath: '/unused',
};
