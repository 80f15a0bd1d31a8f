import chalk, { Chalk } from 'chalk';
import ora, { type Ora } from 'ora';
import type { Ui } from '../commands/ui.js';

// Re-exported so code written against the old location still compiles; new code imports the port.
export type { Ui };

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
