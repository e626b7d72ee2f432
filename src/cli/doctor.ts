import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import type { Check } from '../providers/ec2/doctor.ts';
import { exitCodes } from './usage-error.ts';

const marks: Record<Check['status'], string> = { ok: '✓', missing: '✗', unknown: '?' };

export function registerDoctor(program: Command): void {
  program.command('doctor')
    .description('check that Slipway can use AWS as configured: credentials, region, and every EC2 permission (by dry run; nothing is created)')
    .option('--json', 'print JSON')
    .addHelpText('after', `
Exit codes: 0 all is well, 1 some permission is missing or could not be checked,
2 no credentials or no region.`)
    .action(async (options: { json?: boolean }) => {
      const settings = loadConfig().providers.ec2;
      // The AWS SDK loads only for the commands that use it: it takes half a second.
      const [{ awsClients }, { iamPolicy, runDoctor }] = await Promise.all([import('../providers/ec2/clients.ts'), import('../providers/ec2/doctor.ts')]);
      const checks = await runDoctor(awsClients({ region: settings.region, profile: settings.profile }), settings);
      const missing = checks.filter((c) => c.status === 'missing' && c.name.startsWith('ec2:')).map((c) => c.name.slice('ec2:'.length));
      const policy = missing.length > 0 ? iamPolicy(missing) : undefined;
      if (options.json) {
        process.stdout.write(`${JSON.stringify({ checks, ...(policy ? { policy: JSON.parse(policy) as unknown } : {}) }, null, 2)}\n`);
      } else {
        const width = Math.max(...checks.map((c) => c.name.length));
        const lines = checks.map((c) => `${marks[c.status]} ${c.name.padEnd(width)}  ${c.detail.replaceAll('\n', `\n  ${' '.repeat(width)}  `)}`);
        if (policy) lines.push('', `Missing permissions: attach this policy to the user or role Slipway runs as:`, policy);
        process.stdout.write(`${lines.join('\n')}\n`);
      }
      const setupMissing = checks.some((c) => (c.name === 'region' || c.name === 'credentials') && c.status !== 'ok');
      process.exitCode = setupMissing ? exitCodes.usage : checks.every((c) => c.status === 'ok') ? exitCodes.ok : exitCodes.failed;
    });
}
