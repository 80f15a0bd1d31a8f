import type { DerivedService, DesiredState, MongodProcess, ServiceKind } from '../derive/types.js';
import { artifactHash, renderEnvFile, renderServiceUnit, serviceEnvironment, servicePaths, CONTAINER_NODE_PATH, sha256 } from '../deploy/artifacts.js';
import { bundleService, DEFAULT_SERVICES_ROOT } from '../deploy/bundle.js';
import { hostNode } from '../deploy/node-runtime.js';
import { probeContainer } from '../deploy/probe.js';
import { DistctlError } from '../errors/index.js';
import type { ContainerOps } from '../incus/container-ops.js';
import type { MongoAdmin } from '../mongo/admin.js';
import { expectedMongodBin, probeMongod, versionSatisfies } from '../mongo/install.js';
import { readReplicaSetStatus } from '../mongo/status.js';
import { changedMongodFiles, mongodFiles } from '../mongo/units.js';
import { existingAdminCredentials, MongoSecretNames } from '../mongo/users.js';
import { observeUnits } from '../observe/units.js';
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
  for (const process of [...desired.replicaSets.flatMap((set) => set.members), ...desired.standalones.map((standalone) => standalone.process)]) {
    byContainer.set(process.container, [...(byContainer.get(process.container) ?? []), process]);
  }
  if (byContainer.size === 0) return [];
  const change = (sign: StageChange['sign'], subject: string, text: string): StageChange => ({ stage: 'databases', sign, subject, change: text });
  const source = desired.mongodb.source.kind === 'archive' ? `the archive ${desired.mongodb.source.path}` : desired.mongodb.source.kind === 'image' ? 'the image' : "MongoDB's apt repository";
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
      const installed = await probeMongod(deps.ops, container);
      const current = installed.version !== null && versionSatisfies(installed.version, desired.mongodb.version);
      if (!current) changes.push(change('+', container, `install MongoDB ${desired.mongodb.version} from ${source}${installed.version ? ` (has ${installed.version})` : ''}`));
      const bin = current ? installed.path : expectedMongodBin(desired.mongodb.source);
      // Without the keyfile secret (never generated) the keyfile is new: compare the rest with a placeholder.
      const wanted = await mongodFiles(processes, keyFile ?? (processes.some((process) => process.replicaSet) ? '' : null), bin);
      const changed = await changedMongodFiles(deps.ops, container, wanted);
      const restart = new Set(changed.flatMap((file) => file.processes.map((process) => process.unitName)));
      const states = await observeUnits(deps.ops, container, units);
      const start = states.filter((state) => state.active !== 'active' && !restart.has(state.name)).map((state) => state.name);
      if (changed.length > 0) changes.push(change('~', container, `write ${changed.map((file) => file.path).join(', ')}`));
      if (restart.size > 0) changes.push(change('~', container, `restart ${[...restart].join(', ')}`));
      if (start.length > 0) changes.push(change('~', container, `start ${start.join(', ')}`));
      return changes;
    }),
  );

  const sets = await Promise.all(
    desired.replicaSets.map(async (set): Promise<StageChange[]> => {
      const members = set.members.map((member) => `${member.host} (priority ${member.priority})`).join(', ');
      const status = set.members.some((member) => deps.running.has(member.container)) ? await readReplicaSetStatus(set, deps.mongo, credentials) : null;
      if (status?.reachable && status.initiated) return [];
      const initiate = change('+', `replica set ${set.name}`, `initiate with ${members}; create the admin user`);
      return status?.reachable === false ? [{ ...initiate, change: `${initiate.change} unless its mongods, unreachable now, say it is initiated` }] : [initiate];
    }),
  );
  const users = credentials === undefined ? [change('+', 'MongoDB users', `admin user in every set and standalone, and a user per service (${desired.services.map((service) => service.name).join(', ') || 'none'}), with new passwords`)] : [];
  return [...perContainer.flat(), ...sets.flat(), ...users];
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
  const hostNodeDigest = async (): Promise<string> => (await (node ??= hostNode())).sha256;
  const bundles = new Map<ServiceKind, Promise<string>>();
  const bundleHash = (kind: ServiceKind): Promise<string> => {
    if (!bundles.has(kind)) bundles.set(kind, bundleService(kind, deps.servicesRoot ?? DEFAULT_SERVICES_ROOT).then((bundle) => bundle.hash));
    return bundles.get(kind)!;
  };
  const byContainer = new Map<string, DerivedService[]>();
  for (const service of desired.services) byContainer.set(service.container, [...(byContainer.get(service.container) ?? []), service]);

  const perContainer = await Promise.all(
    [...byContainer].map(async ([container, services]): Promise<StageChange[]> => {
      const change = (sign: StageChange['sign'], service: DerivedService, text: string): StageChange => ({ stage: 'services', sign, subject: `${service.name} on ${container}`, change: text });
      if (!deps.running.has(container)) {
        return services.map((service) => change('+', service, `write ${CONTAINER_NODE_PATH}, ${describeFiles(service, ['bundle', 'env', 'unit'])}; start ${service.unitName}`));
      }
      const probe = await probeContainer(deps.ops, container, services);
      const nodeDigest = await hostNodeDigest();
      const nodeFile = probe.nodeSha256 === nodeDigest ? [] : [CONTAINER_NODE_PATH];
      return Promise.all(
        services.map(async (service) => {
          const parts = { bundle: await bundleHash(service.kind), unit: sha256(await renderServiceUnit(service)), env: await envHash(desired, service, deps.secrets), node: nodeDigest };
          const current = probe.services.get(service.name);
          const differing = (['bundle', 'env', 'unit'] as const).filter((part) => parts[part] === null || current?.deployed?.[part] !== parts[part]);
          const changed = parts.env === null || current?.deployed?.artifact !== artifactHash({ ...parts, env: parts.env });
          if (changed) return change(current?.deployed ? '~' : '+', service, `write ${[...nodeFile, describeFiles(service, differing)].filter(Boolean).join(', ') || 'its marker'}; restart ${service.unitName}`);
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
