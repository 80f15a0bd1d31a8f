import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSecretStore, type SecretStore } from '../../../src/secrets/store.js';
import { ensureMongoTier } from '../../../src/mongo/up.js';
import { desiredState, fakeMembers } from './desired.js';
import { FakeMongo } from './fake-mongo.js';
import { FakeOps } from './fake-ops.js';

const MONGOD_7 = '/usr/bin/mongod\ndb version v7.0.14\n';
const KEY = `pub:-:4096:1:160D26BB1785BA38:1:::::\nfpr:::::::::E58830201F7DD82CD808AA84160D26BB1785BA38:\n`;
const timing = { start: { intervalMs: 1, timeoutMs: 200 }, reach: { intervalMs: 1, timeoutMs: 200 }, health: { intervalMs: 1, timeoutMs: 500 } };

/** Containers that get mongod once apt installs it. */
function containers(): FakeOps {
  const installed = new Set<string>();
  return new FakeOps((container, argv) => {
    if (argv[0] === 'sh' && (argv[2] ?? '').startsWith('command -v mongod')) return installed.has(container) ? { stdout: MONGOD_7 } : { exitCode: 127 };
    if (argv[0] === 'sh' && (argv[2] ?? '').includes('useradd')) return { stdout: '999\n999\n' };
    if (argv[0] === 'sh' && (argv[2] ?? '').includes('memory.max')) return { stdout: 'max\nMemTotal:        4194304 kB\n' };
    if (argv[0] === 'cat' && argv[1] === '/etc/os-release') return { stdout: 'ID=ubuntu\nVERSION_CODENAME=jammy\n' };
    if (argv[0] === 'gpg' && argv[1] === '--show-keys') return { stdout: KEY };
    if (argv.includes('mongodb-org-server')) installed.add(container);
    return undefined;
  });
}

describe('ensureMongoTier', () => {
  let dir = '';
  let secrets: SecretStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distctl-tier-'));
    secrets = await openSecretStore(dir);
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  it('brings up a fresh tier in order, and a second run changes nothing', async () => {
    const desired = desiredState();
    const ops = containers();
    const mongo = new FakeMongo(fakeMembers(desired));
    const messages: string[] = [];
    const deps = { ops, admin: mongo.network, loopback: mongo.loopback, secrets, topologyDir: dir, timing, onProgress: (m: string) => messages.push(m) };

    const first = await ensureMongoTier(desired, deps);
    expect(first.changed).toBe(true);
    expect(first.installs.map((i) => [i.container, i.changed])).toEqual([['db1', true], ['db3', true]]);
    expect(first.replicaSets.map((r) => [r.name, r.initiated, r.adminUser, r.status.primary])).toEqual([['rsA', true, 'created', '10.10.10.12:27017']]);
    expect(first.standalones).toEqual([{ name: 'users', adminUser: 'created' }]);
    expect(first.usersChanged).toEqual(['auth-server@users', 'web-server@rsA']);
    // Only db1 runs replica-set members, so only db1 gets the keyfile.
    expect(ops.writes().filter((w) => w.path === '/etc/mongodb-keyfile').map((w) => w.container)).toEqual(['db1']);
    expect(messages.some((m) => m.includes('rsA:'))).toBe(true);

    const second = await ensureMongoTier(desired, deps);
    expect(second.changed).toBe(false);
    expect(second.replicaSets[0]?.initiated).toBe(false);
    expect(mongo.names('loopback')).toEqual(['replSetInitiate', 'createUser', 'createUser']);
  });

  it('never puts a secret on a command line', async () => {
    const desired = desiredState();
    const ops = containers();
    const mongo = new FakeMongo(fakeMembers(desired));
    await ensureMongoTier(desired, { ops, admin: mongo.network, loopback: mongo.loopback, secrets, topologyDir: dir, timing });

    const values = await Promise.all(['mongodb-keyfile', 'mongodb-admin-password', 'mongodb-user-web-server', 'mongodb-user-auth-server'].map((name) => secrets.get(name)));
    const argvText = JSON.stringify(ops.execs());
    for (const value of values) expect(argvText).not.toContain(value.trim());
  });

  it('does nothing without MongoDB in the topology', async () => {
    const desired = { ...desiredState(), replicaSets: [], standalones: [], services: [] };
    const ops = containers();
    const mongo = new FakeMongo([]);
    const result = await ensureMongoTier(desired, { ops, admin: mongo.network, loopback: mongo.loopback, secrets, topologyDir: dir, timing });
    expect(result.changed).toBe(false);
    expect(ops.calls).toEqual([]);
  });
});
