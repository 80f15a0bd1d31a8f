import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** Where root keeps every deployment's state: one fixed place, whatever `$HOME` sudo passes on. */
export const SYSTEM_STATE_DIR = '/var/lib/distctl';

/**
 * Where a deployment keeps host-side state (its secrets). One directory per
 * Incus project, outside any repository so secrets are never committed:
 * `$DISTCTL_STATE_DIR/<project>` when set; for root (and so under `sudo`)
 * `/var/lib/distctl/<project>`, because sudo may or may not reset `$HOME` and
 * the secrets must not move with it; for other users
 * `$XDG_STATE_HOME/distctl/<project>`, else `~/.local/state/distctl/<project>`.
 * Read once, at the CLI edge.
 */
export function deploymentStateDir(
  project: string,
  env: NodeJS.ProcessEnv = process.env,
  uid: number = process.getuid?.() ?? -1,
): string {
  if (env.DISTCTL_STATE_DIR) return join(env.DISTCTL_STATE_DIR, project);
  if (uid === 0) return join(SYSTEM_STATE_DIR, project);
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'distctl', project);
}

/** The secret store directory of a deployment (mode 0700, files 0600). */
export function secretsDir(stateDir: string): string {
  return join(stateDir, 'secrets');
}

/**
 * The directory that holds every deployment's state directory (`<root>/<project>`, see deploymentStateDir), found
 * from a `stateDirFor` built like it. What belongs to no one deployment lives here: `locks/`, `staging/`.
 */
function stateRoot(stateDirFor: (project: string) => string): string {
  return dirname(stateDirFor('distctl'));
}

/** Where `import` stages bundles before it knows their project: `<state root>/staging`, one directory per run. */
export function stagingRoot(stateDirFor: (project: string) => string): string {
  return join(stateRoot(stateDirFor), 'staging');
}
