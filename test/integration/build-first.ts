// Global setup of the integration tier: its tests run bin/distctl as a separate process, which
// runs dist/. Building first means they always exercise the current source, never a stale build
// (esbuild only: the typecheck is a step of its own).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function setup(): void {
  const root = join(import.meta.dirname, '../..');
  execFileSync(process.execPath, [join(root, 'bin/build.mjs')], { cwd: root, stdio: 'inherit' });
}
