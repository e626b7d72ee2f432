import type { Filter, Tag, TagSpecification } from '@aws-sdk/client-ec2';

/** Every resource Slipway creates carries this tag; purge and inventory find them by it. */
export const managedTag = { Key: 'slipway:managed', Value: 'true' } as const;
export const workerTagKey = 'slipway:worker';
export const activityTagKey = 'slipway:activity';
export const runTagKey = 'slipway:run';
/** The id of the store whose coordinators started it: only they reconcile it. */
export const coordinatorTagKey = 'slipway:coordinator';

export const managedFilter: Filter = { Name: `tag:${managedTag.Key}`, Values: [managedTag.Value] };

/** EC2 allows 256 characters in a tag value. */
function tagValue(text: string): string {
  return text.slice(0, 256);
}

export function nameTag(name: string): Tag {
  return { Key: 'Name', Value: tagValue(name) };
}

export interface WorkerTags {
  owner: string;
  workerId: string;
  activity: string;
  runId: string;
  name: string;
}

export function workerTags(worker: WorkerTags): Tag[] {
  return [
    { ...managedTag },
    { Key: coordinatorTagKey, Value: tagValue(worker.owner) },
    { Key: workerTagKey, Value: worker.workerId },
    { Key: activityTagKey, Value: tagValue(worker.activity) },
    { Key: runTagKey, Value: worker.runId },
    nameTag(worker.name),
  ];
}

/** The same tags on the instance and its volumes, so nothing it brings along goes unmarked. */
export function instanceTagSpecifications(tags: Tag[]): TagSpecification[] {
  return [
    { ResourceType: 'instance', Tags: tags },
    { ResourceType: 'volume', Tags: tags },
  ];
}

export function tagOf(tags: Tag[] | undefined, key: string): string | undefined {
  return tags?.find((tag) => tag.Key === key)?.Value;
}

export function isManaged(tags: Tag[] | undefined): boolean {
  return tagOf(tags, managedTag.Key) === managedTag.Value;
}
