import { execa } from 'execa';
import { DistctlError } from '../errors/index.js';

/** A process to run, as data: tests assert these, `--dry-run` prints them, one adapter runs them. */
export interface CommandSpec {
  readonly bin: string;
  readonly args: readonly string[];
  /** Written to the process' standard input. */
  readonly input?: string | Uint8Array;
  readonly timeoutMs?: number;
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/** What a finished process left behind. A non-zero exit is a result, not an exception. */
export interface CommandResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/** The one seam through which distctl starts processes; tests substitute a scripted fake. */
export interface Runner {
  run(cmd: CommandSpec): Promise<CommandResult>;
}

/** Runs commands for real with execa. Throws only when the binary cannot be started at all. */
export class ExecaRunner implements Runner {
  async run(cmd: CommandSpec): Promise<CommandResult> {
    const result = await execa(cmd.bin, [...cmd.args], {
      // Without input, stdin is closed: incus reads YAML from a non-TTY stdin and would wait forever.
      ...(cmd.input === undefined ? { stdin: 'ignore' as const } : { input: cmd.input }),
      timeout: cmd.timeoutMs,
      env: cmd.env,
      cwd: cmd.cwd,
      reject: false,
      stripFinalNewline: false,
      encoding: 'utf8',
    });
    const failure = result as { code?: string; failed: boolean; exitCode?: number };
    if (failure.code === 'ENOENT') {
      throw new DistctlError('BINARY_NOT_FOUND', `\`${cmd.bin}\` is not installed or not on PATH.`, {
        hint:
          'Install it (README "Install"; on Debian 12 `sudo distctl doctor --fix` installs Incus), or run ' +
          '`distctl doctor` to check the host.',
      });
    }
    if (failure.code === 'EACCES') {
      throw new DistctlError('BINARY_NOT_EXECUTABLE', `\`${cmd.bin}\` could not be executed: permission denied.`, {
        hint: 'Check the file mode of the binary and that the current user may run it.',
      });
    }
    return {
      exitCode: result.exitCode ?? (result.timedOut ? 124 : 1),
      stdout: String(result.stdout ?? ''),
      stderr: String(result.stderr ?? ''),
      timedOut: Boolean(result.timedOut),
    };
  }
}
