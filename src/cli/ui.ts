import chalk, { Chalk, type ChalkInstance } from 'chalk';
import ora, { type Ora } from 'ora';

/**
 * The edge where output meets a terminal: colour and spinners only on a TTY
 * and never under NO_COLOR or CI; `--json` turns progress into one JSON event per line.
 */
export interface Ui {
  readonly json: boolean;
  readonly color: ChalkInstance;
  /** A progress step: a spinner on a TTY, a plain line otherwise, a JSON event with --json. */
  step(event: ProgressEvent): void;
  /** Stops any spinner (before printing a final result). */
  stop(): void;
}

/** One thing that happened during a long command; also the `--json` event format. */
export interface ProgressEvent {
  readonly event: 'start' | 'done' | 'fail' | 'info' | 'wait';
  readonly message: string;
  readonly subject?: string;
  readonly [key: string]: unknown;
}

/** Settings read once at start-up from flags and environment. */
export interface UiSettings {
  readonly json: boolean;
  readonly isTty: boolean;
  readonly noColor: boolean;
  readonly ci: boolean;
  /** Terminal width; 0 on a pseudo-terminal without a size, where a spinner cannot redraw its line. */
  readonly columns: number;
}

export function readUiSettings(json: boolean, env: NodeJS.ProcessEnv = process.env, stream: NodeJS.WriteStream = process.stderr): UiSettings {
  return {
    json,
    isTty: Boolean(stream.isTTY),
    noColor: env.NO_COLOR !== undefined && env.NO_COLOR !== '',
    ci: env.CI !== undefined && env.CI !== '' && env.CI !== 'false',
    columns: stream.columns ?? 0,
  };
}

export function createUi(settings: UiSettings): Ui {
  const colored = settings.isTty && !settings.noColor && !settings.json;
  const color = new Chalk({ level: colored ? Math.max(chalk.level, 1) as 1 | 2 | 3 : 0 });
  const animate = settings.isTty && settings.columns > 0 && !settings.ci && !settings.json;
  let spinner: Ora | null = null;
  const mark = { done: color.green('✔'), fail: color.red('✖'), info: color.cyan('ℹ'), wait: color.yellow('…'), start: color.dim('›') };

  return {
    json: settings.json,
    color,
    step(event) {
      if (settings.json) {
        process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
        return;
      }
      if (animate) {
        if (event.event === 'start' || event.event === 'wait') {
          if (spinner) spinner.text = event.message;
          else spinner = ora({ text: event.message, stream: process.stderr, discardStdin: false }).start();
          return;
        }
        spinner?.stop();
        spinner = null;
      }
      process.stderr.write(`${mark[event.event]} ${event.message}\n`);
    },
    stop() {
      spinner?.stop();
      spinner = null;
    },
  };
}
