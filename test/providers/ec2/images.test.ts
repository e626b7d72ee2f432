import { describe, expect, it } from 'vitest';
import { architectureOf } from '../../../src/providers/ec2/images.ts';

describe('architectureOf', () => {
  it.each([
    ['c6i.large', 'x86_64'], ['t3.nano', 'x86_64'], ['g5.xlarge', 'x86_64'], ['r7iz.large', 'x86_64'], ['m5zn.large', 'x86_64'],
    ['c7g.large', 'arm64'], ['m6gd.xlarge', 'arm64'], ['t4g.nano', 'arm64'], ['c7gn.large', 'arm64'], ['im4gn.large', 'arm64'], ['g5g.xlarge', 'arm64'], ['a1.medium', 'arm64'],
  ])('%s is %s', (type, arch) => {
    expect(architectureOf(type)).toBe(arch);
  });
});
