/** What a command hands back to the CLI edge, which prints one of the two forms and exits with the code. */
export interface CommandResult {
  readonly exitCode: number;
  /** Shown on a terminal (may contain chalk colour). */
  readonly human: string;
  /** Printed with --json. */
  readonly json: unknown;
}
