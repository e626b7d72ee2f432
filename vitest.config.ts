import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Live tests use real cloud accounts: `npm run test:live`.
    exclude: ['**/node_modules/**', 'test/live/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Tests start real processes; two cores are shared between them.
    maxWorkers: 2,
  },
});
