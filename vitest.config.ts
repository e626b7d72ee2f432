import { defineConfig } from 'vitest/config';

/**
 * The suites that run on both stores: the coordinator's, the store's and the API's, each
 * on the store that test/helpers/test-store.ts opens (SQLite files, or schemas of one
 * private PostgreSQL cluster).
 */
const bothStores = [
  'test/coordinator/**/*.test.ts',
  'test/store/{identity,versions,fresh-id,group-commit}.test.ts',
  'test/blobs/database-blobs.test.ts',
  'test/api/**/*.test.ts',
  'test/security/{archives,artifact-routes,cache-routes,id-paths,remote-checks,worker-tokens}.test.ts',
];

export default defineConfig({
  test: {
    // Live tests use real cloud accounts: `npm run test:live`.
    exclude: ['**/node_modules/**', 'test/live/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real processes; two cores are shared between them.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: bothStores,
          env: { SLIPWAY_TEST_STORE: 'postgres' },
          globalSetup: ['test/helpers/postgres-setup.ts'],
        },
      },
    ],
  },
});
