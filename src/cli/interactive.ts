import { constants } from 'node:os';
import { execa } from 'execa';
import type { InteractiveRunner } from '../commands/exec.js';
import { DistctlError } from '../errors/index.js';

export type { InteractiveRunner };

/** The real InteractiveRunner: for `distctl exec` and `distctl shell`, where the user talks to the container. */
export const runInteractive: InteractiveRunner = async (argv) => {
  const [bin = 'incus', ...args] = argv;
  const result = await execa(bin, args, { stdio: 'inherit', reject: false });
  if ((result as { code?: string }).code === 'ENOENT') {
    throw new DistctlError('BINARY_NOT_FOUND', `\`${bin}\` is not installed or not on PATH.`, {
      hint: 'Install Incus (`sudo distctl doctor --fix` on Debian), or run `distctl doctor` to check the host.',
    });
  }
  // A signal ends the command without an exit code: report it as the shell does (128 + signal number).
  return result.exitCode ?? 128 + (result.signal === undefined ? 1 : constants.signals[result.signal]);
};
