import { readFileSync } from 'node:fs';
import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DistctlError, ExitError } from '../errors/index.js';
import {
  envelope,
  errorCode,
  errorEntry,
  failureEnvelope,
  formatEntry,
  problemEntry,
  type CommandResult,
  type Envelope,
  type ErrorEntry,
} from '../commands/result.js';
// Command modules are imported when their command runs, and so are execa (the runner), ora (spinners), zod and
// yaml (the topology): `--help` loads commander and little else.
import type { Runner } from '../exec/runner.js';
import { IncusClient } from '../incus/client.js';
import type { TopologyInvalidError } from '../topology/load.js';
import { makeConfirm } from './confirm.js';
import type { InteractiveRunner } from './interactive.js';
import { deploymentStateDir } from '../state/paths.js';
import { animates, createUi, readUiSettings, type OutputStream, type Ui } from './ui.js';

const packageJson = readPackageJson();

/** Container chains `up` and `import` run at once (see applyPlan). */
const APPLY_CONCURRENCY = 8;

/** distctl's own package.json: only its version is read. */
function readPackageJson(): { version: string } {
  const parsed: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  const version = (parsed as { version?: unknown } | null)?.version;
  if (typeof version !== 'string') throw new Error("distctl's package.json has no version");
  return { version };
}

/** Options every topology-reading command accepts. */
interface CommonOptions {
  file: string;
  json: boolean;
}

function fileOption(): Option {
  return new Option('-f, --file <path>', 'topology file (default: $DISTCTL_FILE, else ./topology.yaml)');
}

function jsonOption(): Option {
  return new Option(
    '--json',
    'machine-readable output: one JSON document on stdout (progress events on stderr)',
  ).default(false);
}

/**
 * What a run of the CLI talks to: the process' streams and environment by
 * default; in-process tests pass their own (and a scripted runner for incus).
 */
export interface CliIo {
  readonly stdout: OutputStream;
  readonly stderr: OutputStream;
  readonly env: NodeJS.ProcessEnv;
  /** Runs `incus` and other tools for the commands. */
  readonly runner: Runner;
  /** Runs a command attached to the terminal (`exec`, `shell`); resolves to its exit code. */
  readonly interactive: InteractiveRunner;
}

function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    runner: lazyRunner(),
    interactive: async (argv) => (await import('./interactive.js')).runInteractive(argv),
  };
}

/** The execa runner, loaded by the first command a run executes (`validate` and `--help` never do). */
function lazyRunner(): Runner {
  let runner: Promise<Runner> | undefined;
  return {
    run: async (cmd) => (await (runner ??= import('../exec/runner.js').then((m) => new m.ExecaRunner()))).run(cmd),
  };
}

/** The topology file when none is given: `$DISTCTL_FILE`, else ./topology.yaml. */
function defaultTopologyFile(env: NodeJS.ProcessEnv): string {
  return env.DISTCTL_FILE !== undefined && env.DISTCTL_FILE !== '' ? env.DISTCTL_FILE : './topology.yaml';
}

/** Builds the CLI. Only commands that work are registered: `--help` lists exactly what distctl can do. */
export function buildProgram(
  run: (json: boolean, action: (ui: Ui) => Promise<CommandResult>) => Promise<void>,
  io: CliIo = processIo(),
): Command {
  const incusClient = (): IncusClient => new IncusClient(io.runner);
  const program = new Command('distctl')
    .description('Provision, deploy and operate the distributed product platform described by topology.yaml on Incus.')
    .version(packageJson.version, '-V, --version')
    .showHelpAfterError('(run `distctl --help` for usage)')
    .exitOverride()
    // Global options go before the command (`distctl -f x.yaml plan`); after it they are the command's own,
    // which is what lets `logs -f` mean --follow.
    .enablePositionalOptions()
    .addOption(new Option('-f, --file <path>', 'topology file (default: $DISTCTL_FILE, else ./topology.yaml)'))
    .addOption(jsonOption())
    .option('--no-color', 'no colour, even on a terminal (also: NO_COLOR=1; FORCE_COLOR=1 forces it)')
    .configureOutput({ writeOut: (text) => io.stdout.write(text), writeErr: (text) => io.stderr.write(text) });
  // A command's own -f/--json win; otherwise the global ones (or $DISTCTL_FILE) apply.
  program.hook('preAction', (_program, command) => {
    const global = program.getOptionValueSource('file') === 'cli' ? (program.opts().file as string) : null;
    const takesFile = command.options.some((option) => option.attributeName() === 'file');
    if (takesFile && command.getOptionValueSource('file') !== 'cli') {
      command.setOptionValue('file', global ?? defaultTopologyFile(io.env));
    }
    if (program.opts().json === true) command.setOptionValue('json', true);
  });

  program
    .command('validate')
    .description('check topology.yaml: shape and semantics, every problem with file:line and how to fix it')
    .addOption(fileOption())
    .addOption(jsonOption())
    .action(async (options: CommonOptions) =>
      run(options.json, async () => (await import('../commands/validate.js')).validateCommand({ file: options.file })),
    );

  program
    .command('plan')
    .description('show everything `up` would do: Incus, images, databases, services (changes and creates nothing)')
    .addOption(fileOption())
    .addOption(jsonOption())
    .option('--prune', 'include removal of distctl containers no longer in the topology', false)
    .option('--show-calls', 'print the incus commands each change runs', false)
    .option('--detailed-exitcode', 'exit 0: nothing would change, 2: something would, 1: error or conflict', false)
    .action(async (options: CommonOptions & { prune: boolean; showCalls: boolean; detailedExitcode: boolean }) =>
      run(options.json, async (ui) =>
        (await import('../commands/plan.js')).planCommand({
          file: options.file,
          prune: options.prune,
          showCalls: options.showCalls,
          detailedExitCode: options.detailedExitcode,
          client: incusClient(),
          ui,
          stateDirFor: deploymentStateDir,
        }),
      ),
    );

  program
    .command('up')
    .description(
      'create or converge network, containers, databases and services (idempotent: a second run changes nothing)',
    )
    .addOption(fileOption())
    .addOption(jsonOption())
    .option('-y, --yes', 'do not ask before deleting (with --prune)', false)
    .option('--prune', 'delete distctl containers that are no longer in the topology', false)
    .addOption(
      new Option('--address-timeout <seconds>', 'how long to wait for containers to hold their addresses')
        .default('120')
        .argParser(positiveNumber),
    )
    .addOption(
      // 8: each chain mostly waits on the daemon; at 4 the fifth container of five waited for a free slot (4 s).
      new Option('--concurrency <n>', 'containers created/started at once')
        .default(String(APPLY_CONCURRENCY))
        .argParser(positiveNumber),
    )
    .action(
      async (
        options: CommonOptions & {
          yes: boolean;
          prune: boolean;
          addressTimeout: number | string;
          concurrency: number | string;
        },
      ) =>
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
    .option(
      '--keep-data',
      'keep the containers that hold databases (and the network, project and secrets they need)',
      false,
    )
    .option(
      '--forget-state',
      'also delete the secrets when Incus shows no project for them (another remote looks the same)',
      false,
    )
    .action(async (options: CommonOptions & { yes: boolean; keepData: boolean; forgetState: boolean }) =>
      run(options.json, async (ui) =>
        (await import('../commands/down.js')).downCommand({
          file: options.file,
          client: incusClient(),
          ui,
          confirm: makeConfirm(options.yes),
          stateDirFor: deploymentStateDir,
          keepData: options.keepData,
          forgetState: options.forgetState,
        }),
      ),
    );

  program
    .command('status')
    .description(
      'containers, IPs, units, replica-set members (state, lag) and service health; exit 0 only when all is as declared',
    )
    .addOption(fileOption())
    .addOption(jsonOption())
    .addOption(
      new Option('-w, --watch [seconds]', 'refresh until Ctrl-C (default every 2 s)').argParser(positiveNumber),
    )
    .addOption(
      new Option(
        '--format <format>',
        'table (default), json (as --json), or prometheus (metrics text for a textfile collector)',
      )
        .choices(['table', 'json', 'prometheus'])
        .default('table'),
    )
    .action(async (options: CommonOptions & { watch?: number | true; format: 'table' | 'json' | 'prometheus' }) =>
      run(options.json || options.format === 'json', async (ui) =>
        (await import('../commands/status.js')).statusCommand({
          file: options.file,
          format: options.format === 'prometheus' ? 'prometheus' : 'table',
          client: incusClient(),
          ui,
          stateDirFor: deploymentStateDir,
          watchSeconds: options.watch === undefined ? null : options.watch === true ? 2 : options.watch,
          write: (text) => io.stdout.write(text),
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
    .option(
      '--services-src <dir>',
      'bundle the services from this directory (auth/main.ts, web/main.ts) instead of the shipped ones',
    )
    .addOption(
      new Option('--health-timeout <seconds>', 'how long each service may take to answer /health')
        .default('60')
        .argParser(positiveNumber),
    )
    .action(
      async (services: string[], options: CommonOptions & { servicesSrc?: string; healthTimeout: number | string }) =>
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
    .description(
      'logs of the whole platform as one stream (every distctl unit; mongod log files), or of one container or unit',
    )
    .argument('[container]', 'only this container (default: every container with distctl units)')
    .argument('[unit]', 'only this unit, e.g. web-server or mongod-27018.service')
    .addOption(
      new Option('--file <path>', 'topology file (-f is --follow here; default: $DISTCTL_FILE, else ./topology.yaml)'),
    )
    .addOption(jsonOption())
    .addOption(
      new Option('-n, --lines <n>', 'recent lines per container journal and per mongod log file')
        .default('50')
        .argParser(positiveNumber),
    )
    .option('--since <when>', 'only entries since a duration ago (10m, 2h, 1d) or an ISO date/time')
    .option('--grep <regex>', 'only lines matching this extended regular expression (filtered inside the containers)')
    .option('-f, --follow', 'keep printing new entries until Ctrl-C', false)
    .action(
      async (
        container: string | undefined,
        unit: string | undefined,
        options: CommonOptions & { lines: number | string; follow: boolean; since?: string; grep?: string },
      ) =>
        run(options.json, async (ui) =>
          (await import('../commands/logs.js')).logsCommand({
            file: options.file,
            ...(container === undefined ? {} : { container }),
            ...(unit === undefined ? {} : { unit }),
            lines: Number(options.lines),
            ...(options.since === undefined ? {} : { since: options.since }),
            ...(options.grep === undefined ? {} : { grep: options.grep }),
            follow: options.follow,
            client: incusClient(),
            ui,
            write: (text) => io.stdout.write(text),
            ...(options.follow ? { stopped: interrupted() } : {}),
          }),
        ),
    );

  program
    .command('expose [container:port]')
    .description(
      'proxy a container port to the host (recorded in topology.yaml, applied at once); without arguments, list exposures',
    )
    .addOption(fileOption())
    .addOption(jsonOption())
    .option(
      '--listen <address:port>',
      'host address and port (default 127.0.0.1 and the container port; binding wider is your explicit choice)',
    )
    .option('--remove', 'stop exposing it', false)
    .action(async (target: string | undefined, options: CommonOptions & { listen?: string; remove: boolean }) =>
      run(options.json, async (ui) =>
        (await import('../commands/expose.js')).exposeCommand({
          file: options.file,
          remove: options.remove,
          client: incusClient(),
          ui,
          stateDirFor: deploymentStateDir,
          ...(target ? { target } : {}),
          ...(options.listen ? { listen: options.listen } : {}),
        }),
      ),
    );

  program
    .command('failover-test')
    .description(
      "take each replica set's PRIMARY away (SIGTERM and/or SIGKILL) under a write workload; " +
        'report election time, write fates and latency, replication, and bring the member back',
    )
    .addOption(fileOption())
    .addOption(jsonOption())
    .option('--set <name...>', 'replica sets to test (default: all, one after another)')
    .addOption(
      new Option('--mode <mode>', 'stepdown: systemctl stop (SIGTERM); crash: SIGKILL; both: stepdown, then crash')
        .choices(['stepdown', 'crash', 'both'])
        .default('both'),
    )
    .addOption(
      new Option('--warmup <seconds>', 'writes before the primary is stopped').default('3').argParser(positiveNumber),
    )
    .addOption(
      new Option('--after <seconds>', 'writes after the new primary is elected').default('3').argParser(positiveNumber),
    )
    .addOption(
      new Option('--election-timeout <seconds>', 'how long the set may take to elect')
        .default('60')
        .argParser(positiveNumber),
    )
    .addOption(new Option('--interval <ms>', 'pause between two writes').default('100').argParser(positiveNumber))
    .option(
      '--kill-member <name>',
      'instead: stop (force) every container on this Incus cluster member at once, a simulated host loss',
    )
    .option('--force', 'with --kill-member: go ahead even when a replica set would lose its majority', false)
    .action(
      async (
        options: CommonOptions & {
          killMember?: string;
          force: boolean;
          set?: string[];
          mode: 'stepdown' | 'crash' | 'both';
          warmup: number | string;
          after: number | string;
          electionTimeout: number | string;
          interval: number | string;
        },
        command: Command,
      ) =>
        run(options.json, async (ui) => {
          const { failoverModes, failoverTestCommand } = await import('../commands/failover-test.js');
          return failoverTestCommand({
            file: options.file,
            ...(options.killMember === undefined ? {} : { killMember: options.killMember }),
            force: options.force,
            modeGiven: command.getOptionValueSource('mode') === 'cli',
            sets: options.set ?? [],
            modes: failoverModes(options.mode),
            timings: {
              warmupMs: Number(options.warmup) * 1000,
              afterMs: Number(options.after) * 1000,
              electionTimeoutMs: Number(options.electionTimeout) * 1000,
              intervalMs: Number(options.interval),
            },
            client: incusClient(),
            ui,
            stateDirFor: deploymentStateDir,
          });
        }),
    );

  for (const [name, description] of [
    [
      'drain',
      'Incus cluster maintenance: step down every PRIMARY on MEMBER, then evacuate it (its containers stop in place)',
    ],
    ['undrain', 'restore an evacuated cluster MEMBER and wait until every mongod on it is SECONDARY or PRIMARY again'],
  ] as const) {
    const command = program
      .command(name)
      .description(description)
      .argument('<member>', 'the Incus cluster member')
      .addOption(fileOption())
      .addOption(jsonOption());
    if (name === 'drain') command.option('--force', 'drain even when a replica set would lose its majority', false);
    command
      .addOption(
        new Option('--timeout <seconds>', 'bound of each wait: a new PRIMARY (drain), the mongods back (undrain)')
          .default(name === 'drain' ? '60' : '300')
          .argParser(positiveNumber),
      )
      .action(async (member: string, options: CommonOptions & { force?: boolean; timeout: number | string }) =>
        run(options.json, async (ui) => {
          const { drainCommand, undrainCommand } = await import('../commands/drain.js');
          const timeoutMs = Number(options.timeout) * 1000;
          return (name === 'drain' ? drainCommand : undrainCommand)({
            file: options.file,
            member,
            force: options.force === true,
            client: incusClient(),
            ui,
            stateDirFor: deploymentStateDir,
            timings: name === 'drain' ? { stepDownTimeoutMs: timeoutMs } : { rejoinTimeoutMs: timeoutMs },
          });
        }),
      );
  }

  program
    .command('export')
    .description(
      'write the deployment (container backups, topology, secrets) to a bundle directory that `import` restores on another Incus host',
    )
    .addOption(fileOption())
    .addOption(jsonOption())
    .option(
      '-o, --output <dir>',
      'bundle directory (must not exist or be empty; default ./distctl-export-<project>-<time>)',
    )
    .addOption(new Option('--compression <algorithm>', 'backup compression').choices(['gzip', 'none']).default('gzip'))
    .option('--stop', 'stop each container while it is exported (clean copy instead of crash-consistent)', false)
    .option('--key <file>', 'sign the manifest with this key file (0600, ≥ 16 bytes) so import can check the bundle')
    .option('--encrypt', 'also encrypt every file of the bundle with the key (needs --key)', false)
    .action(
      async (
        options: CommonOptions & {
          output?: string;
          compression: 'gzip' | 'none';
          stop: boolean;
          key?: string;
          encrypt: boolean;
        },
      ) =>
        run(options.json, async (ui) =>
          (await import('../commands/export.js')).exportCommand({
            file: options.file,
            compression: options.compression,
            stop: options.stop,
            client: incusClient(),
            ui,
            stateDirFor: deploymentStateDir,
            version: packageJson.version,
            encrypt: options.encrypt,
            ...(options.output ? { output: options.output } : {}),
            ...(options.key ? { keyFile: options.key } : {}),
          }),
        ),
    );

  program
    .command('import <bundle>')
    .description('restore a bundle written by `export` on this Incus host, then converge like `up`')
    .addOption(jsonOption())
    .option('--storage <pool>', 'storage pool for the restored containers')
    .option('--key <file>', 'check the manifest signature (and decrypt) with the key file given to export --key')
    .option('--manifest-sha256 <hex>', 'check the manifest against the digest export printed, passed on out of band')
    .option('--unverified', 'import without checking who wrote the bundle', false)
    .option(
      '--allow-unsafe-config',
      'accept privileged, raw.*, host-device or undeclared-proxy settings in the backups',
      false,
    )
    .option('-y, --yes', 'do not ask for confirmation', false)
    .addOption(
      new Option('--address-timeout <seconds>', 'how long to wait for containers to hold their addresses')
        .default('120')
        .argParser(positiveNumber),
    )
    .action(
      async (
        bundle: string,
        options: {
          json: boolean;
          storage?: string;
          yes: boolean;
          addressTimeout: number | string;
          key?: string;
          manifestSha256?: string;
          unverified: boolean;
          allowUnsafeConfig: boolean;
        },
      ) =>
        run(options.json, async (ui) =>
          (await import('../commands/import.js')).importCommand({
            bundle,
            client: incusClient(),
            ui,
            confirm: makeConfirm(options.yes),
            addressTimeoutMs: Number(options.addressTimeout) * 1000,
            concurrency: APPLY_CONCURRENCY,
            stateDirFor: deploymentStateDir,
            unverified: options.unverified,
            allowUnsafeConfig: options.allowUnsafeConfig,
            ...(options.storage ? { storage: options.storage } : {}),
            ...(options.key ? { keyFile: options.key } : {}),
            ...(options.manifestSha256 ? { manifestSha256: options.manifestSha256 } : {}),
          }),
        ),
    );

  program
    .command('doctor')
    .description('check the host: incus installed and answering, storage, subnet free, image available')
    .addOption(fileOption())
    .addOption(jsonOption())
    .option(
      '--fix',
      'repair what can be repaired (as root): install/start Incus and storage, build a missing local image',
      false,
    )
    .action(async (options: CommonOptions & { fix: boolean }) =>
      run(options.json, async (ui) =>
        (await import('../commands/doctor.js')).doctorCommand({
          file: options.file,
          fix: options.fix,
          client: incusClient(),
          runner: io.runner,
          ui,
        }),
      ),
    );

  const image = program.command('image').description('base images for the containers');
  image
    .command('build')
    .description(
      "build a Debian base image offline with debootstrap from the host's apt mirror and import it into Incus",
    )
    .option('--alias <name>', 'image alias to create', 'debian12-distctl')
    .option('--suite <suite>', 'Debian suite', 'bookworm')
    .option('--mirror <uri>', "Debian archive URI (default: the one the host's apt sources use)")
    .option('--force', 'replace an existing image with this alias', false)
    .addOption(jsonOption())
    .action(async (options: { alias: string; suite: string; mirror?: string; force: boolean; json: boolean }) =>
      run(options.json, async (ui) =>
        (await import('../commands/image-build.js')).imageBuildCommand({
          alias: options.alias,
          suite: options.suite,
          force: options.force,
          runner: io.runner,
          ui,
          ...(options.mirror ? { mirror: options.mirror } : {}),
        }),
      ),
    );

  program
    .command('exec')
    .description('run a command in a container of the deployment (its Incus project), attached to this terminal')
    .argument('<container>', 'container name from the topology')
    .argument('<command...>', 'the command and its arguments (after `--`)')
    .addOption(fileOption())
    // Everything after the container belongs to the command inside it, options included.
    .passThroughOptions()
    .action(async (container: string, words: string[], options: { file: string }) => {
      // Passed through, the `--` that separates distctl's arguments from the command's arrives as a word.
      const command = words[0] === '--' ? words.slice(1) : words;
      await run(false, async () =>
        (await import('../commands/exec.js')).execCommand({
          file: options.file,
          container,
          command,
          interactive: io.interactive,
        }),
      );
    });

  program
    .command('shell')
    .description('open a root login shell in a container of the deployment')
    .argument('<container>', 'container name from the topology')
    .addOption(fileOption())
    .action(async (container: string, options: { file: string }) =>
      run(false, async () =>
        (await import('../commands/exec.js')).execCommand({
          file: options.file,
          container,
          command: [],
          interactive: io.interactive,
        }),
      ),
    );

  program
    .command('schema')
    .description('print the JSON Schema of topology.yaml (for editors; topology.schema.json holds a copy)')
    .addOption(jsonOption())
    .action(async (options: { json: boolean }) =>
      run(options.json, async () => (await import('../commands/schema.js')).schemaCommand()),
    );

  program
    .command('completion')
    .description('print a shell completion script: source <(distctl completion bash)')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(['bash', 'zsh', 'fish']))
    .addOption(jsonOption())
    .action(async (shell: 'bash' | 'zsh' | 'fish', options: { json: boolean }) =>
      run(options.json, async () => (await import('../commands/completion.js')).completionCommand(shell, program)),
    );

  // --no-color is accepted after every command too (`distctl plan --no-color`).
  for (const command of allCommands(program)) {
    if (command !== program) command.option('--no-color', 'no colour, even on a terminal');
  }

  return program;
}

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

/**
 * Resolves on Ctrl-C, for commands that run until interrupted (--watch,
 * --follow) and then finish cleanly. Only those install it: elsewhere Ctrl-C
 * keeps its default of ending the process.
 */
function interrupted(): Promise<void> {
  return new Promise<void>((resolve) => process.once('SIGINT', () => resolve()));
}

function positiveNumber(value: string): number {
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new InvalidArgumentError('must be a positive number');
  return parsed;
}

/** Entry point: parses argv, runs the command, owns printing, colour and exit codes. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  // Decided from argv itself, so that a usage error (before any action runs) is reported in the right form.
  const ours = argv.includes('--') ? argv.slice(0, argv.indexOf('--')) : argv;
  let jsonMode = ours.includes('--json');
  const noColor = ours.includes('--no-color');
  let exitCode = 0;
  const run = async (json: boolean, action: (ui: Ui) => Promise<CommandResult>): Promise<void> => {
    jsonMode = json;
    const settings = readUiSettings(json, io.env, io, noColor);
    const ui = createUi(settings, animates(settings) ? (await import('ora')).default : undefined);
    try {
      const result = await action(ui);
      ui.stop();
      if (json) {
        io.stdout.write(`${JSON.stringify(envelope(result))}\n`);
      } else {
        printProblems(io, ui, result.errors ?? [], result.warnings ?? []);
        if (result.human !== '') io.stdout.write(`${result.human}\n`);
      }
      exitCode = result.exitCode;
    } finally {
      ui.stop();
    }
  };
  const program = buildProgram(run, io);
  // With --json, commander's own usage messages give way to the envelope.
  if (jsonMode) for (const command of allCommands(program)) command.configureOutput({ writeErr: () => undefined });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (error) {
    exitCode = reportError(error, jsonMode, io, noColor);
  }
  return exitCode;
}

/** Problems a command found, on stderr: they are diagnostics, the result goes to stdout. */
function printProblems(io: CliIo, ui: Ui, errors: readonly ErrorEntry[], warnings: readonly ErrorEntry[]): void {
  const lines = [
    ...errors.map((entry) => `${ui.errorColor.red('error:')} ${formatEntry(entry)}`),
    ...warnings.map((entry) => `${ui.errorColor.yellow('warning:')} ${formatEntry(entry)}`),
  ];
  if (lines.length > 0) io.stderr.write(`${lines.join('\n')}\n`);
}

/** Exit codes: 0 success, 1 failure (or differences found), 2 usage error, 70 a bug in distctl (status: 3 not deployed). */
const EXIT = { ok: 0, failure: 1, usage: 2, bug: 70 } as const;

/** The one place that turns an error into output and an exit code. Only bugs show a stack. */
export function reportError(error: unknown, json: boolean, io: CliIo = processIo(), noColor = false): number {
  const print = (document: Envelope): void => void io.stdout.write(`${JSON.stringify(document)}\n`);
  if (error instanceof CommanderError) {
    // Help and version exit 0; commander has printed usage errors already, unless --json silenced it.
    if (error.exitCode === 0) return EXIT.ok;
    if (json) print(failureEnvelope([usageEntry(error)]));
    return EXIT.usage;
  }
  if (error instanceof ExitError) return error.exitCode;
  if (error instanceof DistctlError) {
    if (json) {
      print(
        isTopologyInvalid(error)
          ? failureEnvelope(error.problems.map(problemEntry), error.warnings.map(problemEntry))
          : failureEnvelope([errorEntry(error)]),
      );
    } else {
      const color = createUi(readUiSettings(false, io.env, io, noColor)).errorColor;
      const lines = [`${color.red('error:')} ${error.message}`, ...error.details.map((line) => `  ${line}`)];
      if (error.hint) lines.push(`${color.cyan('hint:')} ${error.hint}`);
      io.stderr.write(`${lines.join('\n')}\n`);
    }
    return EXIT.failure;
  }
  const bug = error instanceof Error ? error : new Error(String(error));
  if (json) {
    const hint = 'This is a bug in distctl: please report it with the output of the same command without --json.';
    print(
      failureEnvelope([
        { code: 'INTERNAL_ERROR', message: bug.message, file: null, line: null, column: null, path: null, hint },
      ]),
    );
  }
  io.stderr.write(
    `internal error (a bug in distctl — please report it with this output):\n${bug.stack ?? bug.message}\n`,
  );
  return EXIT.bug;
}

/** TopologyInvalidError, recognised without loading the topology modules (zod, yaml) at start-up. */
function isTopologyInvalid(error: DistctlError): error is TopologyInvalidError {
  return error.code === 'TOPOLOGY_INVALID' && 'problems' in error && 'warnings' in error;
}

/** A commander usage error (`commander.unknownOption`) as an envelope entry (`UNKNOWN_OPTION`). */
function usageEntry(error: CommanderError): ErrorEntry {
  // Without a command commander shows the help and says only "(outputHelp)".
  const noCommand = error.code === 'commander.help';
  return {
    code: noCommand ? 'MISSING_COMMAND' : errorCode(error.code.replace(/^commander\./, '')),
    message: noCommand ? 'no command given' : error.message.replace(/^error: /, ''),
    file: null,
    line: null,
    column: null,
    path: null,
    hint: 'Run `distctl --help` (or `distctl COMMAND --help`) for usage.',
  };
}
