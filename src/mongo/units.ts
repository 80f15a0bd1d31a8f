import { createHash } from 'node:crypto';
import { dirname } from 'node:path';
import type { MongodProcess } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import { describeMongoError, type MongoCommandChannel } from './admin.js';
import { execChecked, lastLines, type ContainerOps } from '../incus/container-ops.js';
import { poll, type PollOptions } from './poll.js';
import { renderTemplate } from './render.js';

/** Where the replica-set keyfile lives in every database container (one per container, shared by its members). */
export const KEYFILE_PATH = '/etc/mongodb-keyfile';

/** `/etc/mongod-27017.conf`: one config per mongod, named by port like its unit. */
export function configPathFor(process: Pick<MongodProcess, 'port'>): string {
  return `/etc/mongod-${process.port}.conf`;
}

/** `/etc/systemd/system/mongod-27017.service` */
export function unitPathFor(process: Pick<MongodProcess, 'unitName'>): string {
  return `/etc/systemd/system/${process.unitName}`;
}

/**
 * The YAML config of one mongod: its dbPath, log, port, bind addresses, and
 * access control — keyfile + authorization for replica-set members,
 * authorization for a standalone.
 */
export async function renderMongodConfig(
  process: MongodProcess,
  keyFilePath: string = KEYFILE_PATH,
  cacheSizeGB?: number,
): Promise<string> {
  if (process.bindIp.includes('0.0.0.0') || process.bindIp.includes('::')) {
    throw new DistctlError(
      'MONGOD_BIND_ALL',
      `mongod ${process.container}:${process.port} would bind every address (${process.bindIp.join(',')}).`,
      {
        hint: 'mongod binds only the container IP and 127.0.0.1; this is a bug in the derived model.',
      },
    );
  }
  return renderTemplate('mongod.conf', {
    dbPath: process.dbPath,
    logPath: process.logPath,
    port: process.port,
    bindIp: process.bindIp.join(','),
    replicaSet: process.replicaSet !== null,
    replSetName: process.replicaSet ?? '',
    keyFilePath,
    hasCacheSize: cacheSizeGB !== undefined,
    cacheSizeGB: cacheSizeGB ?? 0,
  });
}

/** MongoDB's floor for the WiredTiger cache, in GB. */
const MIN_CACHE_GB = 0.25;

/**
 * The WiredTiger cache of each of `members` mongods sharing a container of
 * `memoryBytes`. Alone, mongod takes 50 % of (RAM − 1 GB), at least 0.25 GB;
 * several in one container would each take that much and together overcommit
 * the memory, so that share is divided among them. Rounded down to 0.01 GB.
 */
export function cacheSizeGBFor(memoryBytes: number, members: number): number {
  const gb = memoryBytes / 1024 ** 3;
  const share = (0.5 * (gb - 1)) / Math.max(1, members);
  return Math.max(MIN_CACHE_GB, Math.floor(share * 100) / 100);
}

/**
 * Memory available to a container, in bytes: the smaller of its cgroup limit
 * (`memory.max`, "max" when unlimited) and MemTotal (which Incus' lxcfs already
 * narrows to the container's limit) — the figure mongod itself would size from.
 */
export function parseContainerMemory(output: string): number | null {
  const limit = /^(\d+)$/m.exec(output)?.[1];
  const total = /^MemTotal:\s+(\d+) kB$/m.exec(output)?.[1];
  const candidates = [
    limit === undefined ? null : Number(limit),
    total === undefined ? null : Number(total) * 1024,
  ].filter((value): value is number => value !== null && value > 0);
  return candidates.length === 0 ? null : Math.min(...candidates);
}

const MEMORY_PROBE = 'cat /sys/fs/cgroup/memory.max 2>/dev/null; grep "^MemTotal:" /proc/meminfo';

/** The systemd unit of one mongod: long-running in the foreground (no fork, no PID file), restarted on failure. */
export async function renderMongodUnit(process: MongodProcess, mongodBin: string, version: string): Promise<string> {
  return renderTemplate('mongod.service', {
    role: process.replicaSet === null ? 'standalone' : `replica set ${process.replicaSet} member`,
    port: process.port,
    mongodBin,
    configPath: configPathFor(process),
    glibcTunables: Number(version.split('.')[0]) >= 8,
    writablePaths: [...new Set([process.dbPath, dirname(process.logPath)])].join(' '),
  });
}

/** Data and log directories belong to mongodb, mode 0750 ... */
const DIRECTORY_MODE = '0750';

/** ... which `stat -c %U:%G:%a` shows as this. */
export const DIRECTORY_STAT = 'mongodb:mongodb:750';

/** The directories the mongods of a container need (data and log), in a stable order. */
export function databaseDirectories(processes: readonly MongodProcess[]): string[] {
  return [...new Set(processes.flatMap((process) => [process.dbPath, dirname(process.logPath)]))];
}

/** Inputs of ensureMongodUnits beyond the container and its processes. */
export interface MongodUnitOptions {
  readonly mongodBin: string;
  /** mongodb.version of the topology: 8.0 and later get the GLIBC_TUNABLES MongoDB asks for. */
  readonly version: string;
  /** mongodb.cacheSizeGB of the topology; without it each member's cache is its share of the container's memory. */
  readonly cacheSizeGB?: number;
  /** Keyfile content; required when any process is a replica-set member. */
  readonly keyFile: string | null;
  /** False writes files only (before mongod is installed); default true also enables and starts the units. */
  readonly start?: boolean;
  /** Units to restart even if this call changed none of their files (their files changed in a `start: false` call). */
  readonly restart?: readonly string[];
  readonly onProgress?: (message: string) => void;
}

/** What ensureMongodUnits changed in a container; both empty on a converged container. */
export interface MongodUnitChanges {
  readonly filesWritten: readonly string[];
  /** `container:unit` restarted to apply changed files (filled in by the caller that restarts them). */
  readonly unitsRestarted: readonly string[];
  /** Units whose files changed while they run (or, with `start: false`, at all): they still need a restart. */
  readonly pendingRestart: readonly string[];
}

const USER_SETUP =
  'getent group mongodb >/dev/null || groupadd --system mongodb; ' +
  'getent passwd mongodb >/dev/null || useradd --system --gid mongodb --home-dir /var/lib/mongodb ' +
  '--no-create-home --shell /usr/sbin/nologin mongodb; ' +
  'id -u mongodb; id -g mongodb';

/**
 * Converges the mongod processes of one container: the mongodb user, data and
 * log directories, keyfile (0400, owned by mongodb), config and unit files;
 * writes only files whose content differs, enables and starts every unit, and
 * returns the running units whose files changed: restarting them is left to
 * restartMembers, so a replica set never loses its majority. A second run
 * changes nothing.
 */
export async function ensureMongodUnits(
  ops: ContainerOps,
  container: string,
  processes: readonly MongodProcess[],
  options: MongodUnitOptions,
): Promise<MongodUnitChanges> {
  options.onProgress?.(`${container}: mongodb user, directories, configs and units`);
  const ids = await execChecked(ops, container, ['sh', '-c', USER_SETUP], 'Creating the mongodb user');
  const [uid, gid] = ids.stdout.trim().split('\n').map(Number);
  if (uid === undefined || gid === undefined || Number.isNaN(uid) || Number.isNaN(gid)) {
    throw new DistctlError(
      'MONGODB_USER_UNKNOWN',
      `Could not determine the uid/gid of user mongodb in container ${container}.`,
      { details: lastLines(ids) },
    );
  }
  const directories = databaseDirectories(processes);
  await execChecked(
    ops,
    container,
    ['install', '-d', '-o', 'mongodb', '-g', 'mongodb', '-m', DIRECTORY_MODE, ...directories],
    'Creating data and log directories',
  );

  const cacheSizeGB = options.cacheSizeGB ?? (await containerCacheSizeGB(ops, container, processes.length));
  const wanted = await mongodFiles(processes, options.keyFile, {
    mongodBin: options.mongodBin,
    version: options.version,
    cacheSizeGB,
  });
  const changed = await changedMongodFiles(ops, container, wanted);
  for (const file of changed) {
    await ops.writeFile(
      container,
      file.path,
      file.content,
      file.owner === 'mongodb' ? { mode: file.mode, uid, gid } : { mode: file.mode, uid: 0, gid: 0 },
    );
  }
  if (changed.some((file) => file.path.endsWith('.service')))
    await execChecked(ops, container, ['systemctl', 'daemon-reload'], 'Reloading systemd');

  const restart = new Set([
    ...(options.restart ?? []),
    ...changed.flatMap((file) => file.processes.map((process) => process.unitName)),
  ]);
  const filesWritten = changed.map((file) => `${container}:${file.path}`);
  if (options.start === false) return { filesWritten, unitsRestarted: [], pendingRestart: [...restart] };
  const pendingRestart: string[] = [];
  for (const process of processes) {
    await execChecked(ops, container, ['systemctl', 'enable', process.unitName], `Enabling ${process.unitName}`);
    // A running mongod whose files changed is left for restartMembers, which restarts a set's members one at a time.
    if (
      restart.has(process.unitName) &&
      (await ops.exec(container, ['systemctl', 'is-active', '--quiet', process.unitName])).exitCode === 0
    ) {
      pendingRestart.push(process.unitName);
      continue;
    }
    // start picks up the new files of a stopped unit, and is a no-op for one already running.
    const started = await ops.exec(container, ['systemctl', 'start', process.unitName]);
    if (started.exitCode !== 0)
      throw await mongodStartError(ops, process, `\`systemctl start ${process.unitName}\` failed`);
  }
  return { filesWritten, unitsRestarted: [], pendingRestart };
}

/** `systemctl restart` of one mongod; a unit that does not come back explains itself with its log. */
export async function restartMongod(ops: ContainerOps, process: MongodProcess): Promise<void> {
  const restarted = await ops.exec(process.container, ['systemctl', 'restart', process.unitName]);
  if (restarted.exitCode !== 0)
    throw await mongodStartError(ops, process, `\`systemctl restart ${process.unitName}\` failed`);
}

/**
 * Each member's share of the container's memory as WiredTiger cache; explains itself when the memory cannot be read.
 */
export async function containerCacheSizeGB(ops: ContainerOps, container: string, members: number): Promise<number> {
  const probe = await ops.exec(container, ['sh', '-c', MEMORY_PROBE]);
  const memory = parseContainerMemory(probe.stdout);
  if (memory === null) {
    throw new DistctlError(
      'CONTAINER_MEMORY_UNKNOWN',
      `Could not read the memory available to container ${container}, which sizes the WiredTiger cache of its ` +
        `${members} mongod.`,
      {
        hint: 'Set mongodb.cacheSizeGB in topology.yaml to give each mongod a fixed cache (at least 0.25).',
        details: lastLines(probe),
      },
    );
  }
  return cacheSizeGBFor(memory, members);
}

/** A file a container's mongods need: what it holds, its mode and owner, and the mongods that read it. */
export interface MongodFile {
  readonly path: string;
  readonly content: string;
  readonly mode: number;
  readonly owner: 'mongodb' | 'root';
  readonly processes: readonly MongodProcess[];
}

/** The keyfile (when a member is among `processes`), then each mongod's config and unit. */
export async function mongodFiles(
  processes: readonly MongodProcess[],
  keyFile: string | null,
  render: { readonly mongodBin: string; readonly version: string; readonly cacheSizeGB: number },
): Promise<MongodFile[]> {
  const needsKeyFile = processes.some((process) => process.replicaSet !== null);
  if (needsKeyFile && keyFile === null) throw new Error('mongodFiles: replica-set members need a keyfile');
  const wanted: MongodFile[] = [];
  if (needsKeyFile && keyFile !== null) {
    const members = processes.filter((process) => process.replicaSet !== null);
    wanted.push({ path: KEYFILE_PATH, content: keyFile, mode: 0o400, owner: 'mongodb', processes: members });
  }
  for (const process of processes) {
    const config = await renderMongodConfig(process, KEYFILE_PATH, render.cacheSizeGB);
    const unit = await renderMongodUnit(process, render.mongodBin, render.version);
    wanted.push({ path: configPathFor(process), content: config, mode: 0o644, owner: 'root', processes: [process] });
    wanted.push({ path: unitPathFor(process), content: unit, mode: 0o644, owner: 'root', processes: [process] });
  }
  return wanted;
}

/** The files whose content in the container differs from `wanted` (one read-only exec; `plan` uses it too). */
export async function changedMongodFiles<T extends Pick<MongodFile, 'path' | 'content'>>(
  ops: ContainerOps,
  container: string,
  wanted: readonly T[],
): Promise<T[]> {
  // Compare by digest so the keyfile's content never travels back out of the container.
  const digests = await ops.exec(container, ['sha256sum', ...wanted.map((file) => file.path)]);
  return filesDiffering(wanted, parseDigests(digests.stdout));
}

/** `sha256sum` output as path → digest (lines that are not a digest, e.g. errors, are skipped). */
export function parseDigests(stdout: string): Map<string, string> {
  return new Map(
    stdout
      .split('\n')
      .map((line) => /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => [match[2] ?? '', match[1] ?? '']),
  );
}

/** The files of `wanted` whose digest in `present` (path → sha256) is missing or different. */
export function filesDiffering<T extends Pick<MongodFile, 'path' | 'content'>>(
  wanted: readonly T[],
  present: ReadonlyMap<string, string>,
): T[] {
  return wanted.filter((file) => present.get(file.path) !== createHash('sha256').update(file.content).digest('hex'));
}

/**
 * Waits until mongod answers `hello` on its network address; when it does not
 * in time, the error quotes the last lines of its log and journal.
 */
export async function waitForMongod(
  ops: ContainerOps,
  channel: MongoCommandChannel,
  process: MongodProcess & { readonly host: string },
  options: PollOptions,
): Promise<void> {
  let lastError = 'no answer yet';
  const answered = await poll(async () => {
    try {
      await channel.command(process, 'admin', { hello: 1 });
      return true;
    } catch (error) {
      lastError = describeMongoError(error);
      return undefined;
    }
  }, options);
  if (answered === undefined)
    throw await mongodStartError(
      ops,
      process,
      `it did not answer on ${process.host} within ${Math.round(options.timeoutMs / 1000)}s (${lastError})`,
    );
}

/** Error for a mongod that failed to start: names container and port, quotes its log and journal. */
async function mongodStartError(ops: ContainerOps, process: MongodProcess, why: string): Promise<DistctlError> {
  const log = await ops.exec(process.container, ['tail', '-n', '20', process.logPath]);
  const journal = await ops.exec(process.container, [
    'journalctl',
    '-u',
    process.unitName,
    '-n',
    '20',
    '--no-pager',
    '--output',
    'cat',
  ]);
  return new DistctlError(
    'MONGOD_START_FAILED',
    `mongod on port ${process.port} in container ${process.container} did not start: ${why}.`,
    {
      hint:
        `Read the full log with \`distctl logs ${process.container} ${process.unitName}\` or in ` +
        `${process.logPath}; fix the cause and rerun \`distctl up\`.`,
      details: [
        `--- ${process.logPath} (last lines)`,
        ...lastLines(log, 20),
        `--- journal of ${process.unitName}`,
        ...lastLines(journal, 20),
      ],
    },
  );
}
