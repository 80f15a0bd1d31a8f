/**
 * One error base for everything a user can act on. `code` is stable (tests and
 * `--json` consumers match on it), `hint` says what to do. The top-level catch in
 * `src/cli/main.ts` prints these without a stack; anything else is a bug and
 * gets one.
 */
export class DistctlError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  /** Extra lines shown under the message (e.g. a list of validation problems, log lines). */
  readonly details: readonly string[];

  constructor(code: string, message: string, options: { hint?: string; details?: readonly string[]; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DistctlError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details ?? [];
  }
}

/** The user has already been shown what went wrong (e.g. a validation report); just exit non-zero. */
export class ExitError extends Error {
  readonly exitCode: number;
  constructor(exitCode: number) {
    super(`exit ${exitCode}`);
    this.name = 'ExitError';
    this.exitCode = exitCode;
  }
}

/** A command that was run and failed: carries what was run, where, and what it said. */
export class CommandFailedError extends DistctlError {
  readonly command: readonly string[];
  readonly exitCode: number;
  readonly stderr: string;

  constructor(command: readonly string[], exitCode: number, stderr: string, options: { code?: string; message?: string; hint?: string } = {}) {
    const shown = formatCommand(command);
    const said = stderr.trim().split('\n').slice(-6).join('\n');
    super(options.code ?? 'COMMAND_FAILED', options.message ?? `\`${shown}\` failed (exit ${exitCode})${said ? `: ${said}` : ''}`, {
      hint: options.hint,
    });
    this.name = 'CommandFailedError';
    this.command = command;
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/** Renders argv for messages, quoting only what needs it. */
export function formatCommand(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}
