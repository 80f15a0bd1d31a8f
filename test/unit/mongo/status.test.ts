import { describe, expect, it, vi } from 'vitest';
import { observeMongo } from '../../../src/mongo/status.js';
import { desiredState, fakeMembers } from './desired.js';
import { FakeMongo } from './fake-mongo.js';

const desired = desiredState();
const set = desired.replicaSets[0];
if (set === undefined) throw new Error('fixture');
const credentials = { username: 'distctl-admin', password: 'pw' };

function deployed(behaviour: ConstructorParameters<typeof FakeMongo>[1] = {}): FakeMongo {
  const mongo = new FakeMongo(fakeMembers(desired), behaviour);
  mongo.preInitiate('rsA', set?.initiateConfig ?? { _id: '', members: [] }, {
    [credentials.username]: credentials.password,
  });
  mongo.addUsers('10.10.10.14:27017', { [credentials.username]: credentials.password });
  return mongo;
}

describe('observeMongo', () => {
  it('reports member states, health and lag of a healthy set and a reachable standalone, as plain data', async () => {
    const status = await observeMongo(desired, deployed().network, { credentials });

    expect(status.replicaSets).toHaveLength(1);
    const rs = status.replicaSets[0];
    expect(rs).toMatchObject({
      name: 'rsA',
      reachable: true,
      initiated: true,
      primary: '10.10.10.12:27017',
      reportedBy: '10.10.10.12:27017',
    });
    if (rs?.reachable !== true) throw new Error('unreachable');
    expect(rs.members.map((m) => [m.host, m.state, m.health, m.lagSeconds])).toEqual([
      ['10.10.10.12:27017', 'PRIMARY', 1, 0],
      ['10.10.10.12:27018', 'SECONDARY', 1, 2],
      ['10.10.10.12:27019', 'SECONDARY', 1, 2],
    ]);
    expect(status.standalones).toEqual([
      { name: 'users', host: '10.10.10.14:27017', container: 'db3', reachable: true },
    ]);
    expect(JSON.parse(JSON.stringify(status))).toEqual(status);
  });

  it('reports a down member as unhealthy with no lag, asking another member when the preferred one is down', async () => {
    const status = await observeMongo(desired, deployed({ down: ['10.10.10.12:27017'] }).network, { credentials });
    const rs = status.replicaSets[0];
    if (rs?.reachable !== true) throw new Error('unreachable');

    expect(rs.reportedBy).toBe('10.10.10.12:27018');
    expect(rs.members[0]).toEqual({
      host: '10.10.10.12:27017',
      container: 'db1',
      port: 27017,
      state: '(not reachable/healthy)',
      health: 0,
      lagSeconds: null,
    });
  });

  it('returns unreachable sets and standalones as values, never throwing', async () => {
    const mongo = deployed({ down: [...fakeMembers(desired).map((m) => m.host)] });
    const status = await observeMongo(desired, mongo.network, { credentials });

    expect(status.replicaSets[0]).toMatchObject({ name: 'rsA', reachable: false, reason: 'unreachable' });
    expect(status.replicaSets[0]?.reachable === false && status.replicaSets[0].error).toContain(
      '10.10.10.12:27019: connect ECONNREFUSED',
    );
    expect(status.standalones[0]).toEqual({
      name: 'users',
      host: '10.10.10.14:27017',
      container: 'db3',
      reachable: false,
      reason: 'unreachable',
      error: 'connect ECONNREFUSED 10.10.10.14:27017',
    });
  });

  it('detects a set never initiated from hello, even when the admin user cannot exist yet', async () => {
    // No users at all: replSetGetStatus fails authentication, hello still tells.
    const mongo = new FakeMongo(fakeMembers(desired));
    const status = await observeMongo(desired, mongo.network, { credentials });

    expect(status.replicaSets[0]).toMatchObject({
      reachable: true,
      initiated: false,
      primary: null,
      reportedBy: '10.10.10.12:27017',
    });
    expect(status.replicaSets[0]?.reachable === true && status.replicaSets[0].members.map((m) => m.state)).toEqual([
      'NOT_INITIATED',
      'NOT_INITIATED',
      'NOT_INITIATED',
    ]);
  });

  it('reports refused credentials as their own state, not as unreachable', async () => {
    const status = await observeMongo(desired, deployed().network, {
      credentials: { ...credentials, password: 'wrong' },
    });
    expect(status.replicaSets[0]).toMatchObject({ reachable: false, reason: 'unauthorized' });
    expect(status.replicaSets[0]?.reachable === false && status.replicaSets[0].error).toContain(
      'AuthenticationFailed (18)',
    );
  });

  it('reports Unauthorized (13) without credentials as unauthorized', async () => {
    const status = await observeMongo(desired, deployed().network);
    expect(status.replicaSets[0]).toMatchObject({ reachable: false, reason: 'unauthorized' });
    expect(status.replicaSets[0]?.reachable === false && status.replicaSets[0].error).toContain('Unauthorized (13)');
  });

  it("uses another member's answer while the preferred one is still loading its config after a restart", async () => {
    vi.useFakeTimers();
    try {
      const mongo = deployed();
      mongo.restart('10.10.10.12:27017');
      await vi.advanceTimersByTimeAsync(1_200);
      const status = await observeMongo(desired, mongo.network, { credentials });

      expect(status.replicaSets[0]).toMatchObject({
        reachable: true,
        initiated: true,
        reportedBy: '10.10.10.12:27018',
      });
    } finally {
      vi.useRealTimers();
    }
  });
});
