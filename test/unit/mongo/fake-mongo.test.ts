/**
 * The fake replica set refuses what mongod refuses and keeps mongod's documented timing; the tier's tests lean on both.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MongoCommandError } from '../../../src/mongo/admin.js';
import { replicaSet } from './desired.js';
import { FakeMongo } from './fake-mongo.js';

const set = replicaSet();
const [a, b] = set.members;
if (a === undefined || b === undefined) throw new Error('fixture');
const A = a.host;
const B = b.host;
const C = '10.10.10.12:27019';
const root = { 'distctl-admin': 'pw' };
const creds = { credentials: { username: 'distctl-admin', password: 'pw' } };

function fake(down: string[] = []): FakeMongo {
  return new FakeMongo(
    set.members.map((m) => ({ host: m.host, replSetName: 'rsA' })),
    { down },
  );
}

async function refusal(promise: Promise<unknown>): Promise<{ code: number; codeName: string; message: string }> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MongoCommandError);
  const { code, codeName, message } = error as MongoCommandError;
  return { code, codeName, message };
}

const initiate = (mongo: FakeMongo, members: { _id: number; host: string; priority: number }[]) =>
  mongo.localhost.open(a, (channel) => channel.command(a, 'admin', { replSetInitiate: { _id: 'rsA', members } }));

describe('fake mongod: refuses what mongod refuses', () => {
  it('replSetInitiate naming a host that does not answer (quorum check)', async () => {
    expect(await refusal(initiate(fake([C]), set.initiateConfig.members.slice()))).toEqual({
      code: 74,
      codeName: 'NodeNotFound',
      message:
        `replSetInitiate quorum check failed because not all proposed set members responded affirmatively: ` +
        `${C} failed with Connection refused`,
    });
  });

  it('a config that leaves out the node receiving it', async () => {
    expect(await refusal(initiate(fake(), [{ _id: 1, host: B, priority: 1 }]))).toEqual({
      code: 74,
      codeName: 'NodeNotFound',
      message:
        'No host described in new configuration with {version: 1, term: 0} for replica set rsA maps to this node',
    });
  });

  it('duplicate member _ids or hosts', async () => {
    expect(
      await refusal(
        initiate(fake(), [
          { _id: 0, host: A, priority: 1 },
          { _id: 0, host: B, priority: 1 },
        ]),
      ),
    ).toEqual({
      code: 2,
      codeName: 'BadValue',
      message: 'Found two member configurations with same _id field, members.0._id == members.1._id == 0',
    });
    expect(
      await refusal(
        initiate(fake(), [
          { _id: 0, host: A, priority: 1 },
          { _id: 1, host: A, priority: 1 },
        ]),
      ),
    ).toEqual({
      code: 2,
      codeName: 'BadValue',
      message: `Found two member configurations with same host field, members.0.host == members.1.host == ${A}`,
    });
  });

  it('createUser on a SECONDARY, even through the localhost exception', async () => {
    const mongo = fake();
    mongo.preInitiate('rsA', set.initiateConfig);
    const onSecondary = mongo.localhost.open(b, (channel) =>
      channel.command(b, 'admin', { createUser: 'x', pwd: 'y', roles: [] }),
    );
    expect(await refusal(onSecondary)).toEqual({ code: 10107, codeName: 'NotWritablePrimary', message: 'not primary' });
    expect(mongo.usersOf('rsA').size).toBe(0);
  });

  it('a reconfig that adds two voting members at once, or one sent to a secondary', async () => {
    const mongo = new FakeMongo([A, B, C].map((host) => ({ host, replSetName: 'rsA' })));
    mongo.preInitiate('rsA', { _id: 'rsA', members: [{ _id: 0, host: A, priority: 1 }] }, root);
    const twoAtOnce = {
      _id: 'rsA',
      version: 2,
      members: [0, 1, 2].map((id) => ({ _id: id, host: [A, B, C][id], priority: 1, votes: 1 })),
    };
    expect(await refusal(mongo.network.command(a, 'admin', { replSetReconfig: twoAtOnce }, creds))).toEqual({
      code: 93,
      codeName: 'InvalidReplicaSetConfig',
      message: 'Non force replica set reconfig can only add or remove at most 1 voting member.',
    });
    expect(await refusal(mongo.network.command(b, 'admin', { replSetReconfig: twoAtOnce }, creds))).toMatchObject({
      code: 94,
    });
  });
});

describe('fake mongod: documented timing on fake timers', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it('elects the preferred member 2 s after initiation; the others are SECONDARY after 3 s', async () => {
    const mongo = fake();
    await initiate(mongo, set.initiateConfig.members.slice());
    await vi.advanceTimersByTimeAsync(1_999);
    expect([A, B, C].map((h) => mongo.stateOf(h))).toEqual(['SECONDARY', 'STARTUP2', 'STARTUP2']);
    await vi.advanceTimersByTimeAsync(1);
    expect(mongo.stateOf(A)).toBe('PRIMARY');
    await vi.advanceTimersByTimeAsync(1_000);
    expect([A, B, C].map((h) => mongo.stateOf(h))).toEqual(['PRIMARY', 'SECONDARY', 'SECONDARY']);
  });

  it('answers NotWritablePrimary during a priority takeover, until the returning member has won', async () => {
    const mongo = fake();
    mongo.preInitiate('rsA', set.initiateConfig, root);
    mongo.stop(A);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(mongo.stateOf(B)).toBe('PRIMARY');
    mongo.start(A);
    // Answers after 1 s, has its config after 1.5 s, SECONDARY after 4.5 s, takes over 3 s later.
    await vi.advanceTimersByTimeAsync(7_499);
    expect([mongo.stateOf(A), mongo.stateOf(B)]).toEqual(['SECONDARY', 'PRIMARY']);
    await vi.advanceTimersByTimeAsync(1);
    expect([mongo.stateOf(A), mongo.stateOf(B)]).toEqual(['SECONDARY', 'SECONDARY']);
    expect(
      await refusal(mongo.network.command(b, 'admin', { createUser: 'w', pwd: 'p', roles: [] }, creds)),
    ).toMatchObject({ code: 10107 });
    await vi.advanceTimersByTimeAsync(2_000);
    expect([mongo.stateOf(A), mongo.stateOf(B)]).toEqual(['PRIMARY', 'SECONDARY']);
  });

  it('right after a restart answers hello without a set name and replSetGetStatus with NotYetInitialized', async () => {
    const mongo = fake();
    mongo.preInitiate('rsA', set.initiateConfig, root);
    mongo.restart(B);
    await vi.advanceTimersByTimeAsync(1_000);
    const hello = await mongo.network.command(b, 'admin', { hello: 1 });
    expect(hello.setName).toBeUndefined();
    expect(await refusal(mongo.network.command(b, 'admin', { replSetGetStatus: 1 }, creds))).toMatchObject({
      code: 94,
      codeName: 'NotYetInitialized',
    });
    await vi.advanceTimersByTimeAsync(500);
    expect((await mongo.network.command(b, 'admin', { hello: 1 })).setName).toBe('rsA');
  });
});
