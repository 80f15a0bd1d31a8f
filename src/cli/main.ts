import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { DistctlError, ExitError } from '../errors/index.js';
import type { CommandResult } from '../commands/result.js';
import { validateCommand } from '../commands/validate.js';
import { createUi, readUiSettings, type Ui } from './ui.js';

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Options every topology-reading command accepts. */
interface CommonOptions {
  file: string;
  json: boolean;
}

function fileOption(): Option {
  return new Option('-f, --file <path>', 'topology file').default('./topology.yaml');
}

function jsonOption(): Option {
  return new Option('--json', 'machine-readable output (one JSON document, or one JSON event per line while working)').default(false);
}

/** Builds the CLI. Only commands that work are registered: `--help` lists exactly what distctl can do. */
export function buildProgram(run: (json: boolean, action: (ui: Ui) => Promise<CommandResult>) => Promise<void>): Command {
  const program = new Command('distctl')
    .description('Provision, deploy and operate the distributed product platform described by topology.yaml on Incus.')
    .version(packageJson.version, '-V, --version')
    .showHelpAfterError('(run `distctl --help` for usage)')
    .exitOverride();

  program
    .command('validate')
    .description('check topology.yaml: shape and semantics, every problem with file:line and how to fix it')
    .addOption(fileOption())
    .addOption(jsonOption())
    .action(async (options: CommonOptions) => run(options.json, () => validateCommand({ file: options.file })));

  return program;
}

/** Entry point: parses argv, runs the command, owns printing, colour and exit codes. */
export async function main(argv: readonly string[]): Promise<number> {
  let exitCode = 0;
  let jsonMode = argv.includes('--json');
  const run = async (json: boolean, action: (ui: Ui) => Promise<CommandResult>): Promise<void> => {
    jsonMode = json;
    const ui = createUi(readUiSettings(json));
    try {
      const result = await action(ui);
      ui.stop();
      if (json) process.stdout.write(`${JSON.stringify(result.json, null, 2)}\n`);
      else if (result.human !== '') process.stdout.write(`${result.human}\n`);
      exitCode = result.exitCode;
    } finally {
      ui.stop();
    }
  };
  try {
    await buildProgram(run).parseAsync([...argv], { from: 'user' });
  } catch (error) {
    exitCode = reportError(error, jsonMode);
  }
  return exitCode;
}

/** The one place that turns an error into output and an exit code. Only bugs show a stack. */
export function reportError(error: unknown, json: boolean): number {
  if (error instanceof CommanderError) {
    // commander already printed usage errors; help and version exit 0.
    return error.exitCode === 0 ? 0 : 2;
  }
  if (error instanceof ExitError) return error.exitCode;
  if (error instanceof DistctlError) {
    if (json) {
      process.stdout.write(`${JSON.stringify({ ok: false, error: { code: error.code, message: error.message, details: error.details, hint: error.hint ?? null } }, null, 2)}\n`);
    } else {
      const color = createUi(readUiSettings(false)).color;
      const lines = [`${color.red('error:')} ${error.message}`, ...error.details.map((line) => `  ${line}`)];
      if (error.hint) lines.push(`${color.cyan('hint:')} ${error.hint}`);
      process.stderr.write(`${lines.join('\n')}\n`);
    }
    return 1;
  }
  const bug = error instanceof Error ? error : new Error(String(error));
  process.stderr.write(`internal error (a bug in distctl — please report it with this output):\n${bug.stack ?? bug.message}\n`);
  return 70;
}
