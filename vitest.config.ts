import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // The slow-client test measures memory after explicit garbage collections.
    execArgv: ['--expose-gc'],
    // Two cores: run files two at a time; each file gets its own cloned database.
    maxWorkers: 2,
  },
});
