import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { CredentialsProviderError } from '@smithy/core/config';
import { describe, expect, it } from 'vitest';
import { awsClients } from '../../../src/providers/ec2/clients.ts';
import { AwsRequestError, AwsSetupError, explainAwsError } from '../../../src/providers/ec2/errors.ts';
import { awsError } from './aws-fixtures.ts';

const noCredentials = async () => {
  throw new CredentialsProviderError('Could not load credentials from any providers', { tryNextLink: false });
};

describe('explainAwsError', () => {
  it('turns a real client failing for lack of credentials into a plain message with the fix', async () => {
    const target = { region: 'eu-west-1', credentials: noCredentials };
    const error = await awsClients(target).ec2.send(new DescribeInstancesCommand({})).catch((e: unknown) => e);
    const explained = explainAwsError(error, target, {});
    expect(explained).toBeInstanceOf(AwsSetupError);
    expect((explained as Error).message).toMatch(/^no AWS credentials: tried the AWS SDK's default chain/);
    expect((explained as Error).message).toContain("Fix: run 'aws configure'");
    expect((explained as Error).message).toContain('AWS_PROFILE');
    expect((explained as Error).message).toContain('[providers.ec2]');
  });

  it('names the profile it tried: the config one over AWS_PROFILE', () => {
    const error = new CredentialsProviderError('Profile ci could not be found', { tryNextLink: false });
    expect((explainAwsError(error, { profile: 'ci' }, { AWS_PROFILE: 'dev' }) as Error).message).toContain("the profile 'ci' named by [providers.ec2].profile");
    expect((explainAwsError(error, {}, { AWS_PROFILE: 'dev' }) as Error).message).toContain("the profile 'dev' named by AWS_PROFILE");
  });

  it('says when no region is set', () => {
    // What the SDK throws when it finds no region.
    const missing = new Error('Region is missing');
    expect((explainAwsError(missing, {}, {}) as Error).message).toMatch(/^no AWS region: .*\nFix: set region under \[providers\.ec2\]/);
  });

  it.each(['ExpiredToken', 'InvalidClientTokenId', 'AuthFailure'])('says that AWS rejected the credentials it found (%s)', (code) => {
    const explained = explainAwsError(awsError(code, 403), { profile: 'ci' }, {}) as Error;
    expect(explained).toBeInstanceOf(AwsSetupError);
    expect(explained.message).toMatch(new RegExp(`^AWS rejected the credentials from the profile 'ci' named by \\[providers\\.ec2\\]\\.profile: ${code}: `));
    expect(explained.message).toContain("Fix: renew them ('aws sso login'");
  });

  it('turns other AWS answers into a one-line refusal, and leaves anything else as it is', () => {
    expect(explainAwsError(awsError('InvalidParameterValue'), {}, {})).toEqual(new AwsRequestError('AWS refused: InvalidParameterValue: InvalidParameterValue (test)'));
    const other = new Error('boom');
    expect(explainAwsError(other, {}, {})).toBe(other);
  });
});
