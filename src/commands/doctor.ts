import type { Ui } from './ui.js';
import type { Runner } from '../exec/runner.js';
import type { DesiredState } from '../derive/types.js';
import type { IncusClient } from '../incus/client.js';
import { IncusError } from '../incus/errors.js';
import { OWNER_KEY } from '../incus/types.js';
import { z } from 'zod';
import { DistctlError } from '../errors/index.js';
import { parseSubnet, subnetsOverlap } from '../topology/ipv4.js';
import { fileURLToPath } from 'node:url';
import { buildImage, recipeImages, type ImageBuilder } from '../image/index.js';
import { checkHugepages, HUGEPAGE_FILES, parseHugepageSettings } from '../mongo/hugepages.js';
import { loadDeployment } from './context.js';
import type { CommandResult } from './result.js';

/** One host check: what was looked at, what was found, and what to run when it is not fine. */
export interface Check {
  readonly name: string;
  readonly status: 'ok' | 'warn' | 'fail';
  readonly detail: string;
  readonly fix?: string;
  /** What `doctor --fix` can do about a failure: prepare the host, or build a missing local image. */
  readonly repair?: 'host' | { readonly image: string; readonly suite?: string };
}

const MIN_INCUS = [6, 0];

/**
 * `distctl doctor`: is this host ready for `distctl up` of this topology?
 * Checks the incus binary and version, the daemon, storage, the subnet against
 * host routes and other networks, and the image. Every failure says what to run.
 */
export async function doctorCommand(options: {
  file: string;
  fix: boolean;
  client: IncusClient;
  runner: Runner;
  ui: Ui;
  /** Builds a missing `{ build: ... }` image with --fix; default: debootstrap through `runner`. */
  buildImage?: ImageBuilder;
}): Promise<CommandResult> {
  let checks = await runChecks(options);
  const repaired: string[] = [];
  const hostChanges: HostChange[] = [];
  if (options.fix && checks.some((check) => check.status === 'fail' && check.repair)) {
    if (checks.some((check) => check.status === 'fail' && check.repair === 'host')) {
      options.ui.step({ event: 'start', message: 'preparing the host: bin/ensure-incus.sh (Incus, daemon, storage)' });
      const changes = await prepareHost(options.runner);
      hostChanges.push(...changes);
      const changed = changes.length === 0 ? 'nothing changed' : plural(changes.length, 'change');
      repaired.push(`host prepared with bin/ensure-incus.sh (${changed})`);
      checks = await runChecks(options);
    }
    for (const check of checks) {
      if (check.status !== 'fail' || typeof check.repair !== 'object') continue;
      const { image, suite } = check.repair;
      const onProgress = (step: string) => options.ui.step({ event: 'start', message: `image ${image}: ${step}` });
      const build = options.buildImage ?? ((request) => buildImage({ ...request, runner: options.runner }));
      const result = await build({ alias: image, onProgress, ...(suite ? { suite } : {}) });
      repaired.push(`image ${result.alias} built (${result.seconds.toFixed(0)} s)`);
    }
    checks = await runChecks(options);
  }

  const failed = checks.filter((check) => check.status === 'fail').length;
  const { color } = options.ui;
  const mark = { ok: color.green('✔'), warn: color.yellow('!'), fail: color.red('✖') };
  const lines = [
    ...repaired.map((line) => `${color.cyan('fixed:')} ${line}`),
    ...hostChanges.map((change) => `${color.yellow('host change:')} ${change.change}\n    undo: ${change.undo}`),
    ...checks.map(
      (check) => `${mark[check.status]} ${check.name}: ${check.detail}${check.fix ? `\n    fix: ${check.fix}` : ''}`,
    ),
  ];
  const fixable = checks.some((check) => check.status === 'fail' && check.repair);
  lines.push(
    failed === 0
      ? 'The host is ready.'
      : `${plural(failed, 'check')} failed.` +
          (fixable && !options.fix ? ' `distctl doctor --fix` (as root) repairs the ones marked fixable.' : ''),
  );
  return {
    exitCode: failed === 0 ? 0 : 1,
    human: lines.join('\n'),
    json: { ok: failed === 0, repaired, hostChanges, checks },
  };
}

/** One change bin/ensure-incus.sh made to the host, and how to undo it. */
export interface HostChange {
  readonly change: string;
  readonly undo: string;
}

/** `1 check`, `2 checks`. */
function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** The `[ensure-incus] CHANGE what | undo: how` lines of the script's output. */
export function parseHostChanges(output: string): HostChange[] {
  return output.split('\n').flatMap((line) => {
    const match = /^\[ensure-incus\] CHANGE (.+?) \| undo: (.+)$/.exec(line.trim());
    return match ? [{ change: match[1]!, undo: match[2]! }] : [];
  });
}

/** Runs the host preparation script shipped with distctl (needs root); returns the changes it reports. */
async function prepareHost(runner: Runner): Promise<HostChange[]> {
  const script = fileURLToPath(new URL('../../bin/ensure-incus.sh', import.meta.url));
  const result = await runner.run({ bin: 'bash', args: [script], timeoutMs: 20 * 60_000 });
  if (result.exitCode !== 0) {
    throw new DistctlError(
      'HOST_PREPARATION_FAILED',
      `preparing the host failed (bash ${script}, exit ${result.exitCode})`,
      {
        // What it changed before failing, with how to undo each, then why it failed.
        details: [
          ...parseHostChanges(result.stdout).map((change) => `changed: ${change.change} (undo: ${change.undo})`),
          ...`${result.stdout}\n${result.stderr}`.trim().split('\n').slice(-12),
        ],
        hint: "It needs root and the host's Debian archive; run the script by hand to see every step.",
      },
    );
  }
  return parseHostChanges(result.stdout);
}

async function runChecks(options: { file: string; client: IncusClient; runner: Runner }): Promise<Check[]> {
  const checks: Check[] = [];
  const { client } = options;
  let desired: DesiredState | null = null;
  try {
    desired = (await loadDeployment(options.file)).desired;
    checks.push({ name: 'topology', status: 'ok', detail: `${options.file} is valid` });
  } catch (error) {
    if (!(error instanceof DistctlError)) throw error;
    checks.push({
      name: 'topology',
      status: 'fail',
      detail: error.message,
      fix: `distctl validate -f ${options.file}`,
    });
  }

  let version: { client: string; server: string | null } | null = null;
  try {
    version = await client.version();
    const tooOld = compareVersion(version.client, MIN_INCUS) < 0;
    checks.push({
      name: 'incus binary',
      status: tooOld ? 'fail' : 'ok',
      detail: `incus client ${version.client}`,
      ...(tooOld ? { fix: 'Install Incus ≥ 6.0 (Debian 12: apt-get install -t bookworm-backports incus).' } : {}),
    });
  } catch (error) {
    if (!(error instanceof DistctlError)) throw error;
    // A fresh host lacks the binary first of all: --fix installs it (ensure-incus.sh), as it starts a stopped daemon.
    checks.push({
      name: 'incus binary',
      status: 'fail',
      detail: 'incus is not installed or not on PATH',
      fix: 'sudo distctl doctor --fix (runs bin/ensure-incus.sh: Incus from bookworm-backports, daemon, storage)',
      repair: 'host',
    });
  }

  let daemonOk = false;
  if (version) {
    try {
      await client.run({ args: ['query', '/1.0'], timeoutMs: 15_000 });
      daemonOk = true;
      checks.push({ name: 'incus daemon', status: 'ok', detail: `answering (server ${version.server ?? 'unknown'})` });
    } catch (error) {
      if (!(error instanceof IncusError)) throw error;
      checks.push({
        name: 'incus daemon',
        status: 'fail',
        detail: error.message,
        fix: `${error.hint ?? 'Start the daemon.'} (\`sudo distctl doctor --fix\` starts it)`,
        ...(error.kind === 'daemon-down' ? { repair: 'host' as const } : {}),
      });
    }
  }

  if (desired && desired.replicaSets.length + desired.standalones.length > 0)
    checks.push(await hugepageCheck(desired.mongodb.version, options.runner));

  if (daemonOk) {
    checks.push(...(await storageChecks(client)));
    if (desired) {
      checks.push(await subnetCheck(desired, client, options.runner));
      checks.push(...(await imageChecks(desired, client)));
    }
  }

  return checks;
}

/**
 * Transparent hugepages of the host kernel, which every container's mongod runs on, against the topology's MongoDB
 * version.
 */
async function hugepageCheck(version: string, runner: Runner): Promise<Check> {
  const read = async (path: string): Promise<string | null> => {
    const result = await runner.run({ bin: 'cat', args: [path], timeoutMs: 5_000 });
    return result.exitCode === 0 ? result.stdout : null;
  };
  const [enabled = null, defrag = null, ptes = null] = await Promise.all(HUGEPAGE_FILES.map(read));
  return { name: 'transparent hugepages', ...checkHugepages(version, parseHugepageSettings(enabled, defrag, ptes)) };
}

function compareVersion(version: string, minimum: readonly number[]): number {
  const parts = version.split('.').map((part) => Number.parseInt(part, 10));
  for (let index = 0; index < minimum.length; index++) {
    const difference = (parts[index] ?? 0) - (minimum[index] ?? 0);
    if (difference !== 0) return difference;
  }
  return 0;
}

async function storageChecks(client: IncusClient): Promise<Check[]> {
  const pools = await client.json<{ name: string; driver: string }[]>({
    args: ['storage', 'list', '--format', 'json'],
  });
  if (pools.length === 0) {
    return [
      {
        name: 'storage',
        status: 'fail',
        detail: 'no storage pool',
        fix:
          'sudo distctl doctor --fix, or: incus storage create default btrfs size=30GiB (or dir), then ' +
          'incus profile device add default root disk path=/ pool=default',
        repair: 'host',
      },
    ];
  }
  const profile = await client
    .json<{ devices: Record<string, Record<string, string>> }>({ args: ['query', '/1.0/profiles/default'] })
    .catch(() => null);
  const root = profile
    ? Object.values(profile.devices).find((device) => device.type === 'disk' && device.path === '/')
    : undefined;
  return [
    { name: 'storage', status: 'ok', detail: pools.map((pool) => `${pool.name} (${pool.driver})`).join(', ') },
    root
      ? { name: 'default profile', status: 'ok', detail: `root disk on pool ${root.pool}` }
      : {
          name: 'default profile',
          status: 'fail',
          detail: 'the default profile has no root disk, so containers cannot be created',
          fix: `incus profile device add default root disk path=/ pool=${pools[0]?.name ?? 'default'}`,
          repair: 'host',
        },
  ];
}

/** `ip -j route show`: the fields the subnet check reads. */
const HostRoutes = z.array(z.object({ dst: z.string(), dev: z.string().optional() }));

async function subnetCheck(desired: DesiredState, client: IncusClient, runner: Runner): Promise<Check> {
  const ours = parseSubnet(desired.network.subnet)?.subnet;
  const clashes: string[] = [];
  const routes = await runner
    .run({ bin: 'ip', args: ['-4', '-j', 'route', 'show'], timeoutMs: 10_000 })
    .catch(() => null);
  if (ours && routes && routes.exitCode === 0) {
    for (const route of HostRoutes.safeParse(JSON.parse(routes.stdout)).data ?? []) {
      if (route.dst === 'default' || route.dev === desired.network.name) continue;
      const theirs = parseSubnet(route.dst.includes('/') ? route.dst : `${route.dst}/32`)?.subnet;
      if (theirs && subnetsOverlap(ours, theirs)) clashes.push(`host route ${route.dst} via ${route.dev ?? '?'}`);
    }
  }
  const networks = await client.listNetworks();
  for (const network of networks) {
    const address = network.config['ipv4.address'];
    if (network.name === desired.network.name || !address) continue;
    const theirs = parseSubnet(address)?.subnet;
    if (ours && theirs && subnetsOverlap(ours, theirs)) clashes.push(`Incus network ${network.name} (${address})`);
  }
  const existing = networks.find((network) => network.name === desired.network.name);
  if (existing && existing.config[OWNER_KEY] !== desired.project)
    clashes.push(`a network named ${existing.name} exists and is not this deployment's`);
  return clashes.length === 0
    ? { name: 'subnet', status: 'ok', detail: `${desired.network.subnet} is free` }
    : {
        name: 'subnet',
        status: 'fail',
        detail: `${desired.network.subnet} collides with ${clashes.join('; ')}`,
        fix: 'Choose another network.subnet / network.name in topology.yaml.',
      };
}

async function imageChecks(desired: DesiredState, client: IncusClient): Promise<Check[]> {
  const recipes = new Map(recipeImages(desired.containers).map((image) => [image.alias, image]));
  const images = [...new Set(desired.containers.map((container) => container.image))];
  const local = await client.listImages();
  const aliases = new Set(local.flatMap((image) => (image.aliases ?? []).map((alias) => alias.name)));
  const fingerprints = local.map((image) => image.fingerprint);
  return images.map((image): Check => {
    const recipe = recipes.get(image)?.recipe;
    if (recipe) {
      const source = `${recipe.distro}/${recipe.suite}`;
      return aliases.has(image)
        ? { name: `image ${image}`, status: 'ok', detail: `built by distctl from ${source}, available locally` }
        : {
            name: `image ${image}`,
            status: 'fail',
            detail: `not built yet (image: { build: ${source} }); \`distctl up\` builds it too`,
            fix: 'sudo distctl doctor --fix',
            repair: { image, suite: recipe.suite },
          };
    }
    const remote = /^([^:/]+):(.+)$/.exec(image);
    if (remote) {
      return {
        name: `image ${image}`,
        status: 'warn',
        detail: `comes from the remote "${remote[1]}"; Incus must reach it when containers are created`,
        fix: 'On hosts without an image server, let distctl build the image: image: { build: debian/bookworm }.',
      };
    }
    const found = aliases.has(image) || fingerprints.some((fingerprint) => fingerprint.startsWith(image));
    return found
      ? { name: `image ${image}`, status: 'ok', detail: 'available locally' }
      : {
          name: `image ${image}`,
          status: 'fail',
          detail: 'no local image with this alias',
          fix: `sudo distctl image build --alias ${image} (or distctl doctor --fix)`,
          repair: { image },
        };
  });
}
