import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { configuredProviders, missingProvider } from '../../src/providers/configured.ts';
import { pipelineOf } from '../helpers/pipelines.ts';

describe('providers from the config', () => {
  it('sets up EC2 once a region is known, from the config or the environment, and nothing else by default', async () => {
    const defaults = parseConfig('', 'config.toml', '/state');
    expect(await configuredProviders(defaults, {})).toEqual([]);
    expect((await configuredProviders(defaults, { AWS_REGION: 'eu-west-1' })).map((p) => p.name)).toEqual(['ec2']);
    const configured = parseConfig('[providers.ec2]\nregion = "us-east-1"\n', 'config.toml', '/state');
    expect((await configuredProviders(configured, {})).map((p) => p.name)).toEqual(['ec2']);
  });

  it('says which activity needs a provider that is not set up, and how to set it up', () => {
    const pipeline = pipelineOf([{ name: 'build' }]);
    expect(missingProvider(pipeline, ['local'])).toBeUndefined();
    pipeline.activities.builder!.provider = 'ec2';
    expect(missingProvider(pipeline, ['local'])).toBe(
      'activity builder uses provider ec2, which is not set up here: set [providers.ec2] region in the config (or AWS_REGION) (slipway config prints a commented default)',
    );
    expect(missingProvider(pipeline, ['local', 'ec2'])).toBeUndefined();
  });
});
