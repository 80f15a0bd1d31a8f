import type { DesiredState } from '../derive/types.js';
import type { IncusClient } from '../incus/client.js';
import type { ContainerOps } from '../incus/container-ops.js';
import { OWNER_KEY, type IncusInstance } from '../incus/types.js';
import type { Credentials, MongoAdmin } from '../mongo/admin.js';
import { observeMongo, type MongoStatus } from '../mongo/status.js';
import { probeHttp, type ProbeResult } from './http.js';
import { placeContainers } from '../plan/placement.js';
import { instanceAddresses, instanceMember, observeIncus, proxyInPlace, type ObservedIncus } from './incus.js';
import { instanceResources, portServed, type ContainerResources } from './resources.js';
import { probeContainer, type UnitState } from './units.js';

/** One container as declared and as found. */
export interface ContainerStatus {
  readonly name: string;
  /** Incus status (`Running`, `Stopped`, ...) or `missing`. */
  readonly state: string;
  /** Whether the instance carries this deployment's owner mark (false when missing). */
  readonly owned: boolean;
  readonly declaredIp: string;
  readonly actualIps: readonly string[];
  readonly units: readonly UnitState[];
  readonly proxies: readonly { readonly device: string; readonly listen: string; readonly present: boolean }[];
  /** CPU, memory, disk and processes from Incus' instance state; null when the container is not running. */
  readonly resources: ContainerResources | null;
  /** Each declared port of the container's units: served (a listener on the container's address or all), or null when unknown. */
  readonly ports: readonly { readonly unit: string; readonly port: number; readonly served: boolean | null }[];
  /** The cluster member it runs on, and that member's state (`Online`, `Offline`, ...); null off a cluster. */
  readonly member?: { readonly name: string; readonly state: string | null } | null;
}

/** One member of the cluster the deployment runs on, as Incus reports it. */
export interface ClusterMemberStatus {
  readonly name: string;
  /** `Online`, `Offline`, `Evacuated`, ... */
  readonly state: string;
  readonly message: string;
}

/** One bundled service: where it runs and what its endpoints say. */
export interface ServiceStatus {
  readonly name: string;
  readonly container: string;
  readonly url: string;
  readonly health: ProbeResult;
  readonly ready: ProbeResult;
}

/** Everything `distctl status` reports; `differences` is empty exactly when all is as declared. */
export interface DeploymentStatus {
  readonly project: string;
  readonly network: {
    readonly name: string;
    readonly exists: boolean;
    readonly owned: boolean;
    readonly address: string | null;
    readonly declared: string;
  };
  readonly containers: readonly ContainerStatus[];
  readonly services: readonly ServiceStatus[];
  readonly databases: MongoStatus;
  /** The cluster's members with their states; null when the deployment is not on a cluster. */
  readonly cluster?: readonly ClusterMemberStatus[] | null;
  /** Containers running elsewhere than distctl placed them (one sentence each, with what to run). */
  readonly drift?: readonly string[];
  readonly differences: readonly string[];
}

export interface StatusDeps {
  readonly client: IncusClient;
  readonly ops: ContainerOps;
  readonly mongo: MongoAdmin;
  readonly credentials?: Credentials;
  readonly fetch?: typeof fetch;
  /** Incus as already read by the caller (saves the three reads). */
  readonly observed?: ObservedIncus;
}

/**
 * This deployment's running containers: the only ones status and plan send
 * anything to, so no traffic goes to an address where none of ours lives.
 */
export function runningContainers(desired: DesiredState, observed: ObservedIncus): ReadonlySet<string> {
  const ours = observed.instances.filter(
    (instance) => instance.status === 'Running' && instance.config[OWNER_KEY] === desired.project,
  );
  return new Set(ours.map((instance) => instance.name));
}

/** Probe results for what lives in a container that is not running: known without sending anything. */
const NOT_RUNNING: ProbeResult = { ok: false, status: null, error: 'container not running' };

/**
 * The MongoDB admin, limited to mongods whose container runs: a member in a
 * missing or stopped container is reported as such without any traffic to its
 * address (where something else may live).
 */
export function runningOnly(admin: MongoAdmin, running: ReadonlySet<string>): MongoAdmin {
  return {
    command: (target, db, cmd, options) =>
      running.has(target.container)
        ? admin.command(target, db, cmd, options)
        : Promise.reject(new Error(`${target.host}: container ${target.container} is not running`)),
    close: () => admin.close(),
  };
}

/**
 * Observes the whole deployment in a bounded number of calls: three incus
 * reads, one `systemctl show` per running container for all its units, two
 * HTTP probes per service and one MongoDB status per set, all concurrently.
 */
export async function observeDeployment(desired: DesiredState, deps: StatusDeps): Promise<DeploymentStatus> {
  const memberOf = (instance: IncusInstance | undefined): ContainerStatus['member'] => {
    const name = instanceMember(instance);
    return name === null ? null : { name, state: memberState.get(name) ?? null };
  };
  const observed = deps.observed ?? (await observeIncus(deps.client, desired));
  const byName = new Map(observed.instances.map((instance) => [instance.name, instance]));
  const running = runningContainers(desired, observed);
  const network = observed.networks.find((candidate) => candidate.name === desired.network.name);
  const members = observed.cluster?.members ?? null;
  const memberState = new Map((members ?? []).map((member) => [member.server_name, member.status]));

  const [containers, services, databases] = await Promise.all([
    Promise.all(
      desired.containers.map(async (container): Promise<ContainerStatus> => {
        const instance = byName.get(container.name);
        const unitNames = container.units.map((unit) => unit.name);
        const probe = instance?.status === 'Running' ? await probeContainer(deps.ops, container.name, unitNames) : null;
        const units =
          probe?.units ??
          unitNames.map((name) => ({
            name,
            load: 'unknown',
            active: 'unknown',
            sub: 'container not running',
            mainPid: 0,
            since: null,
          }));
        const ports = container.units.map((unit) => {
          const port =
            unit.kind === 'mongod'
              ? unit.process.port
              : (desired.services.find((service) => service.name === unit.service)?.port ?? 0);
          const listeners = probe?.listeners ?? null;
          return {
            unit: unit.name,
            port,
            served: listeners === null ? null : portServed(listeners, port, container.ipv4),
          };
        });
        const proxies = desired.proxies
          .filter((proxy) => proxy.container === container.name)
          .map((proxy) => ({ device: proxy.device, listen: proxy.listen, present: proxyInPlace(instance, proxy) }));
        return {
          name: container.name,
          state: instance?.status ?? 'missing',
          owned: instance?.config[OWNER_KEY] === desired.project,
          declaredIp: container.ipv4,
          actualIps: instance ? instanceAddresses(instance) : [],
          units,
          proxies,
          resources: instanceResources(instance),
          ports,
          member: memberOf(instance),
        };
      }),
    ),
    Promise.all(
      desired.services.map(async (service): Promise<ServiceStatus> => {
        const options = deps.fetch ? { fetch: deps.fetch } : {};
        const runs = running.has(service.container);
        const probe = async (path: string) => (runs ? probeHttp(`${service.url}${path}`, options) : NOT_RUNNING);
        const [health, ready] = await Promise.all([probe('/health'), probe('/ready')]);
        return { name: service.name, container: service.container, url: service.url, health, ready };
      }),
    ),
    observeMongo(desired, runningOnly(deps.mongo, running), deps.credentials ? { credentials: deps.credentials } : {}),
  ]);

  const status = {
    project: desired.project,
    cluster:
      members === null
        ? null
        : members.map((member) => ({ name: member.server_name, state: member.status, message: member.message })),
    drift: placeContainers(desired, observed).drift.map((notice) => `${notice.subject} ${notice.message}`),
    network: {
      name: desired.network.name,
      exists: network !== undefined,
      owned: network?.config[OWNER_KEY] === desired.project,
      address: network?.config['ipv4.address'] ?? null,
      declared: desired.network.ipv4Address,
    },
    containers,
    services,
    databases,
  };
  // A service or database whose every container is missing, stopped or not ours is said by that container's line.
  const covered = new Set([
    ...desired.services.filter((service) => !running.has(service.container)).map((service) => service.name),
    ...desired.replicaSets
      .filter((set) => set.members.every((member) => !running.has(member.container)))
      .map((set) => set.name),
    ...desired.standalones.filter((one) => !running.has(one.process.container)).map((one) => one.name),
  ]);
  return { ...status, differences: differencesOf(status, covered) };
}

/**
 * Every way the observed deployment differs from the declared one, in words.
 * `covered` names services and databases not to repeat: their containers' own differences say it.
 */
export function differencesOf(
  status: Omit<DeploymentStatus, 'differences'>,
  covered: ReadonlySet<string> = new Set(),
): string[] {
  const differences: string[] = [];
  for (const member of status.cluster ?? [])
    if (member.state !== 'Online')
      differences.push(`cluster member ${member.name} is ${member.state}: ${member.message}`);
  if (!status.network.exists) differences.push(`network ${status.network.name} does not exist`);
  else if (!status.network.owned) {
    const name = status.network.name;
    differences.push(`network ${name} was not created by this deployment (distctl up refuses to use it)`);
  } else if (status.network.address !== status.network.declared)
    differences.push(
      `network ${status.network.name} has ${status.network.address ?? 'no address'}, declared ${status.network.declared}`,
    );
  for (const container of status.containers) {
    const member = container.member;
    if (member && member.state !== null && member.state !== 'Online') {
      // Its own state, not a generic error: nothing about the container is known while its member is away.
      const away = memberAway(member.state);
      differences.push(`container ${container.name} is ${away}: its cluster member ${member.name} is ${member.state}`);
      continue;
    }
    if (container.state !== 'Running') {
      differences.push(`container ${container.name} is ${container.state.toLowerCase()}`);
      continue;
    }
    if (!container.owned) {
      differences.push(`container ${container.name} was not created by this deployment (distctl up refuses to use it)`);
    }
    if (container.actualIps.length !== 1 || container.actualIps[0] !== container.declaredIp) {
      differences.push(
        `container ${container.name} has ${container.actualIps.join(', ') || 'no IPv4'}, declared ${container.declaredIp}`,
      );
    }
    for (const unit of container.units) {
      if (unit.active !== 'active') {
        differences.push(
          `${container.name}: ${unit.name} is ${unit.load === 'not-found' ? 'not installed' : `${unit.active} (${unit.sub})`}`,
        );
        continue;
      }
      // "Active" is systemd's word for the process; whether the port is served is the platform's.
      for (const port of container.ports) {
        if (port.unit === unit.name && port.served === false) {
          differences.push(
            `${container.name}: ${unit.name} is active but nothing serves port ${port.port} on ${container.declaredIp}`,
          );
        }
      }
    }
    for (const proxy of container.proxies)
      if (!proxy.present) differences.push(`${container.name}: proxy ${proxy.listen} is missing`);
  }
  differences.push(...(status.drift ?? []));
  for (const service of status.services) {
    if (covered.has(service.name)) continue;
    if (!service.health.ok) differences.push(`service ${service.name}: /health ${describeProbe(service.health)}`);
    else if (!service.ready.ok)
      differences.push(`service ${service.name}: not ready (${describeProbe(service.ready)})`);
  }
  for (const set of status.databases.replicaSets) {
    if (covered.has(set.name)) continue;
    if (!set.reachable) {
      differences.push(`replica set ${set.name} ${set.reason}: ${set.error}`);
      continue;
    }
    if (set.primary === null) differences.push(`replica set ${set.name} has no PRIMARY`);
    for (const member of set.members) {
      if (member.state !== 'PRIMARY' && member.state !== 'SECONDARY')
        differences.push(`replica set ${set.name}: ${member.host} is ${member.state}`);
    }
  }
  for (const standalone of status.databases.standalones) {
    if (covered.has(standalone.name)) continue;
    if (!standalone.reachable)
      differences.push(`database ${standalone.name} (${standalone.host}) ${standalone.reason}: ${standalone.error}`);
  }
  return differences;
}

/** `503 {"ready":false,...}` or `unreachable (ECONNREFUSED)`, short. */
export function describeProbe(probe: ProbeResult): string {
  if (probe.status === null) return `unreachable (${probe.error})`;
  return `answered ${probe.status}`;
}

/** How a container on a member that is not Online is: `unreachable` (Offline) or `unavailable` (Evacuated, ...). */
export function memberAway(state: string): string {
  return state === 'Offline' ? 'unreachable' : 'unavailable';
}
