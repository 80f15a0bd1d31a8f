import type { DerivedService, DesiredState, MongodProcess, ServiceKind } from '../derive/types.js';
import {
  artifactHash,
  CONTAINER_NODE_PATH,
  renderEnvFile,
  renderServiceUnit,
  serviceEnvironment,
  servicePaths,
  sha256,
} from '../deploy/artifacts.js';
import { bundleService, DEFAULT_SERVICES_ROOT, type BuildCache } from '../deploy/bundle.js';
import { hostNode } from '../deploy/node-runtime.js';
import { probeContainer } from '../deploy/probe.js';
import { DistctlError } from '../errors/index.js';
import type { ContainerOps } from '../incus/container-ops.js';
import type { MongoAdmin } from '../mongo/admin.js';
import { checkDatabaseContainer } from '../mongo/check.js';
import { expectedMongodBin, versionSatisfies } from '../mongo/install.js';
import { readReplicaSetStatus } from '../mongo/status.js';
import { cacheSizeGBFor, containerCacheSizeGB, filesDiffering, mongodFiles } from '../mongo/units.js';
import { existingAdminCredentials, MongoSecretNames } from '../mongo/users.js';
import type { SecretStore } from '../secrets/store.js';

/** One thing the databases or services stage of `up` would do. */
export interface StageChange {
  readonly stage: 'databases' | 'services';
  /** `+` creates or installs, `~` changes or (re)starts. */
  readonly sign: '+' | '~';
  /** `db1`, `replica set rsA`, `auth-server on auth-server`. */
  readonly subject: string;
  readonly change: string;
}

/** What reading the running containers allows: the later stages' changes, read-only. */
export interface StagesDeps {
  readonly ops: ContainerOps;
  /** Opened read-only: a missing secret means `up` would generate it. */
  readonly secrets: SecretStore;
  /** Only for mongods in running containers (see runningOnly). */
  readonly mongo: MongoAdmin;
  /** This deployment's running containers; nothing else is read or probed. */
  readonly running: ReadonlySet<string>;
  readonly servicesRoot?: string;
  /** The deployment's build cache, read only: an unchanged service is not bundled again just to compare. */
  readonly cache?: BuildCache;
}

/**
 * What `up`'s databases and services stages would do, as far as can be known
 * without writing: a container that does not run yet gets everything; a
 * running one is read (mongod version, file digests, unit states, replica-set
 * status, deployed service hashes) and only its differences are listed.
 */
export async function planStages(desired: DesiredState, deps: StagesDeps): Promise<StageChange[]> {
  const [databases, services] = await Promise.all([planDatabases(desired, deps), planServices(desired, deps)]);
  return [...databases, ...services];
}

async function planDatabases(desired: DesiredState, deps: StagesDeps): Promise<StageChange[]> {
  const byContainer = new Map<string, MongodProcess[]>();
  const allMembers = desired.replicaSets.flatMap((set) => set.members);
  for (const process of [...allMembers, ...desired.standalones.map((standalone) => standalone.process)]) {
    byContainer.set(process.container, [...(byContainer.get(process.container) ?? []), process]);
  }
  if (byContainer.size === 0) return [];
  const change = (sign: StageChange['sign'], subject: string, text: string): StageChange => ({
    stage: 'databases',
    sign,
    subject,
    change: text,
  });
  const { source: from, version } = desired.mongodb;
  const source = describeSource(from);
  const keyFile = desired.replicaSets.length > 0 ? await peek(deps.secrets, MongoSecretNames.keyFile) : null;
  const credentials = await existingAdminCredentials(deps.secrets);

  const perContainer = await Promise.all(
    [...byContainer].map(async ([container, processes]): Promise<StageChange[]> => {
      const units = processes.map((process) => process.unitName);
      if (!deps.running.has(container)) {
        return [
          change('+', container, `install MongoDB ${desired.mongodb.version} from ${source}`),
          change('+', container, `write ${describeMongodFiles(processes)}; start ${units.join(', ')}`),
        ];
      }
      const changes: StageChange[] = [];
      // One exec reads what the rest compares (as up's databases stage does).
      const check = await checkDatabaseContainer(deps.ops, container, processes);
      const installed = check.mongod;
      const current = installed.version !== null && versionSatisfies(installed.version, desired.mongodb.version);
      const had = installed.version ? ` (has ${installed.version})` : '';
      if (!current) changes.push(change('+', container, `install MongoDB ${version} from ${source}${had}`));
      const bin = current ? installed.path : expectedMongodBin(desired.mongodb.source);
      // Without the keyfile secret (never generated) the keyfile is new: compare the rest with a placeholder.
      const hasMembers = processes.some((process) => process.replicaSet !== null);
      // The cache size is read from the container as up reads it (unless the topology fixes it).
      const cacheSizeGB =
        desired.mongodb.cacheSizeGB ??
        (check.memoryBytes === null
          ? await containerCacheSizeGB(deps.ops, container, processes.length)
          : cacheSizeGBFor(check.memoryBytes, processes.length));
      const render = { mongodBin: bin, version, cacheSizeGB };
      const wanted = await mongodFiles(processes, keyFile ?? (hasMembers ? '' : null), render);
      const changed = filesDiffering(wanted, check.digests);
      const restart = new Set(changed.flatMap((file) => file.processes.map((process) => process.unitName)));
      const start = units.filter((unit) => check.units.get(unit)?.active !== 'active' && !restart.has(unit));
      const paths = changed.map((file) => file.path).join(', ');
      if (changed.length > 0) changes.push(change('~', container, `write ${paths}`));
      if (restart.size > 0) changes.push(change('~', container, `restart ${[...restart].join(', ')}`));
      if (start.length > 0) changes.push(change('~', container, `start ${start.join(', ')}`));
      return changes;
    }),
  );

  const sets = await Promise.all(
    desired.replicaSets.map(async (set): Promise<StageChange[]> => {
      const members = set.members.map((member) => `${member.host} (priority ${member.priority})`).join(', ');
      const runs = set.members.some((member) => deps.running.has(member.container));
      const status = runs ? await readReplicaSetStatus(set, deps.mongo, credentials) : null;
      if (status?.reachable && status.initiated) return [];
      const initiate = change('+', `replica set ${set.name}`, `initiate with ${members}; create the admin user`);
      if (status?.reachable !== false) return [initiate];
      return [{ ...initiate, change: `${initiate.change} unless its mongods, unreachable now, say it is initiated` }];
    }),
  );
  const serviceNames = desired.services.map((service) => service.name).join(', ') || 'none';
  const users =
    credentials !== undefined
      ? []
      : [
          change(
            '+',
            'MongoDB users',
            `admin user in every set and standalone, and a user per service (${serviceNames}), ` + 'with new passwords',
          ),
        ];
  return [...perContainer.flat(), ...sets.flat(), ...users];
}

function describeSource(source: DesiredState['mongodb']['source']): string {
  if (source.kind === 'archive') return `the archive ${source.path}`;
  return source.kind === 'image' ? 'the image' : "MongoDB's apt repository";
}

/** `the keyfile, 3 configs and 3 units`: what a container that does not run yet gets. */
function describeMongodFiles(processes: readonly MongodProcess[]): string {
  const keyFile = processes.some((process) => process.replicaSet !== null) ? 'the keyfile, ' : '';
  const count = processes.length;
  return `${keyFile}${count} config${count === 1 ? '' : 's'} and ${count} unit${count === 1 ? '' : 's'}`;
}

async function planServices(desired: DesiredState, deps: StagesDeps): Promise<StageChange[]> {
  if (desired.services.length === 0) return [];
  // Hashing the 100 MB Node binary and bundling happen only when a running container is compared.
  let node: ReturnType<typeof hostNode> | undefined;
  const hostNodeDigest = async (): Promise<string> =>
    (await (node ??= hostNode(undefined, undefined, deps.cache))).sha256;
  const bundles = new Map<ServiceKind, Promise<string>>();
  const bundleHash = (kind: ServiceKind): Promise<string> => {
    if (!bundles.has(kind)) {
      bundles.set(
        kind,
        bundleService(kind, deps.servicesRoot ?? DEFAULT_SERVICES_ROOT, deps.cache).then((bundle) => bundle.hash),
      );
    }
    return bundles.get(kind)!;
  };
  const byContainer = new Map<string, DerivedService[]>();
  for (const service of desired.services) {
    byContainer.set(service.container, [...(byContainer.get(service.container) ?? []), service]);
  }

  const perContainer = await Promise.all(
    [...byContainer].map(async ([container, services]): Promise<StageChange[]> => {
      const change = (sign: StageChange['sign'], service: DerivedService, text: string): StageChange => ({
        stage: 'services',
        sign,
        subject: `${service.name} on ${container}`,
        change: text,
      });
      if (!deps.running.has(container)) {
        return services.map((service) => {
          const files = describeFiles(service, ['bundle', 'env', 'unit']);
          return change('+', service, `write ${CONTAINER_NODE_PATH}, ${files}; start ${service.unitName}`);
        });
      }
      const probe = await probeContainer(deps.ops, container, services);
      const nodeDigest = await hostNodeDigest();
      const nodeFile = probe.nodeSha256 === nodeDigest ? [] : [CONTAINER_NODE_PATH];
      return Promise.all(
        services.map(async (service) => {
          const parts = {
            bundle: await bundleHash(service.kind),
            unit: sha256(await renderServiceUnit(service)),
            env: await envHash(desired, service, deps.secrets),
            node: nodeDigest,
          };
          const current = probe.services.get(service.name);
          const deployed = current?.deployed;
          const differing = (['bundle', 'env', 'unit'] as const).filter((part) => deployed?.[part] !== parts[part]);
          const changed = parts.env === null || deployed?.artifact !== artifactHash({ ...parts, env: parts.env });
          if (changed) {
            const files = [...nodeFile, describeFiles(service, differing)].filter(Boolean).join(', ') || 'its marker';
            return change(deployed ? '~' : '+', service, `write ${files}; restart ${service.unitName}`);
          }
          if (current?.active !== 'active') return change('~', service, `start ${service.unitName}`);
          return null;
        }),
      ).then((changes) => changes.filter((item): item is StageChange => item !== null));
    }),
  );
  return perContainer.flat();
}

/** The environment file's hash, or null when a secret it holds does not exist yet (so `up` would write a new one). */
async function envHash(desired: DesiredState, service: DerivedService, secrets: SecretStore): Promise<string | null> {
  try {
    return sha256(renderEnvFile(service.name, await serviceEnvironment(desired, service, secrets)));
  } catch (error) {
    if (error instanceof DistctlError && error.code === 'SECRET_NOT_GENERATED') return null;
    throw error;
  }
}

function describeFiles(service: DerivedService, parts: readonly ('bundle' | 'env' | 'unit')[]): string {
  const paths = servicePaths(service);
  const file = { bundle: paths.main, env: paths.envFile, unit: paths.unitFile };
  return parts.map((part) => file[part]).join(', ');
}

async function peek(secrets: SecretStore, name: string): Promise<string | null> {
  return (await secrets.peek(name)) ?? null;
}
