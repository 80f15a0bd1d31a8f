import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import { DistctlError, ExitError } from '../errors/index.js';
import type { CommandResult } from '../commands/result.js';
// Command modules are imported when their command runs: `--help` and `validate` stay fast.
import { ExecaRunner } from '../exec/runner.js';
import { IncusClient } from '../incus/client.js';
import { makeConfirm } from './confirm.js';
import { deploymentStateDir } from '../state/paths.js';
import { createUi, readUiSettings, type Ui } from './ui.js';

const packageJson = z.object({ version: z.string() }).parse(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')));

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
    .action(async (options: CommonOptions) => run(options.json, async () => (await import('../commands/validate.js')).validateCommand({ file: options.file })));

  program
    .command('plan')
    .description('show what `up` would change in Incus, as a diff against what Incus reports (changes nothing)')
    .addOption(fileOption())
    .addOption(jsonOption())
    .option('--prune', 'include removal of distctl containers no longer in the topology', false)
    .option('--show-calls', 'print the incus commands each change runs', false)
    .action(async (options: CommonOptions & { prune: boolean; showCalls: boolean }) =>
      run(options.json, async (ui) => (await import('../commands/plan.js')).planCommand({ file: options.file, prune: options.prune, showCalls: options.showCalls, client: incusClient(), ui })),
    );

  program
    .command('up')
    .description('create or converge network, containers, databases and services (idempotent: a second run changes nothing)')
    .addOption(fileOption())
    .addOption(jsonOption())
    .option('-y, --yes', 'do not ask before deleting (with --prune)', false)
    .option('--prune', 'delete distctl containers that are no longer in the topology', false)
    .addOption(new Option('--address-timeout <seconds>', 'how long to wait for containers to hold their addresses').default('120').argParser(positiveNumber))
    .addOption(new Option('--concurrency <n>', 'containers created/started at once').default('4').argParser(positiveNumber))
    .action(async (options: CommonOptions & { yes: boolean; prune: boolean; addressTimeout: number | string; concurrency: number | string }) =>
      run(options.json, async (ui) =>
        (await import('../commands/up.js')).upCommand({
          file: options.file,
          prune: options.prune,
          client: incusClient(),
          ui,
          confirm: makeConfirm(options.yes),
          addressTimeoutMs: Number(options.addressTimeout) * 1000,
          concurrency: Number(options.concurrency),
          stateDirFor: deploymentStateDir,
        }),
      ),
    );

  program
    .command('down')
    .description('remove the containers, network and project distctl created for this topology, and nothing else')
    .addOption(fileOption())
    .addOption(jsonOption())
    .option('-y, --yes', 'do not ask for confirmation', false)
    .action(async (options: CommonOptions & { yes: boolean }) =>
      run(options.json, async (ui) => (await import('../commands/down.js')).downCommand({ file: options.file, client: incusClient(), ui, confirm: makeConfirm(options.yes), stateDirFor: deploymentStateDir })),
    );

  program
    .command('status')
    .description('containers, IPs, units, replica-set members (state, lag) and service health; exit 0 only when all is as declared')
    .addOption(fileOption())
    .addOption(jsonOption())
    .addOption(new Option('-w, --watch [seconds]', 'refresh until Ctrl-C (default every 2 s)').argParser(positiveNumber))
    .action(async (options: CommonOptions & { watch?: number | true }) =>
      run(options.json, async (ui) =>
        (await import('../commands/status.js')).statusCommand({
          file: options.file,
          client: incusClient(),
          ui,
          stateDirFor: deploymentStateDir,
          watchSeconds: options.watch === undefined ? null : options.watch === true ? 2 : options.watch,
          write: (text) => process.stdout.write(text),
          ...(options.watch === undefined ? {} : { stopped: interrupted() }),
        }),
      ),
    );

  program
    .command('deploy')
    .description("push the services' code, environment and units to their containers; restart only what changed")
    .argument('[services...]', 'services to deploy (default: all)')
    .addOption(fileOption())
    .addOption(jsonOption())
    .option('--services-src <dir>', 'bundle the services from this directory (auth/main.ts, web/main.ts) instead of the shipped ones')
    .addOption(new Option('--health-timeout <seconds>', 'how long each service may take to answer /health').default('60').argParser(positiveNumber))
    .action(async (services: string[], options: CommonOptions & { servicesSrc?: string; healthTimeout: number | string }) =>
      run(options.json, async (ui) =>
        (await import('../commands/deploy.js')).deployCommand({
          file: options.file,
          services,
          client: incusClient(),
          ui,
          stateDirFor: deploymentStateDir,
          ...(options.servicesSrc === undefined ? {} : { servicesSource: options.servicesSrc }),
          healthTimeoutMs: Number(options.healthTimeout) * 1000,
        }),
      ),
    );

  program
    .command('logs')
    .description("journal of a unit inside a container (default: the container's only unit)")
    .argument('<container>', 'container name from the topology')
    .argument('[unit]', 'unit, e.g. web-server or mongod-27018.service')
    .addOption(new Option('--file <path>', 'topology file (-f is --follow here)').default('./topology.yaml'))
    .addOption(jsonOption())
    .addOption(new Option('-n, --lines <n>', 'how many recent lines').default('50').argParser(positiveNumber))
    .option('-f, --follow', 'keep printing new entries until Ctrl-C', false)
    .action(async (container: string, unit: string | undefined, options: CommonOptions & { lines: number | string; follow: boolean }) =>
      run(options.json, async (ui) =>
        (await import('../commands/logs.js')).logsCommand({
          file: options.file,
          container,
          ...(unit === undefined ? {} : { unit }),
          lines: Number(options.lines),
          follow: options.follow,
          client: incusClient(),
          ui,
          write: (text) => process.stdout.write(text),
          ...(options.follow ? { stopped: interrupted() } : {}),
        }),
      ),
    );

  program
    .command('expose [container:port]')
    .description('proxy a container port to the host (recorded in topology.yaml, applied at once); without arguments, list exposures')
    .addOption(fileOption())
    .addOption(jsonOption())
    .option('--listen <address:port>', 'host address and port (default 127.0.0.1 and the container port; binding wider is your explicit choice)')
    .option('--remove', 'stop exposing it', false)
    .action(async (target: string | undefined, options: CommonOptions & { listen?: string; remove: boolean }) =>
      run(options.json, async (ui) => (await import('../commands/expose.js')).exposeCommand({ file: options.file, remove: options.remove, client: incusClient(), ui, stateDirFor: deploymentStateDir, ...(target ? { target } : {}), ...(options.listen ? { listen: options.listen } : {}) })),
    );

  program
    .command('failover-test')
    .description('stop each replica set\'s PRIMARY under a write workload; report election time, every write\'s fate, replication, and bring the member back')
    .addOption(fileOption())
    .addOption(jsonOption())
    .option('--set <name...>', 'replica sets to test (default: all, one after another)')
    .addOption(new Option('--warmup <seconds>', 'writes before the primary is stopped').default('3').argParser(positiveNumber))
    .addOption(new Option('--after <seconds>', 'writes after the new primary is elected').default('3').argParser(positiveNumber))
    .addOption(new Option('--election-timeout <seconds>', 'how long the set may take to elect').default('60').argParser(positiveNumber))
    .addOption(new Option('--interval <ms>', 'pause between two writes').default('100').argParser(positiveNumber))
    .action(async (options: CommonOptions & { set?: string[]; warmup: number | string; after: number | string; electionTimeout: number | string; interval: number | string }) =>
      run(options.json, async (ui) =>
        (await import('../commands/failover-test.js')).failoverTestCommand({
          file: options.file,
          sets: options.set ?? [],
          timings: {
            warmupMs: Number(options.warmup) * 1000,
            afterMs: Number(options.after) * 1000,
            electionTimeoutMs: Number(options.electionTimeout) * 1000,
            intervalMs: Number(options.interval),
          },
          client: incusClient(),
          ui,
          stateDirFor: deploymentStateDir,
        }),
      ),
    );

  program
    .command('export')
    .description('write the deployment (container backups, topology, secrets) to a bundle directory that `import` restores on another Incus host')
    .addOption(fileOption())
    .addOption(jsonOption())
    .option('-o, --output <dir>', 'bundle directory (must not exist or be empty; default ./distctl-export-<project>-<time>)')
    .addOption(new Option('--compression <algorithm>', 'backup compression').choices(['gzip', 'none']).default('gzip'))
    .option('--stop', 'stop each container while it is exported (clean copy instead of crash-consistent)', false)
    .action(async (options: CommonOptions & { output?: string; compression: 'gzip' | 'none'; stop: boolean }) =>
      run(options.json, async (ui) =>
        (await import('../commands/export.js')).exportCommand({
          file: options.file,
          compression: options.compression,
          stop: options.stop,
          client: incusClient(),
          ui,
          stateDirFor: deploymentStateDir,
          version: packageJson.version,
          ...(options.output ? { output: options.output } : {}),
        }),
      ),
    );

  program
    .command('import <bundle>')
    .description('restore a bundle written by `export` on this Incus host, then converge like `up`')
    .addOption(jsonOption())
    .option('--storage <pool>', 'storage pool for the restored containers')
    .option('-y, --yes', 'do not ask for confirmation', false)
    .addOption(new Option('--address-timeout <seconds>', 'how long to wait for containers to hold their addresses').default('120').argParser(positiveNumber))
    .action(async (bundle: string, options: { json: boolean; storage?: string; yes: boolean; addressTimeout: number | string }) =>
      run(options.json, async (ui) =>
        (await import('../commands/import.js')).importCommand({
          bundle,
          client: incusClient(),
          ui,
          confirm: makeConfirm(options.yes),
          addressTimeoutMs: Number(options.addressTimeout) * 1000,
          concurrency: 4,
          stateDirFor: deploymentStateDir,
          ...(options.storage ? { storage: options.storage } : {}),
        }),
      ),
    );

  program
    .command('doctor')
    .description('check the host: incus installed and answering, storage, subnet free, image available')
    .addOption(fileOption())
    .addOption(jsonOption())
    .option('--fix', 'repair what can be repaired (as root): install/start Incus and storage, build a missing local image', false)
    .action(async (options: CommonOptions & { fix: boolean }) => run(options.json, async (ui) => (await import('../commands/doctor.js')).doctorCommand({ file: options.file, fix: options.fix, client: incusClient(), runner: new ExecaRunner(), ui })));

  const image = program.command('image').description('base images for the containers');
  image
    .command('build')
    .description('build a Debian base image offline with debootstrap from the host\'s apt mirror and import it into Incus')
    .option('--alias <name>', 'image alias to create', 'debian12-distctl')
    .option('--suite <suite>', 'Debian suite', 'bookworm')
    .option('--mirror <uri>', 'Debian archive URI (default: the one the host\'s apt sources use)')
    .option('--force', 'replace an existing image with this alias', false)
    .addOption(jsonOption())
    .action(async (options: { alias: string; suite: string; mirror?: string; force: boolean; json: boolean }) =>
      run(options.json, async (ui) => (await import('../commands/image-build.js')).imageBuildCommand({ alias: options.alias, suite: options.suite, force: options.force, runner: new ExecaRunner(), ui, ...(options.mirror ? { mirror: options.mirror } : {}) })),
    );

  return program;
}

/**
 * Resolves on Ctrl-C, for commands that run until interrupted (--watch,
 * --follow) and then finish cleanly. Only those install it: elsewhere Ctrl-C
 * keeps its default of ending the process.
 */
function interrupted(): Promise<void> {
  return new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
}

function incusClient(): IncusClient {
  return new IncusClient(new ExecaRunner());
}

function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError('must be a positive number');
  return parsed;
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
      if (json) process.stdout.write(`${JSON.stringify(result.json)}\n`);
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
      process.stdout.write(`${JSON.stringify({ ok: false, error: { code: error.code, message: error.message, details: error.details, hint: error.hint ?? null } })}\n`);
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
