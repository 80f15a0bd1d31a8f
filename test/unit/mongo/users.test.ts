import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSecretStore, type SecretStore } from '../../../src/secrets/store.js';
import {
  adminCredentials,
  deploymentKeyFile,
  ensureServiceUsers,
  findDeployment,
  generateKeyFile,
  serviceDatabaseEnv,
  withCredentials,
  type OnWritable,
} from '../../../src/mongo/users.js';
import type { MongoTarget } from '../../../src/mongo/admin.js';
import { desiredState, fakeMembers } from './desired.js';
import { FakeMongo } from './fake-mongo.js';

describe('withCredentials', () => {
  it('adds percent-encoded credentials and authSource to a replica-set URL', () => {
    const url = withCredentials('mongodb://10.10.10.12:27017,10.10.10.12:27018/products_db?replicaSet=rsA', {
      username: 'web-server',
      password: 'p@ss/w:rd?&=',
    });
    expect(url).toBe(
      'mongodb://web-server:p%40ss%2Fw%3Ard%3F%26%3D@10.10.10.12:27017,10.10.10.12:27018/products_db?replicaSet=rsA&authSource=admin',
    );
  });

  it('handles a standalone URL without options', () => {
    expect(withCredentials('mongodb://10.10.10.14:27017/auth_db', { username: 'auth-server', password: 'x' })).toBe(
      'mongodb://auth-server:x@10.10.10.14:27017/auth_db?authSource=admin',
    );
  });
});

describe('keyfile', () => {
  it("is 756 random bytes of base64: 1008 characters, within mongod's limit", () => {
    const key = generateKeyFile().trim();
    expect(key).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(key).toHaveLength(1008);
    expect(Buffer.from(key, 'base64')).toHaveLength(756);
  });
});

describe('service users', () => {
  let dir = '';
  let secrets: SecretStore;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distctl-users-'));
    secrets = await openSecretStore(dir);
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const desired = desiredState();
  const writable: OnWritable = (deployment, action) =>
    action('process' in deployment ? deployment.process : (deployment.members[0] as MongoTarget));

  it('gives each service readWrite on exactly its databases, on exactly its deployments; a second run changes nothing', async () => {
    const mongo = new FakeMongo(fakeMembers(desired));
    const admin = await adminCredentials(secrets);
    mongo.preInitiate('rsA', desired.replicaSets[0]?.initiateConfig ?? { _id: '', members: [] }, {
      [admin.username]: admin.password,
    });
    mongo.addUsers('10.10.10.14:27017', { [admin.username]: admin.password });

    expect(await ensureServiceUsers(desired, mongo.network, admin, secrets, writable)).toEqual([
      'auth-server@users',
      'web-server@rsA',
    ]);
    expect(mongo.usersOf('10.10.10.14:27017').get('auth-server')?.roles).toEqual([
      { role: 'readWrite', db: 'auth_db' },
    ]);
    expect(mongo.usersOf('rsA').get('web-server')?.roles).toEqual([{ role: 'readWrite', db: 'products_db' }]);
    expect(mongo.usersOf('rsA').has('auth-server')).toBe(false);
    expect(mongo.usersOf('10.10.10.14:27017').has('web-server')).toBe(false);

    expect(await ensureServiceUsers(desired, mongo.network, admin, secrets, writable)).toEqual([]);
  });

  it('repairs a user whose roles or password drifted', async () => {
    const mongo = new FakeMongo(fakeMembers(desired));
    const admin = await adminCredentials(secrets);
    mongo.preInitiate('rsA', desired.replicaSets[0]?.initiateConfig ?? { _id: '', members: [] }, {
      [admin.username]: admin.password,
    });
    mongo.addUsers('10.10.10.14:27017', { [admin.username]: admin.password });
    await ensureServiceUsers(desired, mongo.network, admin, secrets, writable);
    const web = mongo.usersOf('rsA').get('web-server');
    if (web === undefined) throw new Error('missing');
    web.roles = [{ role: 'root', db: 'admin' }];
    const auth = mongo.usersOf('10.10.10.14:27017').get('auth-server');
    if (auth === undefined) throw new Error('missing');
    auth.pwd = 'changed-by-hand';

    expect(await ensureServiceUsers(desired, mongo.network, admin, secrets, writable)).toEqual([
      'auth-server@users',
      'web-server@rsA',
    ]);
    expect(mongo.usersOf('rsA').get('web-server')?.roles).toEqual([{ role: 'readWrite', db: 'products_db' }]);
    expect(mongo.names()).toContain('updateUser');
  });

  it('builds the credentialed connection strings a service receives', async () => {
    const web = desired.services.find((s) => s.name === 'web-server');
    if (web === undefined) throw new Error('fixture');
    const env = await serviceDatabaseEnv(desired, web, secrets);
    const password = await secrets.get('mongodb-user-web-server');
    expect(env).toEqual({
      DB1_URL: `mongodb://web-server:${encodeURIComponent(password)}@10.10.10.12:27017,10.10.10.12:27018,10.10.10.12:27019/products_db?replicaSet=rsA&authSource=admin`,
    });
  });

  it('keeps the keyfile stable per deployment', async () => {
    expect(await deploymentKeyFile(secrets)).toBe(await deploymentKeyFile(secrets));
  });

  it('finds deployments by name', () => {
    expect(findDeployment(desired, 'users').envVar).toBe('DB3_URL');
    expect(() => findDeployment(desired, 'nope')).toThrow(/nope/);
  });
});
