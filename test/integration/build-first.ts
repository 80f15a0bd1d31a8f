// Global setup of the integration tier: its tests run bin/distctl as a separate process, which
// runs dist/. Building first means they always exercise the current source, never a stale build.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function setup(): void {
  const root = join(import.meta.dirname, '../..');
  execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', join(root, 'tsconfig.json')], {
    cwd: root,
    stdio: 'inherit',
  });
}
