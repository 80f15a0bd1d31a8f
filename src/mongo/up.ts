import type { DerivedStandalone, DesiredState, MongodProcess } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import type { SecretStore } from '../secrets/store.js';
import { describeMongoError, type MongoAdmin, type MongoCommandChannel, type MongoTarget } from './admin.js';
import type { ContainerOps } from '../incus/container-ops.js';
import { expectedMongodBin, installMongo, type MongoInstallResult } from './install.js';
import { LoopbackChannel } from './loopback.js';
import type { PollOptions } from './poll.js';
import { DEFAULT_REPLICA_SET_OPTIONS, ensureReplicaSet, type ReplicaSetProgress, type ReplicaSetResult } from './replset.js';
import { ensureMongodUnits, waitForMongod, type MongodUnitChanges } from './units.js';
import { adminCredentials, deploymentKeyFile, ensureAdminUser, ensureServiceUsers, type AdminUserOutcome, type MongoDeployment } from './users.js';

/** What ensureMongoTier needs from the outside world. */
export interface MongoTierDeps {
  readonly ops: ContainerOps;
  /** Host-side driver admin (e.g. `new DriverMongoAdmin()`); the caller closes it. */
  readonly admin: MongoAdmin;
  readonly secrets: SecretStore;
  /** Directory of topology.yaml, for a relative `mongodb.source.archive`. */
  readonly topologyDir: string;
  /** In-container loopback channel; defaults to LoopbackChannel over `ops`. */
  readonly loopback?: MongoCommandChannel;
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
 * every mongod answering, replica sets initiated and healthy, admin users,
 * then service users. Run it after the database containers exist and have
 * network; run the services after it (they need serviceDatabaseEnv).
 */
export async function ensureMongoTier(desired: DesiredState, deps: MongoTierDeps): Promise<MongoTierResult> {
  const processesByContainer = new Map<string, MongodProcess[]>();
  for (const process of [...desired.replicaSets.flatMap((set) => set.members), ...desired.standalones.map((standalone) => standalone.process)]) {
    processesByContainer.set(process.container, [...(processesByContainer.get(process.container) ?? []), process]);
  }
  if (processesByContainer.size === 0) return { installs: [], units: [], replicaSets: [], standalones: [], usersChanged: [], changed: false };

  const progress = (message: string): void => deps.onProgress?.(message);
  const keyFile = desired.replicaSets.length > 0 ? await deploymentKeyFile(deps.secrets) : null;
  const credentials = await adminCredentials(deps.secrets);
  const loopback = deps.loopback ?? new LoopbackChannel(deps.ops);
  const channels = { admin: deps.admin, loopback };

  const perContainer = await Promise.all(
    [...processesByContainer].map(async ([container, processes]) => {
      // Units and configs land first, so a failed install still leaves the tier's files in place for inspection.
      const unitOptions = { keyFile, version: desired.mongodb.version, cacheSizeGB: desired.mongodb.cacheSizeGB, onProgress: progress };
      const staged = await ensureMongodUnits(deps.ops, container, processes, { ...unitOptions, mongodBin: expectedMongodBin(desired.mongodb.source), start: false });
      const install = await installMongo(deps.ops, container, desired.mongodb, { topologyDir: deps.topologyDir, onProgress: progress });
      const started = await ensureMongodUnits(deps.ops, container, processes, { ...unitOptions, mongodBin: install.mongodBin, restart: staged.pendingRestart });
      const units = { ...started, filesWritten: [...staged.filesWritten, ...started.filesWritten] };
      return { install, units };
    }),
  );

  const start = deps.timing?.start ?? DEFAULT_REPLICA_SET_OPTIONS.reach;
  await Promise.all([
    ...desired.replicaSets.flatMap((set) => set.members).map((member) => waitForMongod(deps.ops, deps.admin, member, start)),
    ...desired.standalones.map((standalone) => waitForMongod(deps.ops, deps.admin, standalone.process, start)),
  ]);

  const options = {
    reach: deps.timing?.reach ?? DEFAULT_REPLICA_SET_OPTIONS.reach,
    health: deps.timing?.health ?? DEFAULT_REPLICA_SET_OPTIONS.health,
    onProgress: (detail: ReplicaSetProgress) => deps.onProgress?.(detail.message, detail),
  };
  const replicaSets = await Promise.all(desired.replicaSets.map((set) => ensureReplicaSet(set, channels, credentials, options)));
  const standalones = await Promise.all(
    desired.standalones.map(async (standalone) => ({ name: standalone.name, adminUser: await ensureStandalone(standalone, channels.admin, loopback, credentials) })),
  );

  const primaries = new Map(replicaSets.map((result) => [result.name, result.status.primary]));
  const writableTarget = async (deployment: MongoDeployment): Promise<MongoTarget> => {
    if ('process' in deployment) return deployment.process;
    const primary = deployment.members.find((member) => member.host === primaries.get(deployment.name));
    if (primary === undefined) throw new Error(`replica set ${deployment.name} has no primary after ensureReplicaSet`);
    return primary;
  };
  progress('MongoDB: service users');
  const usersChanged = await ensureServiceUsers(desired, deps.admin, credentials, deps.secrets, writableTarget);

  const changed =
    perContainer.some(({ install, units }) => install.changed || units.filesWritten.length > 0 || units.unitsRestarted.length > 0) ||
    replicaSets.some((result) => result.initiated || result.adminUser === 'created') ||
    standalones.some((result) => result.adminUser === 'created') ||
    usersChanged.length > 0;
  return { installs: perContainer.map((entry) => entry.install), units: perContainer.map((entry) => entry.units), replicaSets, standalones, usersChanged, changed };
}

/** A standalone needs no initiation: it must answer `ping`, and gets its admin user through the localhost exception. */
export async function ensureStandalone(standalone: DerivedStandalone, admin: MongoAdmin, loopback: MongoCommandChannel, credentials: { username: string; password: string }): Promise<AdminUserOutcome> {
  const target = standalone.process;
  try {
    await admin.command(target, 'admin', { ping: 1 });
  } catch (error) {
    throw new DistctlError('MONGO_STANDALONE_UNREACHABLE', `Standalone ${standalone.name} (${target.host}, container ${target.container}) does not answer ping: ${describeMongoError(error)}.`, {
      hint: `Check ${target.unitName} with \`distctl logs ${target.container} ${target.unitName}\` and rerun \`distctl up\`.`,
    });
  }
  return ensureAdminUser(target, { admin, loopback }, credentials);
}
