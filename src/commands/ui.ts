import type { ChalkInstance } from 'chalk';
import type { ProgressEvent } from '../apply/progress.js';

/**
 * What a command needs from the terminal. Declared here, not in src/cli, so commands depend on
 * this port and the CLI (src/cli/ui.ts) implements it: colour and spinners only on a TTY and
 * never under NO_COLOR or CI; `--json` turns progress into one JSON event per line.
 */
export interface Ui {
  readonly json: boolean;
  readonly color: ChalkInstance;
  /** A progress step: a spinner on a TTY, a plain line otherwise, a JSON event with --json. */
  step(event: ProgressEvent): void;
  /** Stops any spinner (before printing a final result). */
  stop(): void;
}
