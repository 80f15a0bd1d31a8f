import { Chalk } from 'chalk';
import type ora from 'ora';
import type { Ora } from 'ora';
import type { ProgressEvent } from '../apply/progress.js';
import type { Ui } from '../commands/ui.js';

// Re-exported so code written against the old location still compiles; new code imports the port.
export type { ProgressEvent, Ui };

/** chalk's colour levels: none, 16 colours, 256 colours, truecolor. */
export type ColorLevel = 0 | 1 | 2 | 3;

/** The part of a Node write stream the UI uses; in-process tests pass their own. */
export interface OutputStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
  getColorDepth?(env?: object): number;
}

/** Settings read once at start-up from flags and environment. */
export interface UiSettings {
  readonly json: boolean;
  /** stderr is a terminal (spinners). */
  readonly isTty: boolean;
  readonly noColor: boolean;
  readonly ci: boolean;
  /** Terminal width; 0 on a pseudo-terminal without a size, where a spinner cannot redraw its line. */
  readonly columns: number;
  /** Colour level per stream; without it both follow `isTty && !noColor`. */
  readonly colors?: { readonly stdout: ColorLevel; readonly stderr: ColorLevel };
  /** stdout is a terminal (screen clearing for --watch); defaults to false. */
  readonly stdoutIsTty?: boolean;
  /** Where output goes; the process' streams by default. */
  readonly streams?: { readonly stdout: OutputStream; readonly stderr: OutputStream };
}

/**
 * Reads the settings for one run. Colour is decided per stream, strongest first:
 * `--no-color`, then `FORCE_COLOR` (0/false off, 1–3 or empty on, even into a pipe),
 * then `NO_COLOR`, then whether that stream is a terminal (and how many colours it has).
 */
export function readUiSettings(
  json: boolean,
  env: NodeJS.ProcessEnv = process.env,
  streams: { readonly stdout: OutputStream; readonly stderr: OutputStream } = {
    stdout: process.stdout,
    stderr: process.stderr,
  },
  noColorFlag = false,
): UiSettings {
  return {
    json,
    isTty: Boolean(streams.stderr.isTTY),
    noColor: noColorFlag || (env.NO_COLOR !== undefined && env.NO_COLOR !== ''),
    ci: env.CI !== undefined && env.CI !== '' && env.CI !== 'false',
    columns: streams.stderr.columns ?? 0,
    colors: {
      stdout: colorLevel(streams.stdout, env, noColorFlag),
      stderr: colorLevel(streams.stderr, env, noColorFlag),
    },
    stdoutIsTty: Boolean(streams.stdout.isTTY),
    streams,
  };
}

/** The colour level one stream gets (see readUiSettings for the order of precedence). */
export function colorLevel(stream: OutputStream, env: NodeJS.ProcessEnv, noColorFlag: boolean): ColorLevel {
  if (noColorFlag) return 0;
  const forced = env.FORCE_COLOR;
  if (forced !== undefined) {
    if (forced === '' || forced === 'true') return 1;
    const level = Number.parseInt(forced, 10);
    if (forced === 'false' || level === 0) return 0;
    return Number.isNaN(level) ? 1 : (Math.min(Math.max(level, 1), 3) as ColorLevel);
  }
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0;
  if (!stream.isTTY || env.TERM === 'dumb') return 0;
  const depth = stream.getColorDepth?.(env) ?? 4;
  return depth >= 24 ? 3 : depth >= 8 ? 2 : depth >= 4 ? 1 : 0;
}

/** Whether progress animates (a spinner on a terminal's stderr): only then does the CLI load ora. */
export function animates(settings: UiSettings): boolean {
  return settings.isTty && settings.columns > 0 && !settings.ci && !settings.json;
}

/** The Ui for `settings`; `spinner` is ora, passed where animates(settings) (without it progress prints lines). */
export function createUi(settings: UiSettings, spinner?: typeof ora): Ui {
  const legacy: ColorLevel = settings.isTty && !settings.noColor ? 1 : 0;
  const levels = settings.colors ?? { stdout: legacy, stderr: legacy };
  const color = new Chalk({ level: levels.stdout });
  const errorColor = new Chalk({ level: levels.stderr });
  const streams = settings.streams ?? { stdout: process.stdout, stderr: process.stderr };
  const makeSpinner = animates(settings) ? spinner : undefined;
  let current: Ora | null = null;
  const mark = {
    done: errorColor.green('✔'),
    fail: errorColor.red('✖'),
    info: errorColor.cyan('ℹ'),
    wait: errorColor.yellow('…'),
    start: errorColor.dim('›'),
  };

  return {
    json: settings.json,
    color,
    errorColor,
    clearScreen: settings.stdoutIsTty && !settings.json ? '\x1b[2J\x1b[H' : '',
    step(event) {
      if (settings.json) {
        streams.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
        return;
      }
      if (makeSpinner) {
        if (event.event === 'start' || event.event === 'wait') {
          if (current) current.text = event.message;
          else
            current = makeSpinner({
              text: event.message,
              stream: streams.stderr as NodeJS.WriteStream,
              discardStdin: false,
            }).start();
          return;
        }
        current?.stop();
        current = null;
      }
      streams.stderr.write(`${mark[event.event]} ${event.message}\n`);
    },
    stop() {
      current?.stop();
      current = null;
    },
  };
}
