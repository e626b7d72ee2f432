import type { ArchiveLimits } from '../archive/check.ts';
import type { BlobsSettings } from '../blobs/open-blob-store.ts';
import type { providerRetry } from '../engine/retry.ts';
import type { OperatorPool } from '../pipeline/types.ts';

/** How a coordinator behaves: its timeouts, limits, and the operator's pools and caps. */
export interface CoordinatorSettings {
  stateDir: string;
  /** A worker not heard from for this long is lost. */
  heartbeatTimeoutMs: number;
  /** How often the health check runs. */
  healthIntervalMs: number;
  /** A started worker that has not registered by then is lost. */
  startTimeoutMs: number;
  /** An activity whose workers cannot come up for this long fails its queued tasks (default 15 minutes). */
  startGiveUpMs?: number;
  providerRetry: typeof providerRetry;
  /**
   * Look after the runs this coordinator started only. `slipway run` shares its store with
   * a server on the same machine, whose runs and workers are that server's to heal.
   */
  ownRunsOnly?: boolean;
  /**
   * How often a followed run's events are read from the store when no other coordinator's
   * notice came (default: 500 ms on SQLite, which sends none; 5 s on PostgreSQL).
   */
  storeLookMs?: number;
  /** What one attempt's or worker's log keeps, in bytes (default 64 MiB). */
  maxLogBytes?: number;
  /** What one source archive may unpack to, here and on its workers (default: defaultArchiveLimits). */
  archiveLimits?: ArchiveLimits;
  /** The operator's pools (`[pools.NAME]`), which a pipeline's activity names with `pool: NAME`. */
  pools?: Readonly<Record<string, OperatorPool>>;
  /** `[providers.X] max_workers`: never more live workers on provider X, in every pool together. */
  providerCaps?: Partial<Record<string, number>>;
  /** `[server] pipelines_may_define_pools`; false: every activity of a run must name an operator's pool. */
  pipelinesMayDefinePools?: boolean;
  /** `[secrets] try`: the secrets a try's steps may read (default none). */
  trySecrets?: readonly string[];
  /** What each repository's step caches may hold; the least recently used entries go first. */
  cacheBytesPerScope?: number;
  /** How long an artifact is kept from when it is made (`[retention] artifacts`); undefined: with its run. */
  artifactsExpireMs?: number;
  /** `[blobs]`: where artifacts' bytes are kept (default: files under the state directory). */
  blobs?: BlobsSettings;
}
