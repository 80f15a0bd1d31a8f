/**
 * A small desired state in the shape derive/ produces: replica set rsA on db1 (3 members), standalone `users` on db3,
 * two services.
 */
import type { SecretStore } from '../../../src/secrets/store.js';
import type {
  DerivedReplicaSet,
  DerivedService,
  DerivedStandalone,
  DesiredState,
  DerivedMongoSource,
  ReplicaSetMember,
} from '../../../src/derive/types.js';

export function member(
  container: string,
  ip: string,
  port: number,
  ordinal: number,
  priority: number,
  id: number,
  set = 'rsA',
): ReplicaSetMember {
  return {
    container,
    ip,
    port,
    replicaSet: set,
    unitName: `mongod-${port}.service`,
    dbPath: `/var/lib/mongo${ordinal}`,
    logPath: `/var/log/mongodb/mongod${ordinal}.log`,
    bindIp: [ip, '127.0.0.1'],
    id,
    host: `${ip}:${port}`,
    priority,
  };
}

export function replicaSet(name = 'rsA', container = 'db1', ip = '10.10.10.12'): DerivedReplicaSet {
  const members = [
    member(container, ip, 27017, 1, 3, 0, name),
    member(container, ip, 27018, 2, 2, 1, name),
    member(container, ip, 27019, 3, 1, 2, name),
  ];
  return {
    name,
    database: 'products_db',
    envVar: 'DB1_URL',
    url: `mongodb://${members.map((m) => m.host).join(',')}/products_db?replicaSet=${name}`,
    members,
    initiateConfig: { _id: name, members: members.map((m) => ({ _id: m.id, host: m.host, priority: m.priority })) },
  };
}

export function standalone(): DerivedStandalone {
  return {
    name: 'users',
    database: 'auth_db',
    envVar: 'DB3_URL',
    url: 'mongodb://10.10.10.14:27017/auth_db',
    process: {
      container: 'db3',
      ip: '10.10.10.14',
      port: 27017,
      replicaSet: null,
      unitName: 'mongod-27017.service',
      dbPath: '/var/lib/mongo1',
      logPath: '/var/log/mongodb/mongod1.log',
      bindIp: ['10.10.10.14', '127.0.0.1'],
      host: '10.10.10.14:27017',
    },
  };
}

function service(name: string, kind: 'auth' | 'web', databases: string[]): DerivedService {
  return {
    name,
    kind,
    container: name,
    ip: '10.10.10.10',
    port: 5000,
    unitName: `${name}.service`,
    url: 'http://10.10.10.10:5000',
    env: {},
    databases,
    after: [],
  };
}

export function desiredState(source: DerivedMongoSource = { kind: 'repository' }, version = '7.0'): DesiredState {
  return {
    project: 'distctl',
    remote: null,
    spreadSets: [],
    network: {
      name: 'incusbr0',
      subnet: '10.10.10.0/24',
      gateway: '10.10.10.1',
      prefixLength: 24,
      ipv4Address: '10.10.10.1/24',
      nat: true,
      tunnel: null,
    },
    containers: [],
    mongodb: { version, source },
    replicaSets: [replicaSet()],
    standalones: [standalone()],
    services: [service('auth-server', 'auth', ['users']), service('web-server', 'web', ['rsA'])],
    shardMap: null,
    proxies: [],
  };
}

/** FakeMongo members for desiredState(). */
export function fakeMembers(desired: DesiredState): { host: string; replSetName: string | null }[] {
  return [
    ...desired.replicaSets.flatMap((set) => set.members.map((m) => ({ host: m.host, replSetName: set.name }))),
    ...desired.standalones.map((s) => ({ host: s.process.host, replSetName: null })),
  ];
}

/**
 * A secret store in memory, for tests on fake timers: the file-backed store's
 * real I/O would let the fake clock run ahead while a read is pending.
 */
export function memorySecrets(): SecretStore {
  const values = new Map<string, string>();
  let counter = 0;
  const store = {
    async get(name: string, generate: () => string = () => `secret-${++counter}`): Promise<string> {
      if (!values.has(name)) values.set(name, generate());
      return values.get(name) ?? '';
    },
    async peek(name: string): Promise<string | undefined> {
      return values.get(name);
    },
  };
  return store as unknown as SecretStore;
}
