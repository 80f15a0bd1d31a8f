import { existsSync, readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

// The integration files spend their time waiting on containers (boot, DHCP, apt inside them), not on the CPU,
// and each uses its own project, bridge and subnet (test/integration/support.ts), so two run at a time
// (with three or nine at once on a loaded 2-core host, status' 3 s health probe of a service timed out).
// Their containers share one host uid, whose inotify instances run out at about ten running containers
// with the kernel's default limit (128); test/host/ensure-limits.sh raises it, and below 1024 the files
// run one at a time as before.
const inotifyInstances = Number(
  existsSync('/proc/sys/fs/inotify/max_user_instances')
    ? readFileSync('/proc/sys/fs/inotify/max_user_instances', 'utf8')
    : 0,
);
const integrationWorkers = inotifyInstances >= 1024 ? 2 : 1;

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
          maxWorkers: integrationWorkers,
          // After the other projects when all run in one `vitest run` (a group has one worker count).
          sequence: { groupOrder: 1 },
        },
      },
      // A three-member Incus cluster formed on this machine (root); says in one line when it cannot.
      {
        test: {
          name: 'cluster',
          include: ['test/cluster/**/*.test.ts'],
          globalSetup: ['test/integration/build-first.ts'],
          testTimeout: 480_000,
          hookTimeout: 480_000,
          fileParallelism: false,
          // Last when all run in one `vitest run`: never beside the integration files on the same host.
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
