import { DistctlError } from '../errors/index.js';
import { callArgv, onRemote } from '../incus/client.js';
import { loadDeployment } from './context.js';
import type { CommandResult } from './result.js';

/**
 * Runs a command attached to this terminal (stdin, stdout and stderr inherited); resolves to its exit code.
 * Declared here, the command's side; the CLI supplies the real one (src/cli/interactive.ts).
 */
export type InteractiveRunner = (argv: readonly string[]) => Promise<number>;

/** What `distctl shell` runs: a root login shell, as `incus shell` does. */
export const LOGIN_SHELL = ['su', '-l'] as const;

/**
 * `distctl exec CONTAINER -- CMD` and `distctl shell CONTAINER`: a command in
 * one of the topology's containers, in the deployment's Incus project, attached
 * to this terminal. The exit code is the command's own.
 */
export async function execCommand(options: {
  readonly file: string;
  readonly container: string;
  readonly command: readonly string[];
  readonly interactive: InteractiveRunner;
}): Promise<CommandResult> {
  const { desired } = await loadDeployment(options.file);
  const known = desired.containers.map((container) => container.name);
  if (!known.includes(options.container)) {
    throw new DistctlError('UNKNOWN_CONTAINER', `container "${options.container}" is not in ${options.file}`, {
      hint: `Name one of: ${known.join(', ')}.`,
    });
  }
  const command = options.command.length > 0 ? options.command : LOGIN_SHELL;
  const exitCode = await options.interactive(
    callArgv({
      args: ['exec', onRemote(desired.remote, options.container), '--', ...command],
      project: desired.project,
    }),
  );
  return { exitCode, human: '', json: { ok: exitCode === 0, container: options.container, command, exitCode } };
}
