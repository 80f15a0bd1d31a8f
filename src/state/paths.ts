import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * Where a deployment keeps host-side state (its secrets). One directory per
 * Incus project, outside any repository so secrets are never committed:
 * `$DISTCTL_STATE_DIR/<project>`, else `$XDG_STATE_HOME/distctl/<project>`,
 * else `~/.local/state/distctl/<project>`. Read once, at the CLI edge.
 */
export function deploymentStateDir(project: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.DISTCTL_STATE_DIR) return join(env.DISTCTL_STATE_DIR, project);
  const base = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(base, 'distctl', project);
}

/** The secret store directory of a deployment (mode 0700, files 0600). */
export function secretsDir(stateDir: string): string {
  return join(stateDir, 'secrets');
}
