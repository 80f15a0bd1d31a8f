import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DistctlError } from '../../../src/errors/index.js';
import { MongoUnreachableError } from '../../../src/mongo/admin.js';
import {
  cacheSizeGBFor,
  ensureMongodUnits,
  KEYFILE_PATH,
  parseContainerMemory,
  renderMongodConfig,
  renderMongodUnit,
  waitForMongod,
} from '../../../src/mongo/units.js';
import { replicaSet, standalone } from './desired.js';
import { FakeOps } from './fake-ops.js';

const members = replicaSet().members;
const [first] = members;
if (first === undefined) throw new Error('fixture');

describe('mongod config and unit', () => {
  it('configures a replica-set member: own dbPath/log/port, container IP + loopback, set name, keyfile and authorization', async () => {
    const config = parse(await renderMongodConfig(first));
    expect(config).toEqual({
      storage: { dbPath: '/var/lib/mongo1' },
      systemLog: { destination: 'file', path: '/var/log/mongodb/mongod1.log', logAppend: true },
      net: { port: 27017, bindIp: '10.10.10.12,127.0.0.1' },
      processManagement: { timeZoneInfo: '/usr/share/zoneinfo' },
      replication: { replSetName: 'rsA' },
      security: { authorization: 'enabled', keyFile: KEYFILE_PATH },
    });
  });

  it('configures a standalone with authorization but no replication or keyfile', async () => {
    const config = parse(await renderMongodConfig(standalone().process));
    expect(config.replication).toBeUndefined();
    expect(config.security).toEqual({ authorization: 'enabled' });
    expect(config.net).toEqual({ port: 27017, bindIp: '10.10.10.14,127.0.0.1' });
  });

  it('never binds every address', async () => {
    await expect(renderMongodConfig({ ...first, bindIp: ['0.0.0.0'] })).rejects.toThrow(/would bind every address/);
  });

  it('runs mongod in the foreground as mongodb, restarted on failure, after the network', async () => {
    const unit = await renderMongodUnit(first, '/usr/bin/mongod', '7.0');
    expect(unit).toContain('Description=MongoDB replica set rsA member on port 27017\n');
    expect(unit).toContain('After=network-online.target\n');
    expect(unit).toContain('User=mongodb\n');
    expect(unit).toContain('Restart=on-failure\n');
    expect(unit).toContain('ExecStart=/usr/bin/mongod --config /etc/mongod-27017.conf\n');
    expect(unit).not.toMatch(/--fork|PIDFile/);
  });
});

/** The [Service] section of a rendered unit, comments and blank lines left out. */
function serviceSettings(unit: string): string[] {
  const body = unit.split('[Service]\n')[1]?.split('\n[Install]')[0] ?? '';
  return body.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

describe('mongod unit: limits and sandbox', () => {
  const sandbox = [
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ReadWritePaths=/var/lib/mongo1 /var/log/mongodb',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'PrivateDevices=yes',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectKernelLogs=yes',
    'ProtectControlGroups=yes',
    'ProtectClock=yes',
    'ProtectHostname=yes',
    'ProtectProc=invisible',
    'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX',
    'RestrictNamespaces=yes',
    'RestrictRealtime=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'RemoveIPC=yes',
    'SystemCallArchitectures=native',
    'CapabilityBoundingSet=',
    'AmbientCapabilities=',
    'UMask=0077',
  ];
  const limits = [
    'LimitFSIZE=infinity',
    'LimitCPU=infinity',
    'LimitAS=infinity',
    'LimitNOFILE=64000',
    'LimitNPROC=64000',
    'LimitMEMLOCK=infinity',
    'TasksMax=infinity',
    'TasksAccounting=false',
  ];
  const head = [
    'Type=simple',
    'User=mongodb',
    'Group=mongodb',
    'ExecStart=/usr/bin/mongod --config /etc/mongod-27017.conf',
    'Restart=on-failure',
    'RestartSec=2',
    'TimeoutStopSec=90',
  ];

  it("has the limits of MongoDB's packaged unit and the services' sandbox, writable only where mongod writes (7.0)", async () => {
    expect(serviceSettings(await renderMongodUnit(first, '/usr/bin/mongod', '7.0'))).toEqual([
      ...head,
      ...limits,
      ...sandbox,
    ]);
  });

  it('adds GLIBC_TUNABLES=glibc.pthread.rseq=0 from MongoDB 8.0 on', async () => {
    expect(serviceSettings(await renderMongodUnit(first, '/usr/bin/mongod', '8.0'))).toEqual([
      ...head,
      'Environment="GLIBC_TUNABLES=glibc.pthread.rseq=0"',
      ...limits,
      ...sandbox,
    ]);
    expect(await renderMongodUnit(first, '/usr/bin/mongod', '7.0.14')).not.toContain('GLIBC_TUNABLES');
  });
});

describe('WiredTiger cache per member', () => {
  it("divides MongoDB's default (50 % of RAM − 1 GB) among the mongods of a container, never under 0.25 GB", () => {
    const GiB = 1024 ** 3;
    expect(cacheSizeGBFor(4 * GiB, 3)).toBe(0.5);
    expect(cacheSizeGBFor(16 * GiB, 3)).toBe(2.5);
    expect(cacheSizeGBFor(8 * GiB, 1)).toBe(3.5);
    expect(cacheSizeGBFor(10 * GiB, 3)).toBe(1.5);
    expect(cacheSizeGBFor(5 * GiB, 3)).toBe(0.66);
    expect(cacheSizeGBFor(2 * GiB, 3)).toBe(0.25);
  });

  it("reads the container's memory as the smaller of its cgroup limit and MemTotal", () => {
    expect(parseContainerMemory('max\nMemTotal:        8388608 kB\n')).toBe(8 * 1024 ** 3);
    expect(parseContainerMemory('2147483648\nMemTotal:        8388608 kB\n')).toBe(2 * 1024 ** 3);
    expect(parseContainerMemory('MemTotal:        1048576 kB\n')).toBe(1024 ** 3);
    expect(parseContainerMemory('')).toBeNull();
  });

  it("writes each member's share into its config, or the topology's mongodb.cacheSizeGB", async () => {
    const respond = (_c: string, argv: readonly string[]) => {
      if (argv[0] === 'sh' && (argv[2] ?? '').includes('useradd')) return { stdout: '999\n998\n' };
      if (argv[0] === 'sh' && (argv[2] ?? '').includes('memory.max'))
        return { stdout: '4294967296\nMemTotal:        16777216 kB\n' };
      return undefined;
    };
    const shared = new FakeOps(respond);
    await ensureMongodUnits(shared, 'db1', members, {
      mongodBin: '/usr/bin/mongod',
      version: '7.0',
      keyFile: 'k\n',
      start: false,
    });
    expect(parse(shared.files.get('db1:/etc/mongod-27018.conf') ?? '').storage).toEqual({
      dbPath: '/var/lib/mongo2',
      wiredTiger: { engineConfig: { cacheSizeGB: 0.5 } },
    });

    const fixed = new FakeOps(respond);
    await ensureMongodUnits(fixed, 'db1', members, {
      mongodBin: '/usr/bin/mongod',
      version: '7.0',
      keyFile: 'k\n',
      start: false,
      cacheSizeGB: 1.25,
    });
    expect(parse(fixed.files.get('db1:/etc/mongod-27018.conf') ?? '').storage).toEqual({
      dbPath: '/var/lib/mongo2',
      wiredTiger: { engineConfig: { cacheSizeGB: 1.25 } },
    });
    expect(fixed.execs().some((argv) => (argv[2] ?? '').includes('memory.max'))).toBe(false);
  });

  it("says how to set the cache when the container's memory cannot be read", async () => {
    const ops = new FakeOps((_c, argv) =>
      argv[0] === 'sh' && (argv[2] ?? '').includes('useradd') ? { stdout: '999\n998\n' } : undefined,
    );
    const error = (await ensureMongodUnits(ops, 'db1', members, {
      mongodBin: '/usr/bin/mongod',
      version: '7.0',
      keyFile: 'k\n',
    }).catch((e: unknown) => e)) as DistctlError;
    expect(error.code).toBe('CONTAINER_MEMORY_UNKNOWN');
    expect(error.hint).toBe(
      'Set mongodb.cacheSizeGB in topology.yaml to give each mongod a fixed cache (at least 0.25).',
    );
    expect(ops.writes()).toEqual([]);
  });
});

describe('ensureMongodUnits', () => {
  const respond = (_c: string, argv: readonly string[]) => {
    if (argv[0] === 'sh' && (argv[2] ?? '').includes('useradd')) return { stdout: '999\n998\n' };
    // A 4 GiB container without a cgroup limit of its own.
    if (argv[0] === 'sh' && (argv[2] ?? '').includes('memory.max'))
      return { stdout: 'max\nMemTotal:        4194304 kB\n' };
    return undefined;
  };
  /** A fresh container: no unit runs yet. */
  const stopped = (c: string, argv: readonly string[]) =>
    argv[1] === 'is-active' ? { exitCode: 3 } : respond(c, argv);

  it('creates user, directories, keyfile (0400, mongodb), configs and units, then enables and starts each unit', async () => {
    const ops = new FakeOps(stopped);
    const changes = await ensureMongodUnits(ops, 'db1', members, {
      mongodBin: '/usr/bin/mongod',
      version: '7.0',
      keyFile: 'a2V5ZmlsZQ==\n',
    });

    expect(ops.execs()[1]).toEqual([
      'install',
      '-d',
      '-o',
      'mongodb',
      '-g',
      'mongodb',
      '-m',
      '0750',
      '/var/lib/mongo1',
      '/var/log/mongodb',
      '/var/lib/mongo2',
      '/var/lib/mongo3',
    ]);
    expect(ops.writes()).toContainEqual({
      kind: 'write',
      container: 'db1',
      path: KEYFILE_PATH,
      mode: 0o400,
      uid: 999,
      gid: 998,
    });
    expect(ops.writes()).toContainEqual({
      kind: 'write',
      container: 'db1',
      path: '/etc/mongod-27018.conf',
      mode: 0o644,
      uid: 0,
      gid: 0,
    });
    expect(ops.writes()).toContainEqual({
      kind: 'write',
      container: 'db1',
      path: '/etc/systemd/system/mongod-27019.service',
      mode: 0o644,
      uid: 0,
      gid: 0,
    });
    expect(ops.writes()).toHaveLength(7);
    const systemctl = ops.execs().filter((argv) => argv[0] === 'systemctl');
    expect(systemctl).toEqual([
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', 'mongod-27017.service'],
      ['systemctl', 'is-active', '--quiet', 'mongod-27017.service'],
      ['systemctl', 'start', 'mongod-27017.service'],
      ['systemctl', 'enable', 'mongod-27018.service'],
      ['systemctl', 'is-active', '--quiet', 'mongod-27018.service'],
      ['systemctl', 'start', 'mongod-27018.service'],
      ['systemctl', 'enable', 'mongod-27019.service'],
      ['systemctl', 'is-active', '--quiet', 'mongod-27019.service'],
      ['systemctl', 'start', 'mongod-27019.service'],
    ]);
    expect(changes).toMatchObject({ unitsRestarted: [], pendingRestart: [] });
    // The keyfile is compared by digest; its content is never asked back from the container.
    expect(ops.execs().some((argv) => argv[0] === 'cat')).toBe(false);
  });

  it('changes nothing on a second run, and only starts (not restarts) the units', async () => {
    const ops = new FakeOps(respond);
    const options = { mongodBin: '/usr/bin/mongod', version: '7.0', keyFile: 'a2V5ZmlsZQ==\n' };
    await ensureMongodUnits(ops, 'db1', members, options);
    const before = ops.calls.length;
    const changes = await ensureMongodUnits(ops, 'db1', members, options);

    expect(changes).toEqual({ filesWritten: [], unitsRestarted: [], pendingRestart: [] });
    const second = ops.calls.slice(before);
    expect(second.filter((c) => c.kind === 'write')).toEqual([]);
    expect(second.some((c) => c.kind === 'exec' && c.argv.includes('restart'))).toBe(false);
    expect(second.some((c) => c.kind === 'exec' && c.argv.includes('daemon-reload'))).toBe(false);
  });

  it('leaves the running member whose config changed for a rolling restart, and restarts nothing itself', async () => {
    const ops = new FakeOps(respond);
    await ensureMongodUnits(ops, 'db1', members, { mongodBin: '/usr/bin/mongod', version: '7.0', keyFile: 'k\n' });
    ops.files.set('db1:/etc/mongod-27018.conf', 'edited by hand');
    const before = ops.calls.length;
    const changes = await ensureMongodUnits(ops, 'db1', members, {
      mongodBin: '/usr/bin/mongod',
      version: '7.0',
      keyFile: 'k\n',
    });

    expect(changes).toEqual({
      filesWritten: ['db1:/etc/mongod-27018.conf'],
      unitsRestarted: [],
      pendingRestart: ['mongod-27018.service'],
    });
    expect(ops.calls.slice(before).some((c) => c.kind === 'exec' && c.argv.includes('restart'))).toBe(false);
  });

  it('stages files without starting, then restarts exactly the staged units', async () => {
    const ops = new FakeOps(respond);
    await ensureMongodUnits(ops, 'db1', members, { mongodBin: '/usr/bin/mongod', version: '7.0', keyFile: 'k\n' });
    ops.files.set('db1:/etc/mongod-27019.conf', 'edited by hand');
    const before = ops.calls.length;
    const staged = await ensureMongodUnits(ops, 'db1', members, {
      mongodBin: '/usr/bin/mongod',
      version: '7.0',
      keyFile: 'k\n',
      start: false,
    });
    expect(staged).toEqual({
      filesWritten: ['db1:/etc/mongod-27019.conf'],
      unitsRestarted: [],
      pendingRestart: ['mongod-27019.service'],
    });
    expect(
      ops.calls
        .slice(before)
        .some((c) => c.kind === 'exec' && c.argv[0] === 'systemctl' && c.argv[1] !== 'daemon-reload'),
    ).toBe(false);

    const started = await ensureMongodUnits(ops, 'db1', members, {
      mongodBin: '/usr/bin/mongod',
      version: '7.0',
      keyFile: 'k\n',
      restart: staged.pendingRestart,
    });
    expect(started).toEqual({ filesWritten: [], unitsRestarted: [], pendingRestart: ['mongod-27019.service'] });
  });

  it('quotes the log and names container and port when a unit does not start', async () => {
    const ops = new FakeOps((c, argv) => {
      if (argv[1] === 'is-active') return { exitCode: 3 };
      if (argv[1] === 'start' && argv[2] === 'mongod-27017.service')
        return { exitCode: 1, stderr: 'Job for mongod-27017.service failed' };
      if (argv[0] === 'tail')
        return { stdout: '{"t":{"$date":"2026-01-01"},"s":"E","msg":"Unable to acquire security key[s]"}\n' };
      if (argv[0] === 'journalctl')
        return { stdout: 'mongod-27017.service: Main process exited, code=exited, status=1/FAILURE\n' };
      return respond(c, argv);
    });
    const error = (await ensureMongodUnits(ops, 'db1', members, {
      mongodBin: '/usr/bin/mongod',
      version: '7.0',
      keyFile: 'k\n',
    }).catch((e: unknown) => e)) as DistctlError;

    expect(error).toBeInstanceOf(DistctlError);
    expect(error.code).toBe('MONGOD_START_FAILED');
    expect(error.message).toContain('mongod on port 27017 in container db1 did not start');
    expect(error.details.join('\n')).toContain('Unable to acquire security key');
    expect(error.details.join('\n')).toContain('status=1/FAILURE');
    expect(ops.execs()).toContainEqual(['tail', '-n', '20', '/var/log/mongodb/mongod1.log']);
  });
});

describe('waitForMongod', () => {
  it('gives up after the bound and quotes the log', async () => {
    const ops = new FakeOps((_c, argv) => (argv[0] === 'tail' ? { stdout: 'Address already in use\n' } : undefined));
    const channel = {
      command: async () =>
        Promise.reject(new MongoUnreachableError('10.10.10.12:27017', 'connect ECONNREFUSED 10.10.10.12:27017')),
    };
    const error = (await waitForMongod(ops, channel, first, { intervalMs: 1, timeoutMs: 20 }).catch(
      (e: unknown) => e,
    )) as DistctlError;

    expect(error.code).toBe('MONGOD_START_FAILED');
    expect(error.message).toContain('did not answer on 10.10.10.12:27017');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.details).toContain('Address already in use');
  });
});
