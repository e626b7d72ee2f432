import type { SlipwayConfig } from '../../config/schema.ts';

/** `[providers.ec2]` as the config loader returns it. */
export type Ec2Settings = SlipwayConfig['providers']['ec2'];
