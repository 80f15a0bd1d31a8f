import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CHECK_SCRIPT, checkArgv, parseCheck } from '../../../src/mongo/check.js';
import { assertRepositoryReachable, REACHABILITY_SCRIPT } from '../../../src/mongo/install.js';
import { member, standalone } from './desired.js';
import { FakeOps } from './fake-ops.js';

const digest = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('the databases stage check', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('asks for directories, keyfile, configs, units and unit states of exactly the mongods given', () => {
    const members = [member('db1', '10.10.10.12', 27017, 1, 3, 0), member('db1', '10.10.10.12', 27018, 2, 2, 1)];
    expect(checkArgv(members).slice(3)).toEqual([
      'sh',
      '3',
      '/var/lib/mongo1',
      '/var/log/mongodb',
      '/var/lib/mongo2',
      '5',
      '/etc/mongodb-keyfile',
      '/etc/mongod-27017.conf',
      '/etc/systemd/system/mongod-27017.service',
      '/etc/mongod-27018.conf',
      '/etc/systemd/system/mongod-27018.service',
      'mongod-27017.service',
      'mongod-27018.service',
    ]);
    // A standalone needs no keyfile.
    expect(checkArgv([standalone().process]).slice(4)).toEqual([
      '2',
      '/var/lib/mongo1',
      '/var/log/mongodb',
      '2',
      '/etc/mongod-27017.conf',
      '/etc/systemd/system/mongod-27017.service',
      'mongod-27017.service',
    ]);
  });

  it('reports, run by a real sh, the digests of the files that exist and the directories that exist', () => {
    dir = mkdtempSync(join(tmpdir(), 'distctl-check-'));
    const present = join(dir, 'present.conf');
    writeFileSync(present, 'port: 27017\n');
    const stdout = execFileSync(
      'sh',
      ['-c', CHECK_SCRIPT, 'sh', '2', dir, join(dir, 'gone'), '2', present, join(dir, 'missing.conf')],
      {
        encoding: 'utf8',
      },
    );
    const check = parseCheck(stdout);

    expect([...check.digests]).toEqual([[present, digest('port: 27017\n')]]);
    expect([...check.directories.keys()]).toEqual([dir]);
    expect(check.directories.get(dir)).toMatch(/^[^:\s]+:[^:\s]+:700$/);
    expect(check.memoryBytes).toBeGreaterThan(0);
  });

  it('parses what a converged container reports', () => {
    const check = parseCheck(
      [
        '@ids',
        '999',
        '998',
        '@dirs',
        'mongodb:mongodb:750 /var/lib/mongo1',
        '@memory',
        'max',
        'MemTotal:        4194304 kB',
        '@digests',
        `${digest('a')}  /etc/mongod-27017.conf`,
        '@mongod',
        '/usr/bin/mongod',
        'db version v7.0.14',
        '@units',
        'mongod-27017.service enabled active',
        '',
      ].join('\n'),
    );
    expect(check).toEqual({
      ids: { uid: 999, gid: 998 },
      directories: new Map([['/var/lib/mongo1', 'mongodb:mongodb:750']]),
      memoryBytes: 4 * 1024 ** 3,
      digests: new Map([['/etc/mongod-27017.conf', digest('a')]]),
      mongod: { path: '/usr/bin/mongod', version: '7.0.14', output: ['/usr/bin/mongod', 'db version v7.0.14'] },
      units: new Map([['mongod-27017.service', { enabled: 'enabled', active: 'active' }]]),
    });
  });

  it('reads a container without user, mongod or units as nothing in place', () => {
    const check = parseCheck('@ids\n@dirs\n@memory\nmax\n@digests\n@mongod\n@units\nmongod-27017.service  inactive\n');
    expect(check.ids).toBeNull();
    expect(check.mongod).toEqual({ path: '', version: null, output: [] });
    expect(check.units.get('mongod-27017.service')).toEqual({ enabled: '', active: 'inactive' });
    expect(check.memoryBytes).toBeNull();
  });
});

describe('the repository reachability check', () => {
  const answering = (stdout: string) =>
    new FakeOps((_container, argv) => (argv[2] === REACHABILITY_SCRIPT ? { stdout } : { exitCode: 127 }));

  it('tries both hosts with a 3 s limit in one exec, and lets the install go on when they answer', async () => {
    const ops = answering('ok repo.mongodb.org\nok www.mongodb.org\n');
    await assertRepositoryReachable(ops, 'db2');
    expect(ops.execs('db2')).toEqual([
      ['sh', '-c', REACHABILITY_SCRIPT, 'sh', '3', 'repo.mongodb.org', 'www.mongodb.org'],
    ]);
  });

  it('lets apt have its chance when the container has no bash to check with', async () => {
    await expect(assertRepositoryReachable(answering('unknown\n'), 'db1')).resolves.toBeUndefined();
  });

  it('stops on one unreachable host, naming it', async () => {
    await expect(
      assertRepositoryReachable(answering('ok repo.mongodb.org\nunreachable www.mongodb.org\n'), 'db1'),
    ).rejects.toMatchObject({
      code: 'MONGO_SOURCE_UNREACHABLE',
      message:
        "MongoDB's repository cannot be reached from container db1: no connection to www.mongodb.org:443 within 3 s; " +
        'apt was not run in any container.',
    });
  });
});

describe('the databases stage check reads every unit with one systemctl', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('prints UNIT ENABLED ACTIVE per unit, as is-enabled and is-active would, for units that exist or not', () => {
    dir = mkdtempSync(join(tmpdir(), 'distctl-check-units-'));
    // systemctl show prints one block per unit, blank lines between, properties in its own order.
    writeFileSync(
      join(dir, 'systemctl'),
      [
        '#!/bin/sh',
        'echo "$*" >> "$(dirname "$0")/calls"',
        'printf "Id=mongod-27017.service\\nActiveState=active\\nUnitFileState=enabled\\n\\n"',
        'printf "Id=mongod-27018.service\\nActiveState=failed\\nUnitFileState=disabled\\n\\n"',
        'printf "Id=mongod-27019.service\\nActiveState=inactive\\nUnitFileState=\\n"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    const units = ['mongod-27017.service', 'mongod-27018.service', 'mongod-27019.service'];
    const stdout = execFileSync('sh', ['-c', CHECK_SCRIPT, 'sh', '0', '0', ...units], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${dir}:${process.env.PATH ?? ''}` },
    });
    expect([...parseCheck(stdout).units]).toEqual([
      ['mongod-27017.service', { enabled: 'enabled', active: 'active' }],
      ['mongod-27018.service', { enabled: 'disabled', active: 'failed' }],
      ['mongod-27019.service', { enabled: '', active: 'inactive' }],
    ]);
    expect(readFileSync(join(dir, 'calls'), 'utf8')).toBe(
      'show -p Id -p UnitFileState -p ActiveState -- mongod-27017.service mongod-27018.service mongod-27019.service\n',
    );
  });
});
