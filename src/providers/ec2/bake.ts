/**
 * Baking a prepared image: a builder instance boots the base image, runs the prepare script
 * once, marks itself prepared and powers off; it is set to stop (not terminate) on
 * shutdown, so its disk becomes the image. The builder is terminated however it ends.
 */
import { setTimeout as timersSleep } from 'node:timers/promises';
import {
  CreateImageCommand,
  DeregisterImageCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  GetConsoleOutputCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Tag,
} from '@aws-sdk/client-ec2';
import { isNotFound } from './aws-errors.ts';
import { defaultBackoff, withBackoff, type BackoffOptions } from './backoff.ts';
import { AwsRequestError } from './errors.ts';
import { launch } from './launch.ts';
import { checkedFingerprint, imageFingerprint, preparedImageName, preparedImageTags } from './prepared-images.ts';
import type { Ec2Settings } from './settings.ts';
import { managedTag, nameTag } from './tags.ts';

const roleTagKey = 'slipway:role';
const builderRole = 'image-builder';

/** EC2's limit on user data, counted base64-encoded. */
const maxUserData = 16 * 1024;

/** The line the builder writes to its console with the prepare script's exit status. */
const statusLine = /slipway-prepare: exit (\d+)/g;

/**
 * The builder's user data. The script text travels base64-encoded and is decoded to a
 * file, so nothing of it is ever read as part of this shell script. It runs as root with
 * `bash -eo pipefail`, as the agent runs scripts, in an empty directory. Only when it exits
 * with 0 are the markers written: `/root/.slipway/prepared/<fingerprint>`, and the same
 * under the home of the image's default user (uid 1000, `admin` on Debian) when there is
 * one. Either way the status goes to the console and the machine powers off.
 */
export function builderUserData(prepareText: string, fingerprint: string): string {
  const fp = checkedFingerprint(fingerprint);
  const encoded = Buffer.from(prepareText, 'utf8').toString('base64');
  return `#!/bin/sh
# Slipway image builder: runs the prepare script once, then powers off (this instance stops).
dir=/var/lib/slipway-prepare
mkdir -p "$dir/work"
printf '%s' '${encoded}' | base64 -d > "$dir/prepare.sh"
cd "$dir/work"
HOME=/root bash -eo pipefail "$dir/prepare.sh" </dev/null 2>&1
status=$?
cd /
if [ "$status" -eq 0 ]; then
  mkdir -p /root/.slipway/prepared && : > /root/.slipway/prepared/${fp}
  entry=$(getent passwd 1000)
  home=$(printf '%s' "$entry" | cut -d: -f6)
  user=$(printf '%s' "$entry" | cut -d: -f1)
  if [ -n "$home" ] && [ -d "$home" ]; then
    mkdir -p "$home/.slipway/prepared" && : > "$home/.slipway/prepared/${fp}"
    chown -R "$user:" "$home/.slipway"
  fi
fi
rm -rf "$dir"
echo "slipway-prepare: exit $status"
echo "slipway-prepare: exit $status" > /dev/console 2>/dev/null
sync
shutdown -h now
`;
}

/** The last status line in console output, or undefined when there is none yet. */
export function prepareExitStatus(console: string): number | undefined {
  const all = [...console.matchAll(statusLine)];
  const last = all.at(-1);
  return last ? Number(last[1]) : undefined;
}

export interface BakeRequest {
  baseImage: string;
  instanceType: string;
  subnet?: string | undefined;
  /** The prepare script's text, as the pipeline's author wrote it. */
  prepareText: string;
  /** The prepare script's fingerprint (sha256 hex of its text). */
  fingerprint: string;
  activity?: string | undefined;
}

export interface BakeOptions {
  backoff?: BackoffOptions;
  /** Injected so tests need not wait. */
  sleep?: (ms: number) => Promise<unknown>;
  pollMs?: number;
  /** How long the prepare script may take, boot and power-off included. */
  stopTimeoutMs?: number;
  /** How long AWS may take to make the image. */
  imageTimeoutMs?: number;
  /** Reads of the console before giving up on finding the status line in it. */
  consoleReads?: number;
  /** Progress, in words. */
  log?: (message: string) => void;
}

export interface Baked {
  imageId: string;
  name: string;
  builderId: string;
}

/**
 * The prepare script failed, timed out or could not be told to have succeeded: no image
 * was made. An AwsRequestError, so the command line says it in words, exit 1.
 */
export class BakeFailed extends AwsRequestError {
  constructor(message: string) {
    super(message);
    this.name = 'BakeFailed';
  }
}

export async function bakeImage(ec2: EC2Client, settings: Pick<Ec2Settings, 'security_groups' | 'key_name'>, request: BakeRequest, options: BakeOptions = {}): Promise<Baked> {
  const backoff = options.backoff ?? defaultBackoff;
  const log = options.log ?? (() => {});
  const identity = { prepareFingerprint: request.fingerprint, baseImage: request.baseImage, activity: request.activity };
  const imageFp = imageFingerprint(request.fingerprint, request.baseImage);
  const name = preparedImageName(request.activity, imageFp);
  const builderTags: Tag[] = [
    { ...managedTag },
    { Key: roleTagKey, Value: builderRole },
    ...preparedImageTags(identity).filter((t) => t.Key !== managedTag.Key && t.Key !== 'Name'),
    nameTag(`slipway-image-builder-${name.slice('slipway-'.length)}`),
  ];
  const userData = Buffer.from(builderUserData(request.prepareText, request.fingerprint), 'utf8').toString('base64');
  if (userData.length > maxUserData) throw new BakeFailed(`the prepare script is too long to bake into an image: EC2 takes at most 16 KiB of user data, and this script makes ${userData.length} bytes (base64); put the work in a script it fetches or installs`);
  const { instanceId: builderId } = await launch(ec2, {
    imageFor: async () => request.baseImage,
    instanceTypes: [request.instanceType],
    subnets: request.subnet ? [request.subnet] : [],
    securityGroups: settings.security_groups,
    spot: false,
    keyName: settings.key_name,
    userData,
    tags: builderTags,
    // Powering off parks the builder, so its disk can become the image.
    shutdown: 'stop',
  }, backoff);
  log(`baking ${name}: builder ${builderId} runs the prepare script on ${request.baseImage}`);
  let succeeded = false;
  try {
    await waitForInstance(ec2, builderId, options, backoff);
    const status = await readExitStatus(ec2, builderId, options, backoff);
    if (status.code !== 0) {
      throw new BakeFailed(`the prepare script failed on builder ${builderId} with exit ${status.code}; the console's last lines:\n${status.tail}`);
    }
    const tags = preparedImageTags(identity);
    const created = await withBackoff(() => ec2.send(new CreateImageCommand({
      InstanceId: builderId,
      Name: name,
      Description: `Slipway prepared image: prepare ${request.fingerprint.slice(0, 12)} on ${request.baseImage}`,
      TagSpecifications: [{ ResourceType: 'image', Tags: tags }, { ResourceType: 'snapshot', Tags: tags }],
    })), backoff);
    const imageId = created.ImageId;
    if (!imageId) throw new Error('CreateImage answered without an image id');
    await waitForImage(ec2, imageId, options, backoff);
    log(`baked ${name}: ${imageId}`);
    succeeded = true;
    return { imageId, name, builderId };
  } finally {
    try {
      await withBackoff(() => ec2.send(new TerminateInstancesCommand({ InstanceIds: [builderId] })), backoff);
    } catch (error) {
      // A failed bake's own error says more; a terminate failure after success is worth telling.
      if (succeeded && !isNotFound(error)) throw error;
    }
  }
}

function sleepOf(options: BakeOptions): (ms: number) => Promise<unknown> {
  return options.sleep ?? ((ms) => timersSleep(ms));
}

async function waitForInstance(ec2: EC2Client, id: string, options: BakeOptions, backoff: BackoffOptions): Promise<void> {
  const pollMs = options.pollMs ?? 15_000;
  const limit = options.stopTimeoutMs ?? 60 * 60_000;
  for (let waited = 0; ; waited += pollMs) {
    const found = await withBackoff(() => ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] })), backoff);
    const state = found.Reservations?.[0]?.Instances?.[0]?.State?.Name;
    if (state === 'stopped') return;
    if (state === 'terminated' || state === 'shutting-down') throw new BakeFailed(`builder ${id} was terminated before it finished the prepare script`);
    if (waited >= limit) throw new BakeFailed(`builder ${id} did not power off within ${Math.round(limit / 60_000)} min (still ${state ?? 'unknown'}); the prepare script may hang`);
    await sleepOf(options)(pollMs);
  }
}

async function readExitStatus(ec2: EC2Client, id: string, options: BakeOptions, backoff: BackoffOptions): Promise<{ code: number; tail: string }> {
  const reads = options.consoleReads ?? 10;
  let text = '';
  for (let read = 1; ; read++) {
    const output = await withBackoff(() => ec2.send(new GetConsoleOutputCommand({ InstanceId: id, Latest: true })), backoff)
      // Latest is for Nitro types only; others give the output captured at the last stop.
      .catch(() => withBackoff(() => ec2.send(new GetConsoleOutputCommand({ InstanceId: id })), backoff));
    text = Buffer.from(output.Output ?? '', 'base64').toString('utf8');
    const code = prepareExitStatus(text);
    const tail = text.trimEnd().split(/\r?\n/).slice(-20).join('\n');
    if (code !== undefined) return { code, tail };
    if (read >= reads) throw new BakeFailed(`could not tell whether the prepare script succeeded on builder ${id}: no 'slipway-prepare: exit' line in its console; the last lines:\n${tail || '(empty)'}`);
    await sleepOf(options)(options.pollMs ?? 15_000);
  }
}

async function waitForImage(ec2: EC2Client, imageId: string, options: BakeOptions, backoff: BackoffOptions): Promise<void> {
  const pollMs = options.pollMs ?? 15_000;
  const limit = options.imageTimeoutMs ?? 60 * 60_000;
  for (let waited = 0; ; waited += pollMs) {
    const found = await withBackoff(() => ec2.send(new DescribeImagesCommand({ ImageIds: [imageId] })), backoff);
    const image = found.Images?.[0];
    if (image?.State === 'available') return;
    if (image?.State === 'failed' || image?.State === 'invalid' || image?.State === 'error') {
      await withBackoff(() => ec2.send(new DeregisterImageCommand({ ImageId: imageId })), backoff).catch(() => {});
      throw new BakeFailed(`AWS could not make image ${imageId}: ${image.State}${image.StateReason?.Message ? ` (${image.StateReason.Message})` : ''}`);
    }
    if (waited >= limit) throw new BakeFailed(`image ${imageId} is still ${image?.State ?? 'unknown'} after ${Math.round(limit / 60_000)} min; it is left to finish (see slipway images list)`);
    await sleepOf(options)(pollMs);
  }
}
