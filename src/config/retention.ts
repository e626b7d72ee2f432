import { parseDuration } from '../pipeline/duration.ts';

/** What `[retention]` keeps, in milliseconds of age; undefined: kept forever ("never"). */
export interface RetentionPolicy {
  runsMs: number | undefined;
  artifactsMs: number | undefined;
  sourceArchivesMs: number | undefined;
  cachesMs: number | undefined;
  imagesMs: number | undefined;
}

const DAY_MS = 86_400_000;

/**
 * A retention age: "never", whole days ("90d", which pipeline durations do not take: no
 * step runs for days), or any duration parseDuration reads. Throws on anything else.
 */
export function parseRetention(text: string): number | undefined {
  if (text === 'never') return undefined;
  const days = /^(\d{1,5})d$/.exec(text);
  const ms = days ? Number(days[1]) * DAY_MS : parseDuration(text);
  if (ms <= 0) throw new Error(`a retention age is longer than 0, not ${JSON.stringify(text)}`);
  return ms;
}

/** The `[retention]` table, as the collector reads it. */
export function retentionPolicy(section: { runs: string; artifacts: string; source_archives: string; caches: string; images: string }): RetentionPolicy {
  return {
    runsMs: parseRetention(section.runs),
    artifactsMs: parseRetention(section.artifacts),
    sourceArchivesMs: parseRetention(section.source_archives),
    cachesMs: parseRetention(section.caches),
    imagesMs: parseRetention(section.images),
  };
}

/** `[retention]`'s defaults: nothing grows forever unless the config says "never". */
export const retentionDefaults = { runs: '90d', artifacts: '30d', source_archives: '30d', caches: '14d', images: '30d' } as const;

export const defaultRetention: RetentionPolicy = retentionPolicy(retentionDefaults);
