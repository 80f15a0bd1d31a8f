import type { ImageRecipe } from '../image/recipe.js';

/**
 * The concrete model later stages work from, derived from a valid topology by
 * pure functions in `derive/`. Nothing here is read from disk or Incus.
 */

/** The product shard map a web service routes by: defined by the routing contract both sides share. */
import type { ShardMap } from '../services/shared/routing.js';
export type { ShardMap };

/** One mongod process: a replica-set member or a standalone. */
export interface MongodProcess {
  readonly container: string;
  readonly ip: string;
  readonly port: number;
  /** Replica set name, or null for a standalone. */
  readonly replicaSet: string | null;
  /** `mongod-27017.service` */
  readonly unitName: string;
  /** `/var/lib/mongo1` — numbered by the process' position in its container. */
  readonly dbPath: string;
  readonly logPath: string;
  /** Addresses mongod binds: the container's own IP and loopback, never 0.0.0.0. */
  readonly bindIp: readonly string[];
}

export interface ReplicaSetMember extends MongodProcess {
  readonly replicaSet: string;
  /** `_id` in the replica-set config. */
  readonly id: number;
  /** `IP:port`, as it appears in `rs.status()`. */
  readonly host: string;
  readonly priority: number;
}

/** The document passed to `replSetInitiate`. */
export interface ReplSetInitiateConfig {
  readonly _id: string;
  readonly members: readonly { readonly _id: number; readonly host: string; readonly priority: number }[];
}

export interface DerivedReplicaSet {
  readonly name: string;
  readonly database: string;
  /** Environment variable a service reads this set's connection string from. */
  readonly envVar: string;
  /** `mongodb://h1,h2,h3/db?replicaSet=name` (credentials are added at deploy time). */
  readonly url: string;
  readonly members: readonly ReplicaSetMember[];
  readonly initiateConfig: ReplSetInitiateConfig;
}

export interface DerivedStandalone {
  readonly name: string;
  readonly database: string;
  readonly envVar: string;
  /** `mongodb://ip:port/db` */
  readonly url: string;
  readonly process: MongodProcess & { readonly host: string };
}

export type ServiceKind = 'auth' | 'web';

export interface DerivedService {
  readonly name: string;
  readonly kind: ServiceKind;
  readonly container: string;
  readonly ip: string;
  readonly port: number;
  /** `auth-server.service` */
  readonly unitName: string;
  /** `http://ip:port` */
  readonly url: string;
  /**
   * The service's environment, without secrets: connection strings, PORT,
   * AUTH_SERVER_URL, SHARD_MAP, ... Secrets (JWT_SECRET, database credentials)
   * are added at deploy time from the deployment's secret store.
   */
  readonly env: Readonly<Record<string, string>>;
  /** Names of the databases (replica sets/standalones) this service needs; a web service also lists its shards. */
  readonly databases: readonly string[];
  /** Units of other services that must be up first (web after auth). */
  readonly after: readonly string[];
}

/** A systemd unit a container runs, by what it is for. */
export type DerivedUnit =
  | { readonly kind: 'mongod'; readonly name: string; readonly process: MongodProcess }
  | { readonly kind: 'service'; readonly name: string; readonly service: string };

export interface DerivedContainer {
  readonly name: string;
  readonly ipv4: string;
  /** What `incus create` starts from: the topology's image name, or the alias of the image distctl builds. */
  readonly image: string;
  /** How distctl builds `image` when the topology asks it to (`{ build: debian/bookworm }`); null for a named image. */
  readonly imageBuild: ImageRecipe | null;
  /** The cluster member the topology pins this container to (`target:`), or null. */
  readonly target: string | null;
  /** eth0 attached to the managed bridge with a DHCP reservation for `ipv4`. */
  readonly nic: { readonly device: 'eth0'; readonly network: string; readonly ipv4Address: string };
  readonly units: readonly DerivedUnit[];
}

export interface DerivedNetwork {
  readonly name: string;
  /** `10.10.10.0/24` */
  readonly subnet: string;
  readonly gateway: string;
  readonly prefixLength: number;
  /** Incus `ipv4.address` value: gateway with prefix, `10.10.10.1/24`. */
  readonly ipv4Address: string;
  readonly nat: boolean;
  /** VXLAN joining the bridges of an Incus cluster's members (multicast `group`); null on one host. */
  readonly tunnel: { readonly id: number; readonly group: string; readonly interface: string | null } | null;
}

/** An Incus proxy device exposing a container port on the host. */
export interface DerivedProxy {
  readonly container: string;
  /** Device name on the instance, e.g. `distctl-proxy-3000`. */
  readonly device: string;
  /** `tcp:127.0.0.1:3000` */
  readonly listen: string;
  /** `tcp:127.0.0.1:3000` inside the container (the service binds all addresses). */
  readonly connect: string;
}

export type DerivedMongoSource =
  { readonly kind: 'repository' } | { readonly kind: 'image' } | { readonly kind: 'archive'; readonly path: string };

/** Everything later stages need, derived from one topology. */
export interface DesiredState {
  readonly project: string;
  /** The Incus remote every call addresses (`REMOTE:`), or null for the client's default (local) one. */
  readonly remote: string | null;
  /** Replica sets with `spread: true`: their distinct containers, which must run on distinct cluster members. */
  readonly spreadSets: readonly { readonly name: string; readonly containers: readonly string[] }[];
  readonly network: DerivedNetwork;
  readonly containers: readonly DerivedContainer[];
  /** `cacheSizeGB`: WiredTiger cache of every mongod when the topology fixes it; otherwise a share of its container's memory. */
  readonly mongodb: { readonly version: string; readonly source: DerivedMongoSource; readonly cacheSizeGB?: number };
  readonly replicaSets: readonly DerivedReplicaSet[];
  readonly standalones: readonly DerivedStandalone[];
  readonly services: readonly DerivedService[];
  readonly shardMap: ShardMap | null;
  readonly proxies: readonly DerivedProxy[];
}
