import { EC2Client } from '@aws-sdk/client-ec2';
import { STSClient } from '@aws-sdk/client-sts';
import type { AwsCredentialIdentityProvider } from '@aws-sdk/types';

export interface AwsTarget {
  region?: string | undefined;
  /** Overrides AWS_PROFILE; without either the SDK's default chain applies. */
  profile?: string | undefined;
  /** For tests: credentials from anywhere but the default chain. */
  credentials?: AwsCredentialIdentityProvider | undefined;
}

export interface AwsClients {
  ec2: EC2Client;
  sts: STSClient;
}

/**
 * Clients with the SDK's retries off: withBackoff is the one retry policy, so throttling
 * is not retried by two layers multiplying each other's attempts.
 */
export function awsClients(target: AwsTarget): AwsClients {
  const config = {
    maxAttempts: 1,
    ...(target.region ? { region: target.region } : {}),
    ...(target.profile ? { profile: target.profile } : {}),
    ...(target.credentials ? { credentials: target.credentials } : {}),
  };
  return { ec2: new EC2Client(config), sts: new STSClient(config) };
}
