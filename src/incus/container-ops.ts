import type { CommandResult } from '../exec/runner.js';
import { onRemote, type IncusClient, type IncusScope } from './client.js';
import { DistctlError, formatCommand } from '../errors/index.js';

/**
 * How the MongoDB tier reaches inside a container. The CLI implements it over
 * `incus exec` / `incus file push`; tests substitute a scripted fake, and the
 * real-mongod tier an implementation that runs on the local host.
 */
export interface ContainerOps {
  /** Runs argv inside the container as root; never throws on non-zero exit. */
  exec(
    container: string,
    argv: readonly string[],
    options?: { input?: string; timeoutMs?: number },
  ): Promise<CommandResult>;
  /** Writes a file inside the container (parents created), with mode and owner uid/gid. */
  writeFile(
    container: string,
    path: string,
    content: string | Uint8Array,
    options?: { mode?: number; uid?: number; gid?: number },
  ): Promise<void>;
  /** Pushes a host file into the container. */
  pushFile(container: string, hostPath: string, path: string, options?: { mode?: number }): Promise<void>;
}

/** The last `count` non-empty lines of a command's output, stderr after stdout, for error messages. */
export function lastLines(result: Pick<CommandResult, 'stdout' | 'stderr'>, count = 12): string[] {
  return `${result.stdout}\n${result.stderr}`
    .split('\n')
    .map((line) => line.trimEnd())
    .filter((line) => line !== '')
    .slice(-count);
}

/**
 * Runs argv in the container and returns its result, or throws a DistctlError
 * naming the container, what the step was for and the last lines of output.
 */
export async function execChecked(
  ops: ContainerOps,
  container: string,
  argv: readonly string[],
  what: string,
  options: { input?: string; timeoutMs?: number; hint?: string } = {},
): Promise<CommandResult> {
  const result = await ops.exec(container, argv, { input: options.input, timeoutMs: options.timeoutMs });
  if (result.exitCode !== 0) {
    const why = result.timedOut ? 'timed out' : `exit ${result.exitCode}`;
    throw new DistctlError(
      'CONTAINER_COMMAND_FAILED',
      `${what} failed in container ${container} (${why}): \`${formatCommand(argv)}\``,
      {
        hint: options.hint,
        details: lastLines(result),
      },
    );
  }
  return result;
}

/**
 * The shell script `writeFile` runs (argv: path, octal mode, uid, gid;
 * content on stdin); the unit tier's Incus model recognises it.
 */
export const WRITE_FILE_SCRIPT =
  'umask 077 && mkdir -p "$(dirname "$1")" && cat > "$1.distctl-new" && chmod "$2" "$1.distctl-new" ' +
  '&& chown "$3:$4" "$1.distctl-new" && mv -f "$1.distctl-new" "$1"';

/**
 * ContainerOps over the incus binary: `incus exec` for commands, a
 * stdin-fed shell for writing files (content never on a command line, mode set
 * before the content lands), `incus file push` for host files.
 */
export class IncusContainerOps implements ContainerOps {
  private readonly project: string;
  private readonly remote: string | null;

  /** `scope`: the deployment (project and remote); a bare project name addresses the default remote. */
  constructor(
    private readonly client: IncusClient,
    scope: IncusScope | string,
  ) {
    this.project = typeof scope === 'string' ? scope : scope.project;
    this.remote = typeof scope === 'string' ? null : scope.remote;
  }

  exec(
    container: string,
    argv: readonly string[],
    options: { input?: string; timeoutMs?: number } = {},
  ): Promise<CommandResult> {
    return this.client.attempt({
      args: ['exec', onRemote(this.remote, container), '--', ...argv],
      project: this.project,
      input: options.input,
      timeoutMs: options.timeoutMs,
    });
  }

  async writeFile(
    container: string,
    path: string,
    content: string | Uint8Array,
    options: { mode?: number; uid?: number; gid?: number } = {},
  ): Promise<void> {
    const mode = (options.mode ?? 0o644).toString(8);
    const argv = ['sh', '-c', WRITE_FILE_SCRIPT, 'sh', path, mode, String(options.uid ?? 0), String(options.gid ?? 0)];
    const result = await this.client.attempt({
      args: ['exec', onRemote(this.remote, container), '--', ...argv],
      project: this.project,
      input: content,
    });
    if (result.exitCode !== 0) {
      throw new DistctlError(
        'CONTAINER_WRITE_FAILED',
        `could not write ${path} in container ${container} (exit ${result.exitCode})`,
        {
          details: lastLines(result),
          hint:
            'Check that the container is running and its disk is not full: ' +
            `\`incus exec ${onRemote(this.remote, container)} --project ${this.project} -- df -h /\`.`,
        },
      );
    }
  }

  async pushFile(container: string, hostPath: string, path: string, options: { mode?: number } = {}): Promise<void> {
    const mode = options.mode === undefined ? [] : ['--mode', options.mode.toString(8).padStart(4, '0')];
    await this.client.run({
      args: [
        'file',
        'push',
        '--create-dirs',
        ...mode,
        '--',
        hostPath,
        `${onRemote(this.remote, container)}${path.startsWith('/') ? '' : '/'}${path}`,
      ],
      project: this.project,
    });
  }
}
