import { defineConfig } from 'vitest/config';

// Three tiers, each its own vitest project so they can run (and report) separately:
//   unit        — pure, no I/O beyond temp files and 127.0.0.1; runs everywhere
//   mongod      — needs a real mongod binary; says in one line when it is absent
//   integration — needs a live Incus daemon; says in one line when it is absent
//   cluster     — forms a three-member Incus cluster on this machine (root); says in one line when it cannot
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 20_000 } },
      {
        test: {
          name: 'mongod',
          include: ['test/mongod/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/integration/build-first.ts'],
          testTimeout: 900_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          globalSetup: ['test/integration/build-first.ts'],
          testTimeout: 480_000,
          hookTimeout: 480_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
