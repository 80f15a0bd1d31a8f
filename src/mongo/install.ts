import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { DerivedMongoSource, DesiredState } from '../derive/types.js';
import { DistctlError, formatCommand } from '../errors/index.js';
import { lastLines, type ContainerOps } from '../incus/container-ops.js';

/** One step of a MongoDB installation, as data: tests assert the sequence, one executor runs it. */
export type InstallStep =
  | {
      readonly kind: 'exec';
      readonly title: string;
      readonly argv: readonly string[];
      readonly timeoutMs?: number;
      /** The step prints `gpg --with-colons` output that must list this primary key fingerprint. */
      readonly expectFingerprint?: string;
    }
  | {
      readonly kind: 'write';
      readonly title: string;
      readonly path: string;
      readonly content: string;
      readonly mode: number;
    }
  | {
      readonly kind: 'push';
      readonly title: string;
      readonly hostPath: string;
      readonly path: string;
      readonly mode: number;
    };

/** What /etc/os-release says about a container's distribution. */
export interface OsRelease {
  readonly id: string;
  readonly versionCodename: string;
}

/**
 * Primary-key fingerprints of MongoDB's release signing keys
 * (`https://www.mongodb.org/static/pgp/server-X.Y.asc`, "MongoDB X.Y Release
 * Signing Key <packaging@mongodb.com>"). The downloaded key must match before
 * apt is told to trust it.
 */
export const MONGODB_SIGNING_KEYS: Readonly<Record<string, string>> = {
  '6.0': '39BD841E4BE5FB195A65400E6A26B1AE64C3C388',
  '7.0': 'E58830201F7DD82CD808AA84160D26BB1785BA38',
  '8.0': '4B0752C1BCA238C0B4EE14DC41DE058A4E7DCA05',
};

/** Distributions MongoDB's apt repository is used for, with the repository's component. */
const APT_REPOSITORIES: Readonly<
  Record<string, { readonly base: string; readonly component: string; readonly arch: string }>
> = {
  'ubuntu/jammy': { base: 'https://repo.mongodb.org/apt/ubuntu', component: 'multiverse', arch: 'arch=amd64,arm64 ' },
  'debian/bookworm': { base: 'https://repo.mongodb.org/apt/debian', component: 'main', arch: '' },
};

/** Where MongoDB publishes its release signing keys. */
const SIGNING_KEY_BASE = 'https://www.mongodb.org/static/pgp';

const ARCHIVE_IN_CONTAINER = '/tmp/distctl-mongodb-server.tgz';
const APT_TIMEOUT_MS = 15 * 60_000;
const APT = ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get'] as const;

/** `7.0.14` → `7.0`. */
export function majorMinor(version: string): string {
  return version.split('.').slice(0, 2).join('.');
}

/** Parses /etc/os-release (shell-style KEY=value lines, values optionally quoted). */
export function parseOsRelease(text: string): OsRelease {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] !== undefined && match[2] !== undefined)
      values.set(match[1], match[2].replace(/^(["'])(.*)\1$/, '$2'));
  }
  return {
    id: values.get('ID') ?? '',
    versionCodename: values.get('VERSION_CODENAME') ?? values.get('UBUNTU_CODENAME') ?? '',
  };
}

/** Extracts `7.0.14` from `mongod --version` output (`db version v7.0.14`), or null. */
export function parseMongodVersion(output: string): string | null {
  return /db version v(\d+\.\d+\.\d+)/.exec(output)?.[1] ?? null;
}

/** Whether an installed version satisfies the topology's: major.minor must match. */
export function versionSatisfies(installed: string, wanted: string): boolean {
  return majorMinor(installed) === majorMinor(wanted);
}

/** Steps that install mongod from MongoDB's apt repository for `os`, key fingerprint checked. */
export function planRepositoryInstall(os: OsRelease, version: string): InstallStep[] {
  const series = majorMinor(version);
  const repository = APT_REPOSITORIES[`${os.id}/${os.versionCodename}`];
  if (repository === undefined) {
    throw new DistctlError(
      'MONGO_DISTRIBUTION_UNSUPPORTED',
      "MongoDB's apt repository is used for Ubuntu jammy and Debian bookworm; this container runs " +
        `${os.id || 'an unknown distribution'} ${os.versionCodename}.`,
      {
        hint:
          'Use an image based on ubuntu/22.04 or debian/12, or supply MongoDB yourself with ' +
          '`mongodb.source: { archive: ./mongodb-linux-x86_64-....tgz }` or `mongodb.source: image`.',
      },
    );
  }
  const fingerprint = MONGODB_SIGNING_KEYS[series];
  if (fingerprint === undefined) {
    throw new DistctlError(
      'MONGO_SIGNING_KEY_UNKNOWN',
      `distctl does not know the fingerprint of MongoDB ${series}'s signing key, so it will not trust that repository.`,
      {
        hint:
          `Use mongodb.version ${Object.keys(MONGODB_SIGNING_KEYS).join(', ')}, or supply MongoDB ${series} with ` +
          '`mongodb.source: { archive: ... }` or `mongodb.source: image`.',
      },
    );
  }
  const downloadedKey = `/tmp/distctl-mongodb-server-${series}.asc`;
  const keyring = `/usr/share/keyrings/mongodb-server-${series}.gpg`;
  const sourceLine =
    `deb [ ${repository.arch}signed-by=${keyring} ] ${repository.base} ` +
    `${os.versionCodename}/mongodb-org/${series} ${repository.component}\n`;
  // A full version pins the package; "7.0" takes the newest 7.0.x the series repository has.
  const serverPackage = version.split('.').length === 3 ? `mongodb-org-server=${version}` : 'mongodb-org-server';
  return [
    { kind: 'exec', title: 'refresh the package index', argv: [...APT, 'update'], timeoutMs: APT_TIMEOUT_MS },
    {
      kind: 'exec',
      title: 'install curl, gnupg and CA certificates',
      argv: [...APT, 'install', '-y', '--no-install-recommends', 'ca-certificates', 'curl', 'gnupg'],
      timeoutMs: APT_TIMEOUT_MS,
    },
    {
      kind: 'exec',
      title: `download MongoDB ${series}'s signing key`,
      argv: [
        'curl',
        '-fsSL',
        '--proto',
        '=https',
        '--retry',
        '2',
        '-o',
        downloadedKey,
        `${SIGNING_KEY_BASE}/server-${series}.asc`,
      ],
      timeoutMs: 120_000,
    },
    {
      kind: 'exec',
      title: `check the signing key's fingerprint`,
      argv: ['gpg', '--show-keys', '--with-colons', downloadedKey],
      expectFingerprint: fingerprint,
    },
    {
      kind: 'exec',
      title: 'install the signing key as an apt keyring',
      argv: ['gpg', '--batch', '--yes', '--dearmor', '-o', keyring, downloadedKey],
    },
    { kind: 'exec', title: 'remove the downloaded key', argv: ['rm', '-f', downloadedKey] },
    {
      kind: 'write',
      title: `add MongoDB ${series}'s apt repository`,
      path: `/etc/apt/sources.list.d/mongodb-org-${series}.list`,
      content: sourceLine,
      mode: 0o644,
    },
    {
      kind: 'exec',
      title: 'refresh the package index with MongoDB',
      argv: [...APT, 'update'],
      timeoutMs: APT_TIMEOUT_MS,
    },
    {
      kind: 'exec',
      title: `install ${serverPackage}`,
      argv: [...APT, 'install', '-y', '--no-install-recommends', serverPackage],
      timeoutMs: APT_TIMEOUT_MS,
    },
    // The package ships its own mongod.service on 27017; distctl runs one unit per member instead.
    {
      kind: 'exec',
      title: "stop the package's own mongod.service",
      argv: ['sh', '-c', 'systemctl disable --now mongod.service >/dev/null 2>&1 || true'],
    },
  ];
}

/**
 * What the server tarball needs besides itself: mongod links libcurl, libcrypto
 * (openssl) and liblzma, and refuses to start without the zone database its
 * config names (`processManagement.timeZoneInfo: /usr/share/zoneinfo`).
 */
export const ARCHIVE_RUNTIME_PACKAGES: readonly string[] = ['libcurl4', 'openssl', 'liblzma5', 'tzdata'];

/**
 * Steps that install mongod's runtime packages, then unpack mongod from a server .tgz on the host into
 * /usr/local/bin.
 */
export function planArchiveInstall(hostPath: string): InstallStep[] {
  return [
    // From the distribution's own archive (which the image's apt sources point at), before anything is pushed.
    { kind: 'exec', title: 'refresh the package index', argv: [...APT, 'update'], timeoutMs: APT_TIMEOUT_MS },
    {
      kind: 'exec',
      title: `install mongod's runtime libraries (${ARCHIVE_RUNTIME_PACKAGES.join(', ')})`,
      argv: [...APT, 'install', '-y', '--no-install-recommends', ...ARCHIVE_RUNTIME_PACKAGES],
      timeoutMs: APT_TIMEOUT_MS,
    },
    {
      kind: 'push',
      title: 'copy the MongoDB archive into the container',
      hostPath,
      path: ARCHIVE_IN_CONTAINER,
      mode: 0o600,
    },
    {
      kind: 'exec',
      title: 'unpack mongod into /usr/local/bin',
      argv: [
        'tar',
        '-xzf',
        ARCHIVE_IN_CONTAINER,
        '-C',
        '/usr/local/bin',
        '--strip-components=2',
        '--no-same-owner',
        '--wildcards',
        '*/bin/mongod',
      ],
      timeoutMs: 300_000,
    },
    { kind: 'exec', title: 'make mongod executable', argv: ['chmod', '0755', '/usr/local/bin/mongod'] },
    { kind: 'exec', title: 'remove the copied archive', argv: ['rm', '-f', ARCHIVE_IN_CONTAINER] },
  ];
}

/** Where MongoDB must come from when the container cannot fetch it itself. */
const SOURCE_HINT =
  "If the container cannot reach MongoDB's repository, supply the server yourself: download " +
  'mongodb-linux-x86_64-<distro>-<version>.tgz on a machine with access and set ' +
  '`mongodb.source: { archive: ./mongodb-linux-x86_64-ubuntu2204-7.0.14.tgz }`, or use an image that already has ' +
  'mongod and set `mongodb.source: image`.';

/** Where a server of another version would have to come from, by source: said in the version-mismatch hint. */
const SERVER_WHERE: Record<DerivedMongoSource['kind'], string> = {
  repository: '',
  archive: ' archive',
  image: ' in the image',
};

/** Result of ensuring mongod in one container. */
export interface MongoInstallResult {
  readonly container: string;
  /** Absolute path of the mongod the units run. */
  readonly mongodBin: string;
  /** Version reported by `mongod --version`, e.g. `7.0.14`. */
  readonly version: string;
  /** False when the right version was already there and nothing ran. */
  readonly changed: boolean;
}

/** Where a source puts mongod; the units are rendered with it before the install runs. */
export function expectedMongodBin(source: DerivedMongoSource): string {
  return source.kind === 'archive' ? '/usr/local/bin/mongod' : '/usr/bin/mongod';
}

/** Options for installMongo. */
export interface InstallOptions {
  /** Directory relative archive paths are resolved against (the topology file's directory). */
  readonly topologyDir: string;
  readonly onProgress?: (message: string) => void;
  /** What a probe of this container already found (the databases stage's check): saves probing again. */
  readonly probed?: MongodProbe;
}

/**
 * Makes sure `container` has a mongod of the topology's version (major.minor),
 * installing it from the topology's source if needed, and returns its path.
 * Idempotent: when the right mongod is already installed nothing runs.
 */
export async function installMongo(
  ops: ContainerOps,
  container: string,
  mongodb: DesiredState['mongodb'],
  options: InstallOptions,
): Promise<MongoInstallResult> {
  const before = options.probed ?? (await probeMongod(ops, container));
  if (before.version !== null && versionSatisfies(before.version, mongodb.version)) {
    return { container, mongodBin: before.path, version: before.version, changed: false };
  }
  if (mongodb.source.kind === 'image' && before.version === null) {
    throw new DistctlError(
      'MONGOD_NOT_IN_IMAGE',
      `Container ${container} has no mongod, but topology.yaml says MongoDB comes with the image ` +
        '(mongodb.source: image).',
      {
        hint:
          `Use an image with mongod ${mongodb.version} installed, or set \`mongodb.source: repository\` or ` +
          '`mongodb.source: { archive: ./mongodb-linux-x86_64-....tgz }`.',
        details: before.output,
      },
    );
  }
  if (mongodb.source.kind !== 'image') {
    const steps = await planInstall(ops, container, mongodb.source, mongodb.version, options.topologyDir);
    await runInstallSteps(ops, container, steps, options.onProgress);
  }
  const after = await probeMongod(ops, container);
  if (after.version === null) {
    const missingLibraries = after.output.some((line) => line.includes('error while loading shared libraries'));
    throw new DistctlError(
      'MONGOD_NOT_RUNNABLE',
      `mongod in container ${container} does not run: \`mongod --version\` failed.`,
      {
        hint: missingLibraries
          ? 'The server archive needs shared libraries the image lacks (e.g. libcurl4, libssl3): install them in ' +
            'the image or use `mongodb.source: repository`.'
          : SOURCE_HINT,
        details: after.output,
      },
    );
  }
  if (!versionSatisfies(after.version, mongodb.version)) {
    throw new DistctlError(
      'MONGO_VERSION_MISMATCH',
      `Container ${container} has mongod ${after.version} (${after.path}), but topology.yaml asks for ` +
        `MongoDB ${mongodb.version}.`,
      {
        hint:
          `Make mongodb.version match (e.g. "${majorMinor(after.version)}"), or supply a ` +
          `${majorMinor(mongodb.version)} server${SERVER_WHERE[mongodb.source.kind]}.`,
      },
    );
  }
  return { container, mongodBin: after.path, version: after.version, changed: true };
}

/** The ordered steps for `source` in this container (reads /etc/os-release for the repository source). */
export async function planInstall(
  ops: ContainerOps,
  container: string,
  source: Exclude<DerivedMongoSource, { kind: 'image' }>,
  version: string,
  topologyDir: string,
): Promise<InstallStep[]> {
  if (source.kind === 'archive') {
    const hostPath = resolve(topologyDir, source.path);
    const info = await stat(hostPath).catch(() => null);
    if (info === null || !info.isFile()) {
      throw new DistctlError(
        'MONGO_ARCHIVE_NOT_FOUND',
        `MongoDB archive ${hostPath} (mongodb.source.archive) does not exist on this host.`,
        {
          hint:
            "Download the MongoDB server .tgz for the containers' distribution and point mongodb.source.archive at " +
            'it (relative to topology.yaml).',
        },
      );
    }
    return planArchiveInstall(hostPath);
  }
  const osRelease = await ops.exec(container, ['cat', '/etc/os-release']);
  if (osRelease.exitCode !== 0) {
    throw new DistctlError('OS_RELEASE_UNREADABLE', `Could not read /etc/os-release in container ${container}.`, {
      hint: SOURCE_HINT,
      details: lastLines(osRelease),
    });
  }
  return planRepositoryInstall(parseOsRelease(osRelease.stdout), version);
}

/**
 * Runs install steps in order; the first failure stops and explains itself (container, step, output, where MongoDB
 * can come from).
 */
export async function runInstallSteps(
  ops: ContainerOps,
  container: string,
  steps: readonly InstallStep[],
  onProgress?: (message: string) => void,
): Promise<void> {
  for (const [index, step] of steps.entries()) {
    onProgress?.(`${container}: ${step.title} (${index + 1}/${steps.length})`);
    const failed = (details: readonly string[], why: string): DistctlError =>
      new DistctlError(
        'MONGO_INSTALL_FAILED',
        `Installing MongoDB in container ${container} failed at step ${index + 1}/${steps.length}, ` +
          `"${step.title}": ${why}.`,
        {
          hint: SOURCE_HINT,
          details,
        },
      );
    if (step.kind === 'write') {
      await ops.writeFile(container, step.path, step.content, { mode: step.mode });
      continue;
    }
    if (step.kind === 'push') {
      await ops.pushFile(container, step.hostPath, step.path, { mode: step.mode });
      continue;
    }
    const result = await ops.exec(container, step.argv, { timeoutMs: step.timeoutMs });
    if (result.exitCode !== 0) {
      throw failed(
        lastLines(result),
        `\`${formatCommand(step.argv)}\` ${result.timedOut ? 'timed out' : `exited ${result.exitCode}`}`,
      );
    }
    // Exactly one key, equal to the pin: a file that also carries another key would make apt trust that one too.
    const keys = step.expectFingerprint === undefined ? [] : fingerprintsOf(result.stdout);
    if (step.expectFingerprint !== undefined && (keys.length !== 1 || keys[0] !== step.expectFingerprint)) {
      const why = keys.includes(step.expectFingerprint)
        ? `the downloaded key file holds ${keys.length} keys; only MongoDB's release signing key may be in it`
        : "the downloaded key is not MongoDB's release signing key";
      throw failed([`expected exactly ${step.expectFingerprint}`, `got ${keys.join(', ') || 'no key'}`], why);
    }
  }
}

/** Primary-key fingerprints from `gpg --with-colons` output (the `fpr` record following each `pub`). */
export function fingerprintsOf(colons: string): string[] {
  const fingerprints: string[] = [];
  let expectPrimary = false;
  for (const line of colons.split('\n')) {
    const fields = line.split(':');
    if (fields[0] === 'pub') expectPrimary = true;
    else if (fields[0] === 'fpr' && expectPrimary) {
      fingerprints.push((fields[9] ?? '').toUpperCase());
      expectPrimary = false;
    }
  }
  return fingerprints;
}

export interface MongodProbe {
  readonly path: string;
  readonly version: string | null;
  readonly output: string[];
}

/** Finds mongod on the container's PATH and asks its version. */
export async function probeMongod(ops: ContainerOps, container: string): Promise<MongodProbe> {
  const result = await ops.exec(container, ['sh', '-c', 'command -v mongod && mongod --version']);
  const path = result.stdout.split('\n')[0]?.trim() ?? '';
  return {
    path,
    version: result.exitCode === 0 ? parseMongodVersion(result.stdout) : null,
    output: lastLines(result, 6),
  };
}

/** The hosts a repository install downloads from: MongoDB's apt repository and its signing keys (HTTPS). */
export const REPOSITORY_HOSTS: readonly string[] = [
  ...new Set(
    [...Object.values(APT_REPOSITORIES).map((repository) => repository.base), SIGNING_KEY_BASE].map(
      (url) => new URL(url).hostname,
    ),
  ),
];

/** How long the reachability check waits for each host's TCP handshake, in seconds. */
export const REACHABILITY_TIMEOUT_SECONDS = 3;

/**
 * Arguments: the timeout in seconds, then the hosts. Tries a TCP connection to
 * port 443 of every host at once (bash's /dev/tcp: the image needs no curl yet)
 * and prints `ok HOST` or `unreachable HOST`; `unknown` when there is no bash
 * to try with.
 */
export const REACHABILITY_SCRIPT = [
  'command -v bash >/dev/null 2>&1 || { echo unknown; exit 0; }',
  'limit=$1; shift',
  'for host in "$@"; do',
  '  if timeout "$limit" bash -c \'exec 3<>"/dev/tcp/$0/443"\' "$host" 2>/dev/null; then echo "ok $host";',
  '  else echo "unreachable $host"; fi &',
  'done',
  'wait',
].join('\n');

/**
 * Checks from one container, before apt runs anywhere, that MongoDB's
 * repository can be reached: a retry against an unreachable source then costs
 * one exec and at most a few seconds instead of apt's timeouts in every
 * database container. Only a definite "unreachable" stops the install; when
 * the check cannot run, apt gets its chance.
 */
export async function assertRepositoryReachable(ops: ContainerOps, container: string): Promise<void> {
  const result = await ops.exec(
    container,
    ['sh', '-c', REACHABILITY_SCRIPT, 'sh', String(REACHABILITY_TIMEOUT_SECONDS), ...REPOSITORY_HOSTS],
    { timeoutMs: (REACHABILITY_TIMEOUT_SECONDS + 30) * 1000 },
  );
  const unreachable = result.stdout
    .split('\n')
    .flatMap((line) => (line.startsWith('unreachable ') ? [line.slice('unreachable '.length).trim()] : []));
  if (unreachable.length === 0) return;
  throw new DistctlError(
    'MONGO_SOURCE_UNREACHABLE',
    `MongoDB's repository cannot be reached from container ${container}: no connection to ` +
      `${unreachable.map((host) => `${host}:443`).join(', ')} within ${REACHABILITY_TIMEOUT_SECONDS} s; ` +
      'apt was not run in any container.',
    { hint: SOURCE_HINT },
  );
}
