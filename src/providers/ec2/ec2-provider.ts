import {
  CreateTagsCommand,
  DescribeInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
} from '@aws-sdk/client-ec2';
import { isLoopbackUrl, remoteCoordinatorHint } from '../../api/worker-url.ts';
import type { Preparation } from '../../coordinator/preparation.ts';
import { waitingName } from '../../engine/worker-name.ts';
import type { FoundMachine, MachineHandle, Provider, StartRequest } from '../provider.ts';
import { isNotFound } from './aws-errors.ts';
import { defaultBackoff, withBackoff, type BackoffOptions } from './backoff.ts';
import { bakeImage, type BakeOptions } from './bake.ts';
import { explainAwsError } from './errors.ts';
import { resolveImage, type ResolvedImage } from './images.ts';
import { launch } from './launch.ts';
import { pages } from './pages.ts';
import { findPreparedImage, imageFingerprint } from './prepared-images.ts';
import { billingMode, hourlyPrice } from './prices.ts';
import type { Ec2Settings } from './settings.ts';
import { coordinatorTagKey, managedFilter, nameTag, tagOf, workerTagKey, workerTags } from './tags.ts';
import { encodedUserData } from './user-data.ts';

/** States in which an instance exists and bills (or is about to). */
export const liveStates = ['pending', 'running', 'stopping', 'stopped'];

export interface Ec2ProviderOptions {
  settings: Ec2Settings;
  ec2: EC2Client;
  backoff?: BackoffOptions;
  now?: () => number;
  /** Options for the background bakes of prepared images (waits, sleep, progress log). */
  bake?: BakeOptions;
}

/**
 * Workers on EC2 instances: each boots, fetches the agent from the coordinator, serves one
 * worker and powers off, which terminates it. Every instance and volume carries Slipway's
 * tags, so the health check and `slipway purge` can find whatever a crash left behind.
 */
export class Ec2Provider implements Provider {
  readonly name = 'ec2';
  readonly #options: Ec2ProviderOptions;
  readonly #backoff: BackoffOptions;
  /** Image lookups by instance type: the newest Debian image changes rarely, and a lookup is a request. */
  readonly #images = new Map<string, Promise<ResolvedImage>>();
  /** Bakes under way, by image fingerprint: never two for the same image at once. */
  readonly #bakes = new Map<string, Promise<void>>();
  /** Image fingerprints whose bake failed: not tried again by this provider (a failing script would fail again). */
  readonly #failedBakes = new Set<string>();

  constructor(options: Ec2ProviderOptions) {
    this.#options = options;
    this.#backoff = options.backoff ?? defaultBackoff;
  }

  start(request: StartRequest): Promise<MachineHandle> {
    return this.#explained(this.#start(request));
  }

  async #start(request: StartRequest): Promise<MachineHandle> {
    const { settings, ec2 } = this.#options;
    const instanceTypes = this.#instanceTypes(request.instance);
    const first = await this.#image(instanceTypes[0]!);
    const prepare = request.prepare;
    const chosen = new Map<string, Promise<string>>();
    const imageFor = (type: string): Promise<string> => {
      let image = chosen.get(type);
      if (!image) {
        image = this.#image(type).then((base) => (prepare && base.platform === 'linux' ? this.#preparedOr(base.imageId, type, prepare, request.activity) : base.imageId));
        chosen.set(type, image);
      }
      return image;
    };
    const launched = await launch(ec2, {
      imageFor,
      instanceTypes,
      subnets: settings.subnets,
      securityGroups: settings.security_groups,
      spot: settings.spot,
      keyName: settings.key_name,
      userData: encodedUserData(first.platform, {
        serverUrl: request.serverUrl, registrationToken: request.registrationToken, workerId: request.workerId,
        serverTrust: request.serverTrust, allowPlainHttp: request.allowPlainHttp,
      }),
      tags: workerTags({ owner: request.owner, workerId: request.workerId, activity: request.activity, runId: request.runId, name: waitingName(0, null, request.activity) }),
    }, this.#backoff);
    const price = hourlyPrice(settings.prices, launched.instanceType);
    return {
      instanceId: launched.instanceId,
      instanceType: launched.instanceType,
      market: launched.market,
      platform: first.platform,
      launchedAt: (this.#options.now ?? Date.now)(),
      // What the coordinator records the machine's cost by: the configured (on-demand) price, an upper bound for spot.
      ...(price !== undefined ? { hourly_usd: price } : {}),
      billing: billingMode(settings.billing, first.platform),
    };
  }

  /** Terminates at once even when drained: the agent's own shutdown would end it too, and terminating twice is harmless. */
  async stop(machine: MachineHandle): Promise<void> {
    try {
      await withBackoff(() => this.#options.ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceIdOf(machine)] })), this.#backoff);
    } catch (error) {
      if (!isNotFound(error)) throw explainAwsError(error, this.#options.settings);
    }
  }

  async status(machine: MachineHandle): Promise<'running' | 'gone' | 'unknown'> {
    try {
      const found = await withBackoff(() => this.#options.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceIdOf(machine)] })), this.#backoff);
      const state = found.Reservations?.[0]?.Instances?.[0]?.State?.Name;
      return state !== undefined && liveStates.includes(state) ? 'running' : 'gone';
    } catch (error) {
      return isNotFound(error) ? 'gone' : 'unknown';
    }
  }

  unreachableFrom(serverUrl: string): string | undefined {
    if (!isLoopbackUrl(serverUrl)) return undefined;
    return `EC2 instances cannot reach a coordinator at ${serverUrl}, which only this machine can: ${remoteCoordinatorHint}`;
  }

  /** Instances started for a worker (bare ones from `slipway instances create` are not a worker's). */
  inventory(owner: string): Promise<FoundMachine[]> {
    return this.#explained(this.#inventory(owner));
  }

  async #inventory(owner: string): Promise<FoundMachine[]> {
    const found: FoundMachine[] = [];
    const filters = [managedFilter, { Name: `tag:${coordinatorTagKey}`, Values: [owner] }, { Name: 'tag-key', Values: [workerTagKey] }, { Name: 'instance-state-name', Values: liveStates }];
    for await (const page of pages((NextToken) => this.#options.ec2.send(new DescribeInstancesCommand({ Filters: filters, NextToken })), this.#backoff)) {
      for (const instance of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
        const workerId = tagOf(instance.Tags, workerTagKey);
        if (!workerId || !instance.InstanceId) continue;
        found.push({ workerId, machine: { instanceId: instance.InstanceId, instanceType: instance.InstanceType ?? '' } });
      }
    }
    return found;
  }

  /** The dearest of the instance types a start may launch: a start may fall back to any of them. */
  hourlyUsd(instance?: Record<string, unknown>): number | undefined {
    const prices = this.#instanceTypes(instance).map((type) => hourlyPrice(this.#options.settings.prices, type));
    return prices.every((price) => price !== undefined) ? Math.max(...prices) : undefined;
  }

  /** The instance types an activity asks for, else the config's, in the order tried. */
  #instanceTypes(instance: Record<string, unknown> | undefined): string[] {
    const own = instanceTypesOf(instance);
    return own && own.length > 0 ? own : this.#options.settings.instance_types;
  }

  /** Shows the worker's current name (its state at a glance) as the instance's Name. */
  async rename(machine: MachineHandle, name: string): Promise<void> {
    await this.#explained(withBackoff(() => this.#options.ec2.send(new CreateTagsCommand({ Resources: [instanceIdOf(machine)], Tags: [nameTag(name)] })), this.#backoff));
  }

  /** The coordinator logs what a provider throws: a missing credential should read as one, not as an SDK error. */
  async #explained<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      throw explainAwsError(error, this.#options.settings);
    }
  }

  /**
   * The prepared image for `prepare` on `baseImage` when it is available; else the base
   * image, and (when none is being made) a bake starts in the background for the next
   * workers. A worker started from the base image runs the prepare script itself at boot.
   */
  async #preparedOr(baseImage: string, instanceType: string, prepare: Preparation, activity: string): Promise<string> {
    const { ec2, settings } = this.#options;
    const imageFp = imageFingerprint(prepare.fingerprint, baseImage);
    // The image only saves time: when it cannot be looked up, the base image serves (and the agent prepares).
    const found = await findPreparedImage(ec2, { prepareFingerprint: prepare.fingerprint, baseImage }, this.#backoff).catch(() => null);
    if (found === null) return baseImage;
    if (found?.state === 'available') return found.imageId;
    // Pending: another bake (maybe another coordinator's) is making it; the base image serves meanwhile.
    if (!found && !this.#bakes.has(imageFp) && !this.#failedBakes.has(imageFp)) {
      const text = prepare.script.text;
      const bake = bakeImage(ec2, settings, { baseImage, instanceType, subnet: settings.subnets[0], prepareText: text, fingerprint: prepare.fingerprint, activity }, { backoff: this.#backoff, log: stderrLog, ...this.#options.bake })
        .then(
          () => {},
          (error: unknown) => {
            const message = (explainAwsError(error, settings) as Error).message ?? String(error);
            this.#failedBakes.add(imageFp);
            (this.#options.bake?.log ?? stderrLog)(`baking the prepared image for ${activity} failed: ${message}`);
          },
        )
        .finally(() => this.#bakes.delete(imageFp));
      this.#bakes.set(imageFp, bake);
    }
    return baseImage;
  }

  /** Bakes under way, so a caller can wait for them. */
  bakesInFlight(): Promise<void>[] {
    return [...this.#bakes.values()];
  }

  /** Image fingerprints whose bake failed. */
  failedBakes(): ReadonlySet<string> {
    return this.#failedBakes;
  }

  #image(instanceType: string): Promise<ResolvedImage> {
    let image = this.#images.get(instanceType);
    if (!image) {
      image = resolveImage(this.#options.ec2, this.#options.settings.image, instanceType, this.#backoff);
      // A failed lookup is asked again next time rather than remembered.
      image.catch(() => this.#images.delete(instanceType));
      this.#images.set(instanceType, image);
    }
    return image;
  }
}

function stderrLog(message: string): void {
  process.stderr.write(`ec2: ${message}\n`);
}

function instanceIdOf(machine: MachineHandle): string {
  const id = String(machine.instanceId ?? '');
  if (!/^i-[0-9a-f]{8,17}$/.test(id)) throw new Error(`not an EC2 machine handle: ${JSON.stringify(machine)}`);
  return id;
}

/**
 * The instance types an activity asks for (`instance: { type: c6i.large }`, or a list to
 * try in order); none when it leaves the choice to the config.
 */
function instanceTypesOf(instance: Record<string, unknown> | undefined): string[] | undefined {
  const type = instance?.type;
  if (typeof type === 'string') return [type];
  if (Array.isArray(type) && type.every((t) => typeof t === 'string')) return type as string[];
  return undefined;
}
