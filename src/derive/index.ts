import { parseSubnet } from '../topology/ipv4.js';
import { parseRecipe, recipeAlias } from '../image/recipe.js';
import type { ImageSpec, Topology } from '../topology/schema.js';
import type {
  DerivedContainer,
  DerivedMongoSource,
  DerivedNetwork,
  DerivedProxy,
  DerivedReplicaSet,
  DerivedService,
  DerivedStandalone,
  DerivedUnit,
  DesiredState,
  MongodProcess,
  ShardMap,
} from './types.js';

export type * from './types.js';

/**
 * Turns a validated topology into the concrete desired state: NIC settings,
 * mongod processes and their units, replica-set initiate documents, service
 * environments and the shard map. Pure: same topology, same result.
 * Assumes `checkTopology` found no errors (references resolve).
 */
export function deriveDesiredState(topology: Topology): DesiredState {
  const ipOf = new Map(topology.containers.map((container) => [container.name, container.ipv4]));
  const ip = (container: string): string => ipOf.get(container) ?? '0.0.0.0';
  const network = deriveNetwork(topology);

  // mongod processes are numbered per container in topology order: /var/lib/mongo1, mongo2, ...
  const ordinals = new Map<string, number>();
  const mongod = (container: string, port: number, replicaSet: string | null): MongodProcess => {
    const ordinal = (ordinals.get(container) ?? 0) + 1;
    ordinals.set(container, ordinal);
    return {
      container,
      ip: ip(container),
      port,
      replicaSet,
      unitName: `mongod-${port}.service`,
      dbPath: `/var/lib/mongo${ordinal}`,
      logPath: `/var/log/mongodb/mongod${ordinal}.log`,
      bindIp: [ip(container), '127.0.0.1'],
    };
  };

  const replicaSets: DerivedReplicaSet[] = topology.mongodb.replicaSets.map((set) => {
    const members = set.members.map((member, index) => {
      const process = mongod(member.container, member.port, set.name);
      return {
        ...process,
        replicaSet: set.name,
        id: index,
        host: `${process.ip}:${member.port}`,
        priority: member.priority,
      };
    });
    return {
      name: set.name,
      database: set.database,
      envVar: set.env,
      url: `mongodb://${members.map((member) => member.host).join(',')}/${set.database}?replicaSet=${set.name}`,
      members,
      initiateConfig: {
        _id: set.name,
        members: members.map((member) => ({ _id: member.id, host: member.host, priority: member.priority })),
      },
    };
  });

  const standalones: DerivedStandalone[] = topology.mongodb.standalones.map((standalone) => {
    const process = mongod(standalone.container, standalone.port, null);
    return {
      name: standalone.name,
      database: standalone.database,
      envVar: standalone.env,
      url: `mongodb://${process.ip}:${process.port}/${standalone.database}`,
      process: { ...process, host: `${process.ip}:${process.port}` },
    };
  });

  const shardMap = deriveShardMap(topology, replicaSets);
  const services = deriveServices(topology, ip, replicaSets, standalones, shardMap);

  const containers: DerivedContainer[] = topology.containers.map((container) => {
    const units: DerivedUnit[] = [
      ...[...replicaSets.flatMap((set) => set.members), ...standalones.map((standalone) => standalone.process)]
        .filter((process) => process.container === container.name)
        .map((process): DerivedUnit => ({ kind: 'mongod', name: process.unitName, process })),
      ...services
        .filter((service) => service.container === container.name)
        .map((service): DerivedUnit => ({ kind: 'service', name: service.unitName, service: service.name })),
    ];
    return {
      name: container.name,
      ipv4: container.ipv4,
      ...deriveImage(container.image ?? topology.image),
      target: container.target ?? null,
      nic: { device: 'eth0', network: network.name, ipv4Address: container.ipv4 },
      units,
    };
  });

  const proxies: DerivedProxy[] = topology.expose.map((entry) => ({
    container: entry.container,
    device: `expose-${entry.listen.split(':')[1]}`,
    listen: `tcp:${entry.listen}`,
    connect: `tcp:127.0.0.1:${entry.port}`,
  }));

  return {
    project: topology.project,
    remote: topology.incus?.remote ?? null,
    spreadSets: topology.mongodb.replicaSets
      .filter((set) => set.spread)
      .map((set) => ({ name: set.name, containers: [...new Set(set.members.map((member) => member.container))] })),
    network,
    containers,
    mongodb: {
      version: topology.mongodb.version,
      source: deriveSource(topology.mongodb.source),
      ...(topology.mongodb.cacheSizeGB === undefined ? {} : { cacheSizeGB: topology.mongodb.cacheSizeGB }),
    },
    replicaSets,
    standalones,
    services,
    shardMap,
    proxies,
  };
}

/** A named image is used as is; a recipe becomes the content-addressed alias its build is imported under. */
function deriveImage(spec: ImageSpec): Pick<DerivedContainer, 'image' | 'imageBuild'> {
  if (typeof spec === 'string') return { image: spec, imageBuild: null };
  const recipe = parseRecipe(spec.build);
  // Validation accepts only buildable recipes; this guards callers that skipped it.
  if (recipe === undefined) throw new Error(`image.build "${spec.build}" was not validated`);
  return { image: recipeAlias(recipe), imageBuild: recipe };
}

function deriveNetwork(topology: Topology): DerivedNetwork {
  const prefixLength = parseSubnet(topology.network.subnet)?.subnet.prefixLength ?? 24;
  return {
    name: topology.network.name,
    subnet: topology.network.subnet,
    gateway: topology.network.gateway,
    prefixLength,
    ipv4Address: `${topology.network.gateway}/${prefixLength}`,
    nat: topology.network.nat,
    tunnel:
      topology.network.tunnel === undefined
        ? null
        : {
            id: topology.network.tunnel.id,
            group: topology.network.tunnel.group,
            interface: topology.network.tunnel.interface ?? null,
          },
  };
}

function deriveSource(source: Topology['mongodb']['source']): DerivedMongoSource {
  if (source === 'repository' || source === 'image') return { kind: source };
  return { kind: 'archive', path: source.archive };
}

function deriveShardMap(topology: Topology, replicaSets: readonly DerivedReplicaSet[]): ShardMap | null {
  const { sharding } = topology;
  if (sharding === undefined) return null;
  const envOf = new Map(replicaSets.map((set) => [set.name, set.envVar]));
  const shardNames = [
    ...new Set([
      ...sharding.ranges.map((range) => range.replicaSet),
      ...(sharding.defaultShard ? [sharding.defaultShard] : []),
    ]),
  ];
  return {
    defaultShard: sharding.defaultShard ?? null,
    ranges: sharding.ranges.map((range) => ({ from: range.from, to: range.to, shard: range.replicaSet })),
    shards: Object.fromEntries(shardNames.map((name) => [name, { urlEnv: envOf.get(name) ?? '' }])),
  };
}

function deriveServices(
  topology: Topology,
  ip: (container: string) => string,
  replicaSets: readonly DerivedReplicaSet[],
  standalones: readonly DerivedStandalone[],
  shardMap: ShardMap | null,
): DerivedService[] {
  const databases = new Map<string, { envVar: string; url: string }>(
    [...replicaSets, ...standalones].map((db) => [db.name, db]),
  );
  const serviceUrl = (name: string): string => {
    const service = topology.services.find((candidate) => candidate.name === name);
    return service ? `http://${ip(service.container)}:${service.port}` : '';
  };
  return topology.services.map((service): DerivedService => {
    const common = {
      name: service.name,
      kind: service.kind,
      container: service.container,
      ip: ip(service.container),
      port: service.port,
      unitName: `${service.name}.service`,
      url: `http://${ip(service.container)}:${service.port}`,
    };
    // /metrics answers the platform's own subnet only (the host scrapes from the bridge's gateway address).
    const base = { PORT: String(service.port), HOST: '0.0.0.0', METRICS_ALLOW: topology.network.subnet };
    if (service.kind === 'auth') {
      const db = databases.get(service.database);
      return {
        ...common,
        env: {
          ...base,
          USERS_DB_ENV: db?.envVar ?? '',
          ...(db ? { [db.envVar]: db.url } : {}),
          // The web-servers using this auth-server: only their X-Forwarded-For is believed (login throttles).
          TRUSTED_PROXIES: topology.services
            .filter((s) => s.kind === 'web' && s.auth === service.name)
            .map((s) => ip(s.container))
            .join(','),
        },
        databases: [service.database],
        after: [],
      };
    }
    const shardNames = Object.keys(shardMap?.shards ?? {});
    const shardEnv = Object.fromEntries(
      shardNames.flatMap((name) => {
        const db = databases.get(name);
        return db ? [[db.envVar, db.url]] : [];
      }),
    );
    return {
      ...common,
      env: { ...base, AUTH_SERVER_URL: serviceUrl(service.auth), ...shardEnv, SHARD_MAP: JSON.stringify(shardMap) },
      databases: shardNames,
      after: [`${service.auth}.service`],
    };
  });
}
