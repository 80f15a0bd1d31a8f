import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { deriveDesiredState } from '../../../src/derive/index.js';
import { parseTopology } from '../../../src/topology/load.js';

function referenceState() {
  const report = parseTopology(
    readFileSync(join(import.meta.dirname, '../../../topology.yaml'), 'utf8'),
    'topology.yaml',
  );
  if (report.topology === null) throw new Error('reference topology invalid');
  return deriveDesiredState(report.topology);
}

// The expected values below are the reference platform (docs/topology.md), written out by hand.
describe('derived model of the reference topology', () => {
  const state = referenceState();

  it('has the bridge network 10.10.10.0/24 with gateway 10.10.10.1 and NAT', () => {
    expect(state.network).toEqual({
      name: 'incusbr0',
      subnet: '10.10.10.0/24',
      gateway: '10.10.10.1',
      prefixLength: 24,
      ipv4Address: '10.10.10.1/24',
      nat: true,
      tunnel: null,
    });
    expect(state.project).toBe('distctl');
  });

  it('has the five containers with their static IPs on eth0', () => {
    expect(state.containers.map((c) => [c.name, c.ipv4, c.nic.device, c.nic.network, c.nic.ipv4Address])).toEqual([
      ['auth-server', '10.10.10.10', 'eth0', 'incusbr0', '10.10.10.10'],
      ['web-server', '10.10.10.11', 'eth0', 'incusbr0', '10.10.10.11'],
      ['db1', '10.10.10.12', 'eth0', 'incusbr0', '10.10.10.12'],
      ['db2', '10.10.10.13', 'eth0', 'incusbr0', '10.10.10.13'],
      ['db3', '10.10.10.14', 'eth0', 'incusbr0', '10.10.10.14'],
    ]);
    expect(new Set(state.containers.map((c) => c.image))).toEqual(
      new Set([expect.stringMatching(/^distctl-debian-bookworm-[0-9a-f]{12}$/)]),
    );
    expect(state.containers.map((c) => c.imageBuild)).toEqual(
      state.containers.map(() => ({ distro: 'debian', suite: 'bookworm' })),
    );
  });

  it('runs the right units in each container', () => {
    const units = Object.fromEntries(state.containers.map((c) => [c.name, c.units.map((u) => u.name)]));
    expect(units).toEqual({
      'auth-server': ['auth-server.service'],
      'web-server': ['web-server.service'],
      db1: ['mongod-27017.service', 'mongod-27018.service', 'mongod-27019.service'],
      db2: ['mongod-27017.service', 'mongod-27018.service', 'mongod-27019.service'],
      db3: ['mongod-27017.service'],
    });
  });

  it('gives each mongod its own dbpath and log, bound to its IP and loopback', () => {
    const db1 = state.replicaSets[0]!.members;
    expect(db1.map((m) => [m.port, m.dbPath, m.logPath, m.bindIp])).toEqual([
      [27017, '/var/lib/mongo1', '/var/log/mongodb/mongod1.log', ['10.10.10.12', '127.0.0.1']],
      [27018, '/var/lib/mongo2', '/var/log/mongodb/mongod2.log', ['10.10.10.12', '127.0.0.1']],
      [27019, '/var/lib/mongo3', '/var/log/mongodb/mongod3.log', ['10.10.10.12', '127.0.0.1']],
    ]);
    expect(state.standalones[0]!.process).toMatchObject({
      container: 'db3',
      port: 27017,
      dbPath: '/var/lib/mongo1',
      replicaSet: null,
      unitName: 'mongod-27017.service',
      host: '10.10.10.14:27017',
    });
  });

  it('initiates rsA and rsB with IP:port hosts and priorities 3, 2, 1', () => {
    expect(state.replicaSets.map((set) => set.initiateConfig)).toEqual([
      {
        _id: 'rsA',
        members: [
          { _id: 0, host: '10.10.10.12:27017', priority: 3 },
          { _id: 1, host: '10.10.10.12:27018', priority: 2 },
          { _id: 2, host: '10.10.10.12:27019', priority: 1 },
        ],
      },
      {
        _id: 'rsB',
        members: [
          { _id: 0, host: '10.10.10.13:27017', priority: 3 },
          { _id: 1, host: '10.10.10.13:27018', priority: 2 },
          { _id: 2, host: '10.10.10.13:27019', priority: 1 },
        ],
      },
    ]);
  });

  it('produces the exact connection strings', () => {
    expect(state.replicaSets.map((set) => [set.envVar, set.url])).toEqual([
      ['DB1_URL', 'mongodb://10.10.10.12:27017,10.10.10.12:27018,10.10.10.12:27019/products_db?replicaSet=rsA'],
      ['DB2_URL', 'mongodb://10.10.10.13:27017,10.10.10.13:27018,10.10.10.13:27019/products_db?replicaSet=rsB'],
    ]);
    expect([state.standalones[0]!.envVar, state.standalones[0]!.url]).toEqual([
      'DB3_URL',
      'mongodb://10.10.10.14:27017/auth_db',
    ]);
  });

  it('gives the services their environment', () => {
    const [auth, web] = state.services;
    expect(auth).toMatchObject({
      name: 'auth-server',
      kind: 'auth',
      container: 'auth-server',
      port: 5000,
      unitName: 'auth-server.service',
      url: 'http://10.10.10.10:5000',
    });
    expect(auth!.env).toEqual({
      PORT: '5000',
      HOST: '0.0.0.0',
      METRICS_ALLOW: '10.10.10.0/24',
      USERS_DB_ENV: 'DB3_URL',
      DB3_URL: 'mongodb://10.10.10.14:27017/auth_db',
      TRUSTED_PROXIES: '10.10.10.11',
    });
    expect(web).toMatchObject({
      name: 'web-server',
      kind: 'web',
      container: 'web-server',
      port: 3000,
      unitName: 'web-server.service',
      after: ['auth-server.service'],
    });
    expect(web!.env).toMatchObject({
      PORT: '3000',
      METRICS_ALLOW: '10.10.10.0/24',
      AUTH_SERVER_URL: 'http://10.10.10.10:5000',
      DB1_URL: 'mongodb://10.10.10.12:27017,10.10.10.12:27018,10.10.10.12:27019/products_db?replicaSet=rsA',
      DB2_URL: 'mongodb://10.10.10.13:27017,10.10.10.13:27018,10.10.10.13:27019/products_db?replicaSet=rsB',
    });
    expect(JSON.parse(web!.env.SHARD_MAP!)).toEqual(state.shardMap);
  });

  it('derives the shard map A–M → rsA, N–Z → rsB', () => {
    expect(state.shardMap).toEqual({
      defaultShard: 'rsA',
      ranges: [
        { from: 'A', to: 'M', shard: 'rsA' },
        { from: 'N', to: 'Z', shard: 'rsB' },
      ],
      shards: { rsA: { urlEnv: 'DB1_URL' }, rsB: { urlEnv: 'DB2_URL' } },
    });
  });

  it('exposes web-server:3000 on the host loopback', () => {
    expect(state.proxies).toEqual([
      { container: 'web-server', device: 'expose-3000', listen: 'tcp:127.0.0.1:3000', connect: 'tcp:127.0.0.1:3000' },
    ]);
  });
});
