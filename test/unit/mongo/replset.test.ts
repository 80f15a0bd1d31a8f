import { describe, expect, it } from 'vitest';
import { DistctlError } from '../../../src/errors/index.js';
import { ensureReplicaSet, type ReplicaSetProgress } from '../../../src/mongo/replset.js';
import { FakeMongo } from './fake-mongo.js';
import { replicaSet } from './desired.js';

const set = replicaSet();
const admin = { username: 'distctl-admin', password: 'admin-secret' };
const fast = { reach: { intervalMs: 1, timeoutMs: 200 }, health: { intervalMs: 1, timeoutMs: 200 } };

function fake(behaviour: ConstructorParameters<typeof FakeMongo>[1] = {}): FakeMongo {
  return new FakeMongo(set.members.map((m) => ({ host: m.host, replSetName: 'rsA' })), behaviour);
}

async function failure(promise: Promise<unknown>): Promise<DistctlError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(DistctlError);
  return error as DistctlError;
}

describe('ensureReplicaSet', () => {
  it('initiates a fresh set through loopback with the derived config, creates the admin on the primary, and waits until healthy', async () => {
    const mongo = fake();
    const progress: ReplicaSetProgress[] = [];
    const result = await ensureReplicaSet(set, { admin: mongo.network, loopback: mongo.loopback }, admin, { ...fast, onProgress: (p) => progress.push(p) });

    expect(result.initiated).toBe(true);
    expect(result.adminUser).toBe('created');
    expect(result.status.primary).toBe('10.10.10.12:27017');
    expect(result.status.members.map((m) => m.state)).toEqual(['PRIMARY', 'SECONDARY', 'SECONDARY']);
    // Only the two localhost-exception commands go through the container.
    expect(mongo.names('loopback')).toEqual(['replSetInitiate', 'createUser']);
    const initiate = mongo.seen.find((s) => s.name === 'replSetInitiate');
    expect(initiate?.host).toBe('10.10.10.12:27017');
    expect(initiate?.cmd.replSetInitiate).toEqual(set.initiateConfig);
    expect(mongo.seen.find((s) => s.name === 'createUser')?.cmd.roles).toEqual([{ role: 'root', db: 'admin' }]);
    expect(mongo.usersOf('rsA').get('distctl-admin')?.pwd).toBe('admin-secret');
    // Status polling is authenticated; hello never is.
    expect(mongo.seen.filter((s) => s.name === 'replSetGetStatus').every((s) => s.user === 'distctl-admin')).toBe(true);
    expect(mongo.seen.filter((s) => s.name === 'hello').every((s) => s.user === null)).toBe(true);
    // States were reported while waiting, including members still syncing.
    expect(progress.some((p) => p.phase === 'syncing' && Object.values(p.states).includes('STARTUP2'))).toBe(true);
    expect(progress.at(-1)?.states).toEqual({ '10.10.10.12:27017': 'PRIMARY', '10.10.10.12:27018': 'SECONDARY', '10.10.10.12:27019': 'SECONDARY' });
  });

  it('does nothing to a set already initiated under the same name', async () => {
    const mongo = fake();
    mongo.preInitiate('rsA', set.initiateConfig, { 'distctl-admin': 'admin-secret' });
    const result = await ensureReplicaSet(set, { admin: mongo.network, loopback: mongo.loopback }, admin, fast);

    expect(result.initiated).toBe(false);
    expect(result.adminUser).toBe('existing');
    expect(mongo.names('loopback')).toEqual([]);
    expect(mongo.names()).not.toContain('replSetInitiate');
    expect(mongo.names()).not.toContain('createUser');
  });

  it('refuses a member that belongs to a set with another name, and changes nothing', async () => {
    const mongo = fake();
    mongo.preInitiate('rsA', { ...set.initiateConfig, _id: 'legacy' });
    const error = await failure(ensureReplicaSet(set, { admin: mongo.network, loopback: mongo.loopback }, admin, fast));

    expect(error.code).toBe('REPLSET_NAME_MISMATCH');
    expect(error.message).toContain('"legacy", not "rsA"');
    expect(error.message).toContain('10.10.10.12:27017 (container db1)');
    expect(mongo.names()).toEqual(['hello']);
  });

  it('waits for a member that answers late, then initiates', async () => {
    const mongo = fake({ lateCalls: { '10.10.10.12:27018': 3 } });
    const progress: ReplicaSetProgress[] = [];
    const result = await ensureReplicaSet(set, { admin: mongo.network, loopback: mongo.loopback }, admin, { ...fast, onProgress: (p) => progress.push(p) });

    expect(result.initiated).toBe(true);
    expect(progress.some((p) => p.phase === 'reaching-members' && p.states['10.10.10.12:27018'] === 'not answering')).toBe(true);
    expect(mongo.names('loopback').filter((n) => n === 'replSetInitiate')).toHaveLength(1);
  });

  it('names a member that never answers, and initiates nothing', async () => {
    const mongo = fake({ down: ['10.10.10.12:27019'] });
    const error = await failure(ensureReplicaSet(set, { admin: mongo.network, loopback: mongo.loopback }, admin, fast));

    expect(error.code).toBe('REPLSET_MEMBER_UNREACHABLE');
    expect(error.message).toContain('10.10.10.12:27019 (container db1, mongod-27019.service)');
    expect(error.message).not.toContain('27018');
    expect(error.details.join('\n')).toContain('ECONNREFUSED');
    expect(mongo.names()).not.toContain('replSetInitiate');
  });

  it('reports the states seen when no primary is elected in time', async () => {
    const mongo = fake({ electAfter: Number.POSITIVE_INFINITY });
    const error = await failure(ensureReplicaSet(set, { admin: mongo.network, loopback: mongo.loopback }, admin, fast));

    expect(error.code).toBe('REPLSET_NO_PRIMARY');
    expect(error.details).toContain('10.10.10.12:27017: SECONDARY');
    expect(error.details.find((line) => line.startsWith('10.10.10.12:27018'))).toContain('not yet PRIMARY or SECONDARY');
    expect(mongo.names()).not.toContain('createUser');
  });

  it('reports the states seen when secondaries never finish syncing', async () => {
    const mongo = fake({ syncAfter: Number.POSITIVE_INFINITY });
    const error = await failure(ensureReplicaSet(set, { admin: mongo.network, loopback: mongo.loopback }, admin, fast));

    expect(error.code).toBe('REPLSET_NOT_HEALTHY');
    expect(error.details).toEqual(['10.10.10.12:27017: PRIMARY', '10.10.10.12:27018: STARTUP2', '10.10.10.12:27019: STARTUP2']);
  });

  it('explains a configuration mongod rejects (InvalidReplicaSetConfig)', async () => {
    const mongo = new FakeMongo(set.members.map((m) => ({ host: m.host, replSetName: 'rsOther' })));
    const error = await failure(ensureReplicaSet(set, { admin: mongo.network, loopback: mongo.loopback }, admin, fast));

    expect(error.code).toBe('REPLSET_CONFIG_INVALID');
    expect(error.message).toContain('InvalidReplicaSetConfig (93)');
    expect(error.hint).toContain('mongodb.replicaSets "rsA"');
  });

  it('accepts AlreadyInitialized when the set turns out to carry our name (initiated concurrently)', async () => {
    const mongo = fake();
    const racing = { command: async (...args: Parameters<typeof mongo.loopback.command>) => {
      // Another process initiates between our hello and our replSetInitiate.
      if (!mongo.names().includes('replSetInitiate')) await mongo.loopback.command(...args);
      return mongo.loopback.command(...args);
    } };
    const result = await ensureReplicaSet(set, { admin: mongo.network, loopback: racing }, admin, fast);

    expect(result.initiated).toBe(false);
    expect(mongo.names('loopback').filter((n) => n === 'replSetInitiate')).toHaveLength(2);
    expect(result.status.primary).toBe('10.10.10.12:27017');
  });

  it('refuses to go on when users exist but the stored admin password is not theirs', async () => {
    const mongo = fake();
    mongo.preInitiate('rsA', set.initiateConfig, { 'distctl-admin': 'another-password' });
    const error = await failure(ensureReplicaSet(set, { admin: mongo.network, loopback: mongo.loopback }, admin, fast));

    expect(error.code).toBe('MONGO_ADMIN_CREDENTIALS_REJECTED');
    expect(error.message).not.toContain('admin-secret');
    expect(error.message).not.toContain('another-password');
  });
});
