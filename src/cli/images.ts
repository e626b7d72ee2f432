import type { Command } from 'commander';
import { loadConfig } from '../config/load.ts';
import { operatorPools } from '../config/pools.ts';
import { preparationOfActivity, type Preparation } from '../coordinator/preparation.ts';
import { loadPipeline } from '../pipeline/load.ts';
import { pipelineFile } from './pipeline-file.ts';
import type { Activity } from '../pipeline/types.ts';
import { table } from './format.ts';
import { confirmed, terminal, type Confirmation } from './confirmation.ts';
import { UsageError } from './usage-error.ts';

/** The AWS SDK loads only for the commands that use it: it takes half a second. */
async function ec2() {
  const [prepared, bake, { resolveImage }, { ec2Session }] = await Promise.all([
    import('../providers/ec2/prepared-images.ts'), import('../providers/ec2/bake.ts'), import('../providers/ec2/images.ts'), import('../providers/ec2/session.ts'),
  ]);
  const settings = loadConfig().providers.ec2;
  return { ...prepared, ...bake, resolveImage, settings, session: ec2Session(settings) };
}

/** `activity`'s prepare script in the pipeline `file`, checked to be one EC2 can bake. */
export function preparationIn(argument: string, name: string): { activity: Activity; preparation: Preparation } {
  const file = pipelineFile(argument);
  const pipeline = loadPipeline(file, { pools: operatorPools(loadConfig()) });
  const activity = pipeline.activities[name];
  if (!activity) throw new UsageError(`the pipeline ${file} has no activity '${name}' (it has: ${Object.keys(pipeline.activities).join(', ')})`);
  if (activity.provider !== 'ec2') throw new UsageError(`activity '${name}' runs on the ${activity.provider} provider; only ec2 activities have prepared images`);
  const preparation = preparationOfActivity(activity, pipeline.sourceDir);
  if (!preparation) throw new UsageError(`activity '${name}' has no prepare script to bake into an image`);
  return { activity, preparation };
}

/** The instance type an activity asks for first (`instance: { type: … }`), if any. */
function ownInstanceType(activity: Activity): string | undefined {
  const type = activity.instance?.type;
  if (typeof type === 'string') return type;
  if (Array.isArray(type) && typeof type[0] === 'string') return type[0];
  return undefined;
}

export function registerImages(program: Command, confirmation: Confirmation = terminal): void {
  const images = program.command('images')
    .description("bake, list and delete prepared EC2 images: an activity's prepare script run once into an AMI (region and credentials from [providers.ec2])")
    .addHelpText('after', `
An image is named slipway-<activity>-<fingerprint> and found by a fingerprint of the prepare
script and the base image, so a changed script or a newer base image makes another one.
Workers use it by themselves once it exists; the first runs bake it in the background.

Examples:
  slipway images build --activity linux slipway.yml
  slipway images list
  slipway images delete ami-0123456789abcdef0 --yes`);

  images.command('build')
    .description("bake the image for an activity's prepare script, unless one exists; waits until it is available")
    .argument('<file>', 'the pipeline file, or a directory holding a slipway.yml')
    .requiredOption('--activity <name>', 'the ec2 activity whose prepare script to bake')
    .option('--json', 'print JSON')
    .action(async (file: string, options: { activity: string; json?: boolean }) => {
      const { activity, preparation: { fingerprint, script: { text } } } = preparationIn(file, options.activity);
      const { session, settings, resolveImage, findPreparedImage, bakeImage } = await ec2();
      const instanceType = ownInstanceType(activity) ?? settings.instance_types[0]!;
      const result = await session.call(async () => {
        const base = await resolveImage(session.ec2, settings.image, instanceType);
        if (base.platform !== 'linux') throw new UsageError(`the base image ${base.imageId} is a Windows image; prepared images are baked for Linux only`);
        const found = await findPreparedImage(session.ec2, { prepareFingerprint: fingerprint, baseImage: base.imageId });
        if (found) return { imageId: found.imageId, state: found.state, baseImage: base.imageId, fingerprint, built: false };
        const baked = await bakeImage(session.ec2, settings, { baseImage: base.imageId, instanceType, subnet: settings.subnets[0], prepareText: text, fingerprint, activity: options.activity }, {
          log: (message) => process.stderr.write(`${message}\n`),
        });
        return { imageId: baked.imageId, state: 'available', baseImage: base.imageId, fingerprint, built: true, name: baked.name };
      });
      process.stdout.write(options.json
        ? `${JSON.stringify(result, null, 2)}\n`
        : `${result.built ? 'baked' : `already there (${result.state}):`} ${result.imageId} for activity ${options.activity} (prepare ${fingerprint.slice(0, 12)} on ${result.baseImage})\n`);
    });

  images.command('list')
    .description("list Slipway's prepared images in the region")
    .option('--json', 'print JSON')
    .action(async (options: { json?: boolean }) => {
      const { session, listPreparedImages } = await ec2();
      const all = await session.call(() => listPreparedImages(session.ec2));
      process.stdout.write(options.json
        ? `${JSON.stringify(all, null, 2)}\n`
        : `${table(all.map((i) => [i.id, i.name, i.state, i.created, i.prepareFingerprint.slice(0, 12), i.baseImage]), ['ID', 'NAME', 'STATE', 'CREATED', 'PREPARE', 'BASE IMAGE'])}\n`);
    });

  images.command('delete')
    .description("deregister prepared images and delete their snapshots; refuses any that is not Slipway's")
    .argument('<id...>', 'image ids (ami-…)')
    .option('--yes', 'delete without asking (needed when stdin is not a terminal)')
    .action(async (ids: string[], options: { yes?: boolean }) => {
      const question = `Deregister ${ids.join(' ')} and delete their snapshots? [y/N] `;
      if (!(await confirmed(confirmation, { yes: options.yes, what: `${ids.length} image(s)`, question }))) return;
      const { session, deletePreparedImages } = await ec2();
      const deleted = await session.call(() => deletePreparedImages(session.ec2, ids));
      for (const image of deleted) process.stdout.write(`deleted ${image.id}${image.snapshots.length > 0 ? ` and ${image.snapshots.join(' ')}` : ''}\n`);
    });
}
