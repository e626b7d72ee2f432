/**
 * The coordinator under test, as its own process so the chaos driver can SIGKILL it: a
 * server on a fixed port with local workers whose starts fail at random. Arguments:
 *   STATE_DIR PORT SEED START_FAILURE_RATE HEARTBEAT_TIMEOUT_MS
 * Its store is the PostgreSQL database of SLIPWAY_DATABASE_URL, which several such processes
 * share, as `slipway server` does; the state directory's SQLite file without it.
 * It prints "listening URL" when ready and "fault start-failure WORKER" for each refused start.
 */
import { ensureAdminToken } from '../src/config/admin-token.ts';
import { startEmbedded } from '../src/coordinator/embedded.ts';
import { hashSeed, SeededRandom } from '../test/helpers/seeded-random.ts';
import { FlakyProvider } from './flaky-provider.ts';

const [stateDir, port, seed, rate, heartbeatTimeout] = process.argv.slice(2);
const store = process.env.SLIPWAY_DATABASE_URL;
if (!stateDir || !port || !seed || !rate || !heartbeatTimeout) {
  process.stderr.write('usage: coordinator-process.ts STATE_DIR PORT SEED START_FAILURE_RATE HEARTBEAT_TIMEOUT_MS\n');
  process.exit(2);
}
// Each start of the process draws its own stream, so a restart does not replay the same failures.
const random = new SeededRandom(hashSeed(seed, process.pid));
const embedded = await startEmbedded({
  stateDir, port: Number(port), ...(store && { dbPath: store }),
  settings: {
    heartbeatTimeoutMs: Number(heartbeatTimeout),
    healthIntervalMs: 500,
    startTimeoutMs: 15_000,
    startGiveUpMs: 60_000,
    providerRetry: { attempts: 5, delayMs: 200, backoff: 2, maxDelayMs: 1600 },
  },
  wrapLocal: (local) => new FlakyProvider(local, Number(rate), random, (worker) => process.stdout.write(`fault start-failure ${worker}\n`)),
});
embedded.coordinator.onFault((message) => process.stderr.write(`${message.split('\n')[0]}\n`));
await ensureAdminToken(embedded.store.db, stateDir, Date.now());
process.stdout.write(`listening ${embedded.listening.url}\n`);
await embedded.coordinator.healthCheck();
process.once('SIGTERM', () => void embedded.close().then(() => process.exit(0)));
