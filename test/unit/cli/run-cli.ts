// Runs the CLI in-process on the current source: main() with captured streams,
// a chosen environment and a scripted runner, so CLI tests never execute a built dist/.
import { main } from '../../../src/cli/main.js';
import type { InteractiveRunner } from '../../../src/cli/interactive.js';
import type { Envelope } from '../../../src/commands/result.js';
import type { CommandSpec, Runner } from '../../../src/exec/runner.js';
import { ScriptedRunner } from '../support/scripted-runner.js';

/** A stream that keeps what is written; `isTTY` and colour depth as a terminal would report them. */
export class CapturedStream {
  text = '';
  constructor(
    readonly isTTY = false,
    private readonly depth = 8,
  ) {}
  write(text: string): boolean {
    this.text += text;
    return true;
  }
  getColorDepth(): number {
    return this.depth;
  }
}

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly stdoutTty?: boolean;
  readonly stderrTty?: boolean;
  readonly runner?: Runner;
  readonly interactive?: InteractiveRunner;
}

/** Runs `distctl ARGS` in-process. By default: no terminal, empty environment, and any process it would start fails the test. */
export async function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  const stdout = new CapturedStream(options.stdoutTty ?? false);
  const stderr = new CapturedStream(options.stderrTty ?? false);
  const code = await main(args, {
    stdout,
    stderr,
    env: options.env ?? {},
    runner: options.runner ?? new ScriptedRunner(() => undefined),
    interactive:
      options.interactive ??
      (async (argv) => {
        throw new Error(`unexpected interactive command: ${argv.join(' ')}`);
      }),
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/** The one JSON document a `--json` run printed on stdout; fails when stdout holds anything else. */
export function envelopeOf(run: CliRun): Envelope {
  const lines = run.stdout.trimEnd().split('\n');
  if (lines.length !== 1) throw new Error(`expected exactly one JSON document on stdout, got:\n${run.stdout}`);
  return JSON.parse(lines[0] ?? '') as Envelope;
}

/** An Incus with nothing in it, as `plan` reads it on a fresh host (any other command fails the test). */
export function emptyIncus(): ScriptedRunner {
  return new ScriptedRunner((cmd: CommandSpec) => {
    const args = cmd.args.join(' ');
    if (cmd.bin === 'incus' && (args === 'project list --format json' || args === 'network list --format json'))
      return { stdout: '[]' };
    return undefined;
  });
}
