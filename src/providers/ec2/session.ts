import { awsClients, type AwsClients, type AwsTarget } from './clients.ts';
import type { Ec2Settings } from './settings.ts';
import { explainAwsError } from './errors.ts';

/** The clients a command uses, and `call` to run against them with setup problems explained. */
export interface Ec2Session extends AwsClients {
  target: AwsTarget;
  call<T>(work: () => Promise<T>): Promise<T>;
}

export function ec2Session(settings: Pick<Ec2Settings, 'region' | 'profile'>): Ec2Session {
  const target: AwsTarget = { region: settings.region, profile: settings.profile };
  return {
    ...awsClients(target),
    target,
    async call(work) {
      try {
        return await work();
      } catch (error) {
        throw explainAwsError(error, target);
      }
    },
  };
}
