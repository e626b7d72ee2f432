/** Errors an EC2 command shows its user: each says what happened in words, never as a stack trace. */
import { errorCode } from './aws-errors.ts';
import type { AwsTarget } from './clients.ts';
import type { Placement } from './placements.ts';

/**
 * AWS cannot be reached as configured (no credentials, no region): a setup problem the
 * user fixes, so it is said in plain words with the fix, never as a stack trace.
 */
export class AwsSetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AwsSetupError';
  }
}

/** No placement (market, instance type, subnet) had capacity. */
export class NoCapacity extends Error {
  constructor(tried: { placement: Placement; code: string }[]) {
    super(`no capacity for an instance anywhere it may go: ${tried.map(({ placement: p, code }) => `${p.market} ${p.instanceType}${p.subnetId ? ` in ${p.subnetId}` : ''}: ${code}`).join('; ')}`);
    this.name = 'NoCapacity';
  }
}

/** A request Slipway will not make as asked (a name it cannot use, a resource that is not Slipway's). */
export class Ec2Refusal extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Ec2Refusal';
  }
}

/** AWS answered a request with an error that no retry or fallback got past. */
export class AwsRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AwsRequestError';
  }
}

function isCredentialsError(error: unknown): boolean {
  return error instanceof Error && (error.name === 'CredentialsProviderError' || /could not load credentials/i.test(error.message));
}

/** Credentials were found, but AWS does not accept them (expired, revoked, mistyped). */
const rejectedCredentialCodes = new Set(['AuthFailure', 'InvalidClientTokenId', 'UnrecognizedClientException', 'ExpiredToken', 'ExpiredTokenException', 'SignatureDoesNotMatch']);

function isMissingRegion(error: unknown): boolean {
  return error instanceof Error && /region is missing/i.test(error.message);
}

/** Where the SDK looked for credentials, in words. */
function credentialSource(target: AwsTarget, env: NodeJS.ProcessEnv = process.env): string {
  if (target.profile) return `the profile '${target.profile}' named by [providers.ec2].profile`;
  if (env.AWS_PROFILE) return `the profile '${env.AWS_PROFILE}' named by AWS_PROFILE`;
  return "the AWS SDK's default chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the default profile in ~/.aws, SSO, web identity, instance metadata)";
}

/**
 * `error` as an AwsSetupError when it is a setup problem, as an AwsRequestError when AWS
 * refused the request; otherwise (a bug, a local file) `error` itself.
 */
export function explainAwsError(error: unknown, target: AwsTarget, env: NodeJS.ProcessEnv = process.env): unknown {
  if (isCredentialsError(error)) {
    return new AwsSetupError(`no AWS credentials: tried ${credentialSource(target, env)} (${(error as Error).message}).
Fix: run 'aws configure' (or 'aws sso login'), set AWS_PROFILE, or set profile under [providers.ec2] in the config.`);
  }
  if (rejectedCredentialCodes.has(errorCode(error))) {
    return new AwsSetupError(`AWS rejected the credentials from ${credentialSource(target, env)}: ${errorCode(error)}: ${(error as Error).message}
Fix: renew them ('aws sso login', or new keys with 'aws configure'), or point AWS_PROFILE or [providers.ec2].profile at ones that work.`);
  }
  if (isMissingRegion(error)) {
    return new AwsSetupError(`no AWS region: none in [providers.ec2].region, AWS_REGION or ${target.profile || env.AWS_PROFILE ? 'the profile' : 'the default profile'}.
Fix: set region under [providers.ec2] in the config, or export AWS_REGION=us-east-1 (say).`);
  }
  if (error instanceof NoCapacity) return new AwsRequestError(error.message);
  if (error instanceof Error && '$metadata' in error) return new AwsRequestError(`AWS refused: ${errorCode(error)}: ${error.message}`);
  return error;
}
