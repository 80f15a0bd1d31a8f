import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DistctlError } from '../../../src/errors/index.js';
import { MongoUnreachableError } from '../../../src/mongo/admin.js';
import { ensureMongodUnits, KEYFILE_PATH, renderMongodConfig, renderMongodUnit, waitForMongod } from '../../../src/mongo/units.js';
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
    const unit = await renderMongodUnit(first, '/usr/bin/mongod');
    expect(unit).toContain('Description=MongoDB replica set rsA member on port 27017\n');
    expect(unit).toContain('After=network-online.target\n');
    expect(unit).toContain('User=mongodb\n');
    expect(unit).toContain('Restart=on-failure\n');
    expect(unit).toContain('ExecStart=/usr/bin/mongod --config /etc/mongod-27017.conf\n');
    expect(unit).not.toMatch(/--fork|PIDFile/);
  });
});

describe('ensureMongodUnits', () => {
  const respond = (_c: string, argv: readonly string[]) => (argv[0] === 'sh' && (argv[2] ?? '').includes('useradd') ? { stdout: '999\n998\n' } : undefined);

  it('creates user, directories, keyfile (0400, mongodb), configs and units, then enables and restarts each unit', async () => {
    const ops = new FakeOps(respond);
    const changes = await ensureMongodUnits(ops, 'db1', members, { mongodBin: '/usr/bin/mongod', keyFile: 'a2V5ZmlsZQ==\n' });

    expect(ops.execs()[1]).toEqual(['install', '-d', '-o', 'mongodb', '-g', 'mongodb', '-m', '0750', '/var/lib/mongo1', '/var/log/mongodb', '/var/lib/mongo2', '/var/lib/mongo3']);
    expect(ops.writes()).toContainEqual({ kind: 'write', container: 'db1', path: KEYFILE_PATH, mode: 0o400, uid: 999, gid: 998 });
    expect(ops.writes()).toContainEqual({ kind: 'write', container: 'db1', path: '/etc/mongod-27018.conf', mode: 0o644, uid: 0, gid: 0 });
    expect(ops.writes()).toContainEqual({ kind: 'write', container: 'db1', path: '/etc/systemd/system/mongod-27019.service', mode: 0o644, uid: 0, gid: 0 });
    expect(ops.writes()).toHaveLength(7);
    const systemctl = ops.execs().filter((argv) => argv[0] === 'systemctl');
    expect(systemctl).toEqual([
      ['systemctl', 'daemon-reload'],
      ['systemctl', 'enable', 'mongod-27017.service'],
      ['systemctl', 'restart', 'mongod-27017.service'],
      ['systemctl', 'enable', 'mongod-27018.service'],
      ['systemctl', 'restart', 'mongod-27018.service'],
      ['systemctl', 'enable', 'mongod-27019.service'],
      ['systemctl', 'restart', 'mongod-27019.service'],
    ]);
    expect(changes.unitsRestarted).toEqual(['db1:mongod-27017.service', 'db1:mongod-27018.service', 'db1:mongod-27019.service']);
    // The keyfile is compared by digest; its content is never asked back from the container.
    expect(ops.execs().some((argv) => argv[0] === 'cat')).toBe(false);
  });

  it('changes nothing on a second run, and only starts (not restarts) the units', async () => {
    const ops = new FakeOps(respond);
    const options = { mongodBin: '/usr/bin/mongod', keyFile: 'a2V5ZmlsZQ==\n' };
    await ensureMongodUnits(ops, 'db1', members, options);
    const before = ops.calls.length;
    const changes = await ensureMongodUnits(ops, 'db1', members, options);

    expect(changes).toEqual({ filesWritten: [], unitsRestarted: [], pendingRestart: [] });
    const second = ops.calls.slice(before);
    expect(second.filter((c) => c.kind === 'write')).toEqual([]);
    expect(second.some((c) => c.kind === 'exec' && c.argv.includes('restart'))).toBe(false);
    expect(second.some((c) => c.kind === 'exec' && c.argv.includes('daemon-reload'))).toBe(false);
  });

  it('restarts only the member whose config changed', async () => {
    const ops = new FakeOps(respond);
    await ensureMongodUnits(ops, 'db1', members, { mongodBin: '/usr/bin/mongod', keyFile: 'k\n' });
    ops.files.set('db1:/etc/mongod-27018.conf', 'edited by hand');
    const changes = await ensureMongodUnits(ops, 'db1', members, { mongodBin: '/usr/bin/mongod', keyFile: 'k\n' });

    expect(changes).toEqual({ filesWritten: ['db1:/etc/mongod-27018.conf'], unitsRestarted: ['db1:mongod-27018.service'], pendingRestart: [] });
  });

  it('stages files without starting, then restarts exactly the staged units', async () => {
    const ops = new FakeOps(respond);
    await ensureMongodUnits(ops, 'db1', members, { mongodBin: '/usr/bin/mongod', keyFile: 'k\n' });
    ops.files.set('db1:/etc/mongod-27019.conf', 'edited by hand');
    const before = ops.calls.length;
    const staged = await ensureMongodUnits(ops, 'db1', members, { mongodBin: '/usr/bin/mongod', keyFile: 'k\n', start: false });
    expect(staged).toEqual({ filesWritten: ['db1:/etc/mongod-27019.conf'], unitsRestarted: [], pendingRestart: ['mongod-27019.service'] });
    expect(ops.calls.slice(before).some((c) => c.kind === 'exec' && c.argv[0] === 'systemctl' && c.argv[1] !== 'daemon-reload')).toBe(false);

    const started = await ensureMongodUnits(ops, 'db1', members, { mongodBin: '/usr/bin/mongod', keyFile: 'k\n', restart: staged.pendingRestart });
    expect(started).toEqual({ filesWritten: [], unitsRestarted: ['db1:mongod-27019.service'], pendingRestart: [] });
  });

  it('quotes the log and names container and port when a unit does not start', async () => {
    const ops = new FakeOps((c, argv) => {
      if (argv[1] === 'restart' && argv[2] === 'mongod-27017.service') return { exitCode: 1, stderr: 'Job for mongod-27017.service failed' };
      if (argv[0] === 'tail') return { stdout: '{"t":{"$date":"2026-01-01"},"s":"E","msg":"Unable to acquire security key[s]"}\n' };
      if (argv[0] === 'journalctl') return { stdout: 'mongod-27017.service: Main process exited, code=exited, status=1/FAILURE\n' };
      return respond(c, argv);
    });
    const error = (await ensureMongodUnits(ops, 'db1', members, { mongodBin: '/usr/bin/mongod', keyFile: 'k\n' }).catch((e: unknown) => e)) as DistctlError;

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
    const channel = { command: async () => Promise.reject(new MongoUnreachableError('10.10.10.12:27017', 'connect ECONNREFUSED 10.10.10.12:27017')) };
    const error = (await waitForMongod(ops, channel, first, { intervalMs: 1, timeoutMs: 20 }).catch((e: unknown) => e)) as DistctlError;

    expect(error.code).toBe('MONGOD_START_FAILED');
    expect(error.message).toContain('did not answer on 10.10.10.12:27017');
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.details).toContain('Address already in use');
  });
});
