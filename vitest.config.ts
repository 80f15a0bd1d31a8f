import { readdirSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// The integration files spend their time waiting on containers (boot, DHCP, apt inside them), not on the CPU,
// and each uses its own project, bridge and subnet (test/integration/support.ts): all of them run at once.
const integrationFiles = readdirSync(new URL('test/integration/', import.meta.url)).filter((name) =>
  name.endsWith('.test.ts'),
).length;

// Three tiers, each its own vitest project so they can run (and report) separately:
//   unit        — pure, no I/O beyond temp files and 127.0.0.1; runs everywhere
//   mongod      — needs a real mongod binary; says in one line when it is absent
//   integration — needs a live Incus daemon; says in one line when it is absent
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
          maxWorkers: integrationFiles,
          // After the other projects when all run in one `vitest run` (a group has one worker count).
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
