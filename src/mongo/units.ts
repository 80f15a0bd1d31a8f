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
export async function renderMongodConfig(process: MongodProcess, keyFilePath: string = KEYFILE_PATH): Promise<string> {
  if (process.bindIp.includes('0.0.0.0') || process.bindIp.includes('::')) {
    throw new DistctlError('MONGOD_BIND_ALL', `mongod ${process.container}:${process.port} would bind every address (${process.bindIp.join(',')}).`, {
      hint: 'mongod binds only the container IP and 127.0.0.1; this is a bug in the derived model.',
    });
  }
  return renderTemplate('mongod.conf', {
    dbPath: process.dbPath,
    logPath: process.logPath,
    port: process.port,
    bindIp: process.bindIp.join(','),
    replicaSet: process.replicaSet !== null,
    replSetName: process.replicaSet ?? '',
    keyFilePath,
  });
}

/** The systemd unit of one mongod: long-running in the foreground (no fork, no PID file), restarted on failure. */
export async function renderMongodUnit(process: MongodProcess, mongodBin: string): Promise<string> {
  return renderTemplate('mongod.service', {
    role: process.replicaSet === null ? 'standalone' : `replica set ${process.replicaSet} member`,
    port: process.port,
    mongodBin,
    configPath: configPathFor(process),
  });
}

/** Inputs of ensureMongodUnits beyond the container and its processes. */
export interface MongodUnitOptions {
  readonly mongodBin: string;
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
  readonly unitsRestarted: readonly string[];
  /** With `start: false`: units whose files changed and still need a restart. */
  readonly pendingRestart: readonly string[];
}

const USER_SETUP =
  'getent group mongodb >/dev/null || groupadd --system mongodb; ' +
  'getent passwd mongodb >/dev/null || useradd --system --gid mongodb --home-dir /var/lib/mongodb --no-create-home --shell /usr/sbin/nologin mongodb; ' +
  'id -u mongodb; id -g mongodb';

/**
 * Converges the mongod processes of one container: the mongodb user, data and
 * log directories, keyfile (0400, owned by mongodb), config and unit files;
 * writes only files whose content differs, restarts only units whose files
 * changed, and starts/enables the rest. A second run changes nothing.
 */
export async function ensureMongodUnits(ops: ContainerOps, container: string, processes: readonly MongodProcess[], options: MongodUnitOptions): Promise<MongodUnitChanges> {
  options.onProgress?.(`${container}: mongodb user, directories, configs and units`);
  const ids = await execChecked(ops, container, ['sh', '-c', USER_SETUP], 'Creating the mongodb user');
  const [uid, gid] = ids.stdout.trim().split('\n').map(Number);
  if (uid === undefined || gid === undefined || Number.isNaN(uid) || Number.isNaN(gid)) {
    throw new DistctlError('MONGODB_USER_UNKNOWN', `Could not determine the uid/gid of user mongodb in container ${container}.`, { details: lastLines(ids) });
  }
  const directories = [...new Set(processes.flatMap((process) => [process.dbPath, dirname(process.logPath)]))];
  await execChecked(ops, container, ['install', '-d', '-o', 'mongodb', '-g', 'mongodb', '-m', '0750', ...directories], 'Creating data and log directories');

  const wanted = await mongodFiles(processes, options.keyFile, options.mongodBin);
  const changed = await changedMongodFiles(ops, container, wanted);
  for (const file of changed) {
    await ops.writeFile(container, file.path, file.content, file.owner === 'mongodb' ? { mode: file.mode, uid, gid } : { mode: file.mode, uid: 0, gid: 0 });
  }
  if (changed.some((file) => file.path.endsWith('.service'))) await execChecked(ops, container, ['systemctl', 'daemon-reload'], 'Reloading systemd');

  const restart = new Set([...(options.restart ?? []), ...changed.flatMap((file) => file.processes.map((process) => process.unitName))]);
  const filesWritten = changed.map((file) => `${container}:${file.path}`);
  if (options.start === false) return { filesWritten, unitsRestarted: [], pendingRestart: [...restart] };
  for (const process of processes) {
    await execChecked(ops, container, ['systemctl', 'enable', process.unitName], `Enabling ${process.unitName}`);
    // restart applies changed files; start is a no-op for a unit already running.
    const verb = restart.has(process.unitName) ? 'restart' : 'start';
    const started = await ops.exec(container, ['systemctl', verb, process.unitName]);
    if (started.exitCode !== 0) throw await mongodStartError(ops, process, `\`systemctl ${verb} ${process.unitName}\` failed`);
  }
  return { filesWritten, unitsRestarted: [...restart].map((unit) => `${container}:${unit}`), pendingRestart: [] };
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
  mongodBin: string,
): Promise<MongodFile[]> {
  const needsKeyFile = processes.some((process) => process.replicaSet !== null);
  if (needsKeyFile && keyFile === null) throw new Error('mongodFiles: replica-set members need a keyfile');
  const wanted: MongodFile[] = [];
  if (needsKeyFile && keyFile !== null) {
    const members = processes.filter((process) => process.replicaSet !== null);
    wanted.push({ path: KEYFILE_PATH, content: keyFile, mode: 0o400, owner: 'mongodb', processes: members });
  }
  for (const process of processes) {
    const config = await renderMongodConfig(process);
    const unit = await renderMongodUnit(process, mongodBin);
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
  const present = new Map(
    digests.stdout
      .split('\n')
      .map((line) => /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line))
      .filter((match): match is RegExpExecArray => match !== null)
      .map((match) => [match[2] ?? '', match[1] ?? '']),
  );
  return wanted.filter((file) => present.get(file.path) !== createHash('sha256').update(file.content).digest('hex'));
}

/**
 * Waits until mongod answers `hello` on its network address; when it does not
 * in time, the error quotes the last lines of its log and journal.
 */
export async function waitForMongod(ops: ContainerOps, channel: MongoCommandChannel, process: MongodProcess & { readonly host: string }, options: PollOptions): Promise<void> {
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
  if (answered === undefined) throw await mongodStartError(ops, process, `it did not answer on ${process.host} within ${Math.round(options.timeoutMs / 1000)}s (${lastError})`);
}

/** Error for a mongod that failed to start: names container and port, quotes its log and journal. */
async function mongodStartError(ops: ContainerOps, process: MongodProcess, why: string): Promise<DistctlError> {
  const log = await ops.exec(process.container, ['tail', '-n', '20', process.logPath]);
  const journal = await ops.exec(process.container, ['journalctl', '-u', process.unitName, '-n', '20', '--no-pager', '--output', 'cat']);
  return new DistctlError('MONGOD_START_FAILED', `mongod on port ${process.port} in container ${process.container} did not start: ${why}.`, {
    hint: `Read the full log with \`distctl logs ${process.container} ${process.unitName}\` or in ${process.logPath}; fix the cause and rerun \`distctl up\`.`,
    details: [`--- ${process.logPath} (last lines)`, ...lastLines(log, 20), `--- journal of ${process.unitName}`, ...lastLines(journal, 20)],
  });
}
