import type { DerivedStandalone, DesiredState, MongodProcess } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import type { SecretStore } from '../secrets/store.js';
import {
  describeMongoError,
  MongoCommandError,
  MongoUnreachableError,
  type Credentials,
  type MongoAdmin,
} from './admin.js';
import type { LocalhostAccess } from './bootstrap.js';
import type { ContainerOps } from '../incus/container-ops.js';
import { checkDatabaseContainer } from './check.js';
import {
  assertRepositoryReachable,
  expectedMongodBin,
  installMongo,
  versionSatisfies,
  type MongoInstallResult,
} from './install.js';
import type { PollOptions } from './poll.js';
import {
  DEFAULT_REPLICA_SET_OPTIONS,
  ensureReplicaSet,
  type ReplicaSetProgress,
  type ReplicaSetResult,
} from './replset.js';
import { onPrimary } from './primary.js';
import { restartMembers } from './rolling.js';
import { inEveryContainer } from './every-container.js';
import {
  cacheSizeGBFor,
  databaseDirectories,
  DIRECTORY_STAT,
  ensureMongodUnits,
  filesDiffering,
  mongodFiles,
  restartMongod,
  waitForMongod,
  type MongodUnitChanges,
} from './units.js';
import {
  adminCredentials,
  deploymentKeyFile,
  ensureAdminUser,
  ensureServiceUsers,
  existingAdminCredentials,
  type AdminUserOutcome,
  type OnWritable,
} from './users.js';

/** What ensureMongoTier needs from the outside world. */
export interface MongoTierDeps {
  readonly ops: ContainerOps;
  /** Host-side driver admin (e.g. `new DriverMongoAdmin()`); the caller closes it. */
  readonly admin: MongoAdmin;
  /** The localhost-exception path for the first steps (e.g. `new IncusProxyAccess(client, project)`). */
  readonly localhost: LocalhostAccess;
  readonly secrets: SecretStore;
  /** Directory of topology.yaml, for a relative `mongodb.source.archive`. */
  readonly topologyDir: string;
  readonly timing?: { readonly start?: PollOptions; readonly reach?: PollOptions; readonly health?: PollOptions };
  readonly onProgress?: (message: string, detail?: ReplicaSetProgress) => void;
}

/** What ensureMongoTier did; `changed` is false on a converged deployment. */
export interface MongoTierResult {
  readonly installs: readonly MongoInstallResult[];
  readonly units: readonly MongodUnitChanges[];
  readonly replicaSets: readonly ReplicaSetResult[];
  readonly standalones: readonly { readonly name: string; readonly adminUser: AdminUserOutcome }[];
  /** `user@deployment` for each service user created or updated. */
  readonly usersChanged: readonly string[];
  readonly changed: boolean;
}

/**
 * Converges the whole MongoDB tier of `desired`, in order: mongod installed
 * (per container, in parallel), units/configs/keyfile in place and running,
 * every mongod answering, members whose files changed restarted without a set
 * losing its majority, replica sets initiated, reconciled and healthy, admin
 * users, then service users. Run it after the database containers exist and
 * have network; run the services after it (they need serviceDatabaseEnv).
 * Every failure is a DistctlError: a server's answer that nothing here
 * expected is reported with its code, never as an internal error.
 */
export async function ensureMongoTier(desired: DesiredState, deps: MongoTierDeps): Promise<MongoTierResult> {
  try {
    return await convergeTier(desired, deps);
  } catch (error) {
    if (error instanceof MongoCommandError || error instanceof MongoUnreachableError) {
      throw new DistctlError(
        'MONGO_COMMAND_FAILED',
        `MongoDB answered unexpectedly while converging the databases: ${describeMongoError(error)}.`,
        {
          hint: 'Check the members with `distctl status` and their logs with `distctl logs`, then rerun `distctl up`.',
        },
      );
    }
    throw error;
  }
}

async function convergeTier(desired: DesiredState, deps: MongoTierDeps): Promise<MongoTierResult> {
  const processesByContainer = new Map<string, MongodProcess[]>();
  for (const process of [
    ...desired.replicaSets.flatMap((set) => set.members),
    ...desired.standalones.map((standalone) => standalone.process),
  ]) {
    processesByContainer.set(process.container, [...(processesByContainer.get(process.container) ?? []), process]);
  }
  if (processesByContainer.size === 0)
    return { installs: [], units: [], replicaSets: [], standalones: [], usersChanged: [], changed: false };

  const progress = (message: string): void => deps.onProgress?.(message);
  const keyFile = desired.replicaSets.length > 0 ? await deploymentKeyFile(deps.secrets) : null;
  const credentials = await adminCredentials(deps.secrets);
  const channels = { admin: deps.admin, localhost: deps.localhost };

  // One exec per container reads everything this stage decides on: on a converged tier nothing else runs in it.
  const checked = await inEveryContainer(
    [...processesByContainer],
    ([container]) => container,
    async ([container, processes]) => {
      const check = await checkDatabaseContainer(deps.ops, container, processes);
      const installed =
        check.mongod.version !== null && versionSatisfies(check.mongod.version, desired.mongodb.version);
      const cacheSizeGB =
        desired.mongodb.cacheSizeGB ??
        (check.memoryBytes === null ? undefined : cacheSizeGBFor(check.memoryBytes, processes.length));
      const unitOptions = {
        keyFile,
        version: desired.mongodb.version,
        ...(cacheSizeGB === undefined ? {} : { cacheSizeGB }),
        onProgress: progress,
      };
      const mongodBin = installed ? check.mongod.path : expectedMongodBin(desired.mongodb.source);
      const filesInPlace =
        cacheSizeGB !== undefined &&
        check.ids !== null &&
        databaseDirectories(processes).every((directory) => check.directories.get(directory) === DIRECTORY_STAT) &&
        filesDiffering(
          await mongodFiles(processes, keyFile, { mongodBin, version: desired.mongodb.version, cacheSizeGB }),
          check.digests,
        ).length === 0;
      const running = processes.every((process) => {
        const unit = check.units.get(process.unitName);
        return unit?.enabled === 'enabled' && unit.active === 'active';
      });
      // Units and configs land first, so a failed install still leaves the tier's files in place for inspection.
      const staged = filesInPlace
        ? { filesWritten: [], pendingRestart: [] }
        : await ensureMongodUnits(deps.ops, container, processes, { ...unitOptions, mongodBin, start: false });
      return { container, processes, check, installed, unitOptions, converged: filesInPlace && running, staged };
    },
  );

  // A repository install first makes sure, from one container, that the repository answers at all.
  const toInstall = checked.filter((entry) => !entry.installed);
  if (desired.mongodb.source.kind === 'repository' && toInstall[0] !== undefined)
    await assertRepositoryReachable(deps.ops, toInstall[0].container);

  const perContainer = await inEveryContainer(
    checked,
    ({ container }) => container,
    async ({ container, processes, check, unitOptions, converged, staged }) => {
      const install = await installMongo(deps.ops, container, desired.mongodb, {
        topologyDir: deps.topologyDir,
        onProgress: progress,
        probed: check.mongod,
      });
      const started =
        converged && !install.changed && staged.pendingRestart.length === 0
          ? { filesWritten: [], pendingRestart: [] }
          : await ensureMongodUnits(deps.ops, container, processes, {
              ...unitOptions,
              mongodBin: install.mongodBin,
              restart: staged.pendingRestart,
            });
      return {
        container,
        install,
        filesWritten: [...staged.filesWritten, ...started.filesWritten],
        pendingRestart: started.pendingRestart,
      };
    },
  );

  const start = deps.timing?.start ?? DEFAULT_REPLICA_SET_OPTIONS.reach;
  const health = deps.timing?.health ?? DEFAULT_REPLICA_SET_OPTIONS.health;
  await inEveryContainer(
    [
      ...desired.replicaSets.flatMap((set) => set.members),
      ...desired.standalones.map((standalone) => standalone.process),
    ],
    (process) => process.container,
    (process) => waitForMongod(deps.ops, deps.admin, process, start),
  );

  // Running mongods whose files changed: a set's members one at a time, standalones directly.
  const pending = new Set(
    perContainer.flatMap((entry) => entry.pendingRestart.map((unit) => `${entry.container}:${unit}`)),
  );
  const needsRestart = (process: MongodProcess): boolean => pending.has(`${process.container}:${process.unitName}`);
  const restarted: string[] = [];
  const existing = await existingAdminCredentials(deps.secrets);
  await Promise.all([
    ...desired.replicaSets.map(async (set) => {
      const done = await restartMembers(set, set.members.filter(needsRestart), {
        ops: deps.ops,
        admin: deps.admin,
        credentials: existing,
        wait: health,
        onProgress: progress,
      });
      restarted.push(...done.map((member) => `${member.container}:${member.unitName}`));
    }),
    ...desired.standalones
      .filter((standalone) => needsRestart(standalone.process))
      .map(async (standalone) => {
        await restartMongod(deps.ops, standalone.process);
        await waitForMongod(deps.ops, deps.admin, standalone.process, start);
        restarted.push(`${standalone.process.container}:${standalone.process.unitName}`);
      }),
  ]);

  const options = {
    reach: deps.timing?.reach ?? DEFAULT_REPLICA_SET_OPTIONS.reach,
    health,
    onProgress: (detail: ReplicaSetProgress) => deps.onProgress?.(detail.message, detail),
  };
  const replicaSets = await Promise.all(
    desired.replicaSets.map((set) => ensureReplicaSet(set, channels, credentials, options)),
  );
  const standalones = await Promise.all(
    desired.standalones.map(async (standalone) => ({
      name: standalone.name,
      adminUser: await ensureStandalone(standalone, channels, credentials),
    })),
  );

  const onWritable: OnWritable = (deployment, action) =>
    'process' in deployment
      ? action(deployment.process)
      : onPrimary(deployment, deps.admin, health, 'creating service users', action);
  progress('MongoDB: service users');
  const usersChanged = await ensureServiceUsers(desired, deps.admin, credentials, deps.secrets, onWritable);

  const units = perContainer.map((entry) => ({
    filesWritten: entry.filesWritten,
    unitsRestarted: restarted.filter((unit) => unit.startsWith(`${entry.container}:`)),
    pendingRestart: [],
  }));
  const changed =
    perContainer.some((entry) => entry.install.changed || entry.filesWritten.length > 0) ||
    restarted.length > 0 ||
    replicaSets.some(
      (result) => result.initiated || result.adminUser === 'created' || result.reconfigured.length > 0,
    ) ||
    standalones.some((result) => result.adminUser === 'created') ||
    usersChanged.length > 0;
  return {
    installs: perContainer.map((entry) => entry.install),
    units,
    replicaSets,
    standalones,
    usersChanged,
    changed,
  };
}

/** A standalone needs no initiation: it must answer `ping`, and gets its admin user through the localhost exception. */
export async function ensureStandalone(
  standalone: DerivedStandalone,
  channels: { admin: MongoAdmin; localhost: LocalhostAccess },
  credentials: Credentials,
): Promise<AdminUserOutcome> {
  const target = standalone.process;
  try {
    await channels.admin.command(target, 'admin', { ping: 1 });
  } catch (error) {
    throw new DistctlError(
      'MONGO_STANDALONE_UNREACHABLE',
      `Standalone ${standalone.name} (${target.host}, container ${target.container}) does not answer ping: ` +
        `${describeMongoError(error)}.`,
      {
        hint:
          `Check ${target.unitName} with \`distctl logs ${target.container} ${target.unitName}\` and rerun ` +
          `\`distctl up\`.`,
      },
    );
  }
  return ensureAdminUser(target, channels, credentials);
}
