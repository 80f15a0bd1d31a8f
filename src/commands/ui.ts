import type { ChalkInstance } from 'chalk';
import type { ProgressEvent } from '../apply/progress.js';

/**
 * What a command needs from the terminal, declared here so commands depend on this port and the
 * CLI (src/cli/ui.ts) implements it. The edge where output meets a terminal. Results go to stdout, progress and
 * diagnostics to stderr, and each stream gets colour by its own standing
 * (`distctl plan > file` on a terminal writes no escape codes into the file).
 * Spinners only on a terminal and never under CI; with `--json` progress becomes
 * one JSON event per line on stderr, so stdout holds exactly one JSON document.
 */
export interface Ui {
  readonly json: boolean;
  /** Colour for results (stdout). */
  readonly color: ChalkInstance;
  /** Colour for diagnostics and progress (stderr). */
  readonly errorColor: ChalkInstance;
  /** What clears the screen before a `--watch` refresh: the escape sequence on a terminal, nothing otherwise. */
  readonly clearScreen: string;
  /** A progress step: a spinner on a TTY, a plain line otherwise, a JSON event with --json. */
  step(event: ProgressEvent): void;
  /** Stops any spinner (before printing a final result). */
  stop(): void;
}
