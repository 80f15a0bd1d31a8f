import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DerivedReplicaSet } from '../../../src/derive/types.js';
import { DistctlError } from '../../../src/errors/index.js';
import { ensureReplicaSet, type ReplicaSetProgress, type ReplicaSetResult } from '../../../src/mongo/replset.js';
import { FakeMongo, settle, type FakeBehaviour } from './fake-mongo.js';
import { member, replicaSet } from './desired.js';

const set = replicaSet();
const admin = { username: 'distctl-admin', password: 'admin-secret' };
const A = '10.10.10.12:27017';
const B = '10.10.10.12:27018';
const C = '10.10.10.12:27019';
/** Bounds as in production: polls every second, a minute to reach members, two to become healthy. */
const timing = { reach: { intervalMs: 1_000, timeoutMs: 60_000 }, health: { intervalMs: 1_000, timeoutMs: 120_000 } };

function fake(behaviour: FakeBehaviour = {}, extra: string[] = []): FakeMongo {
  return new FakeMongo(
    [...set.members.map((m) => m.host), ...extra].map((host) => ({ host, replSetName: 'rsA' })),
    behaviour,
  );
}

async function run(
  mongo: FakeMongo,
  target: DerivedReplicaSet = set,
  progress?: ReplicaSetProgress[],
): Promise<{ value?: ReplicaSetResult; error?: DistctlError; ms: number }> {
  const started = Date.now();
  const outcome = await settle(
    ensureReplicaSet(target, { admin: mongo.network, localhost: mongo.localhost }, admin, {
      ...timing,
      onProgress: (p) => progress?.push(p),
    }),
    vi,
  );
  if (outcome.error !== undefined && !(outcome.error instanceof DistctlError)) throw outcome.error;
  return { value: outcome.value, error: outcome.error as DistctlError | undefined, ms: Date.now() - started };
}

describe('ensureReplicaSet', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  it('initiates a fresh set through the localhost path, creates the admin on the primary, and is healthy when the secondaries have synced', async () => {
    const mongo = fake();
    const progress: ReplicaSetProgress[] = [];
    const { value: result, ms } = await run(mongo, set, progress);

    expect(result?.initiated).toBe(true);
    expect(result?.adminUser).toBe('created');
    expect(result?.reconfigured).toEqual([]);
    expect(result?.status.primary).toBe(A);
    expect(result?.status.members.map((m) => m.state)).toEqual(['PRIMARY', 'SECONDARY', 'SECONDARY']);
    // Election after 2 s, secondaries synced after 3 s: healthy at the first poll after that.
    expect(mongo.seen.find((s) => s.name === 'createUser')?.at).toBe(2_000);
    expect(ms).toBe(3_000);
    // Only the two localhost-exception commands take the bootstrap path, each while its proxy is open.
    expect(mongo.names('localhost')).toEqual(['replSetInitiate', 'createUser']);
    expect(mongo.proxyEvents).toEqual([`open ${A}`, `close ${A}`, `open ${A}`, `close ${A}`]);
    expect(mongo.seen.find((s) => s.name === 'replSetInitiate')?.cmd.replSetInitiate).toEqual(set.initiateConfig);
    expect(mongo.usersOf('rsA').get('distctl-admin')?.pwd).toBe('admin-secret');
    expect(
      mongo.seen
        .filter((s) => ['replSetGetStatus', 'replSetGetConfig'].includes(s.name))
        .every((s) => s.user === 'distctl-admin'),
    ).toBe(true);
    expect(mongo.seen.filter((s) => s.name === 'hello').every((s) => s.user === null)).toBe(true);
    expect(progress.some((p) => p.phase === 'syncing' && Object.values(p.states).includes('STARTUP2'))).toBe(true);
    expect(progress.at(-1)?.states).toEqual({ [A]: 'PRIMARY', [B]: 'SECONDARY', [C]: 'SECONDARY' });
  });

  it('does nothing to a set already initiated under the same name with the same config', async () => {
    const mongo = fake();
    mongo.preInitiate('rsA', set.initiateConfig, { 'distctl-admin': 'admin-secret' });
    const { value: result, ms } = await run(mongo);

    expect(result).toMatchObject({ initiated: false, adminUser: 'existing', reconfigured: [], resyncing: [] });
    expect(ms).toBe(0);
    expect(mongo.proxyEvents).toEqual([]);
    expect(mongo.names()).not.toContain('replSetInitiate');
    expect(mongo.names()).not.toContain('replSetReconfig');
    expect(mongo.names()).not.toContain('createUser');
  });

  it('refuses a member that belongs to a set with another name, and changes nothing', async () => {
    const mongo = fake();
    mongo.preInitiate('rsA', { ...set.initiateConfig, _id: 'legacy' });
    const { error } = await run(mongo);

    expect(error?.code).toBe('REPLSET_NAME_MISMATCH');
    expect(error?.message).toContain('"legacy", not "rsA"');
    expect(error?.message).toContain(`${A} (container db1)`);
    expect(mongo.names()).toEqual(['hello', 'hello', 'hello']);
  });

  it('waits for a member that answers late, then initiates', async () => {
    const mongo = fake({ lateMs: { [B]: 2_500 } });
    const progress: ReplicaSetProgress[] = [];
    const { value: result } = await run(mongo, set, progress);

    expect(result?.initiated).toBe(true);
    expect(progress.filter((p) => p.phase === 'reaching-members').map((p) => p.states[B])).toEqual([
      'not answering',
      'not answering',
      'not answering',
      'answering',
    ]);
    expect(mongo.seen.filter((s) => s.name === 'replSetInitiate').map((s) => s.at)).toEqual([3_000]);
  });

  it('names a member that never answers after the one-minute bound, and initiates nothing', async () => {
    const mongo = fake({ down: [C] });
    const { error, ms } = await run(mongo);

    expect(error?.code).toBe('REPLSET_MEMBER_UNREACHABLE');
    expect(error?.message).toContain(`${C} (container db1, mongod-27019.service) did not answer within 60s`);
    expect(error?.message).not.toContain('27018');
    expect(error?.details).toEqual([`${C}: connect ECONNREFUSED ${C}`]);
    expect(ms).toBe(60_000);
    expect(mongo.names()).not.toContain('replSetInitiate');
    expect(mongo.proxyEvents).toEqual([]);
  });

  it('reports the states seen when no primary is elected in time', async () => {
    const mongo = fake({ electionMs: Number.POSITIVE_INFINITY });
    const { error, ms } = await run(mongo);

    expect(error?.code).toBe('REPLSET_NO_PRIMARY');
    expect(error?.details).toEqual([
      `${A}: SECONDARY`,
      `${B}: not yet PRIMARY or SECONDARY → SECONDARY`,
      `${C}: not yet PRIMARY or SECONDARY → SECONDARY`,
    ]);
    expect(ms).toBe(120_000);
    expect(mongo.names()).not.toContain('createUser');
  });

  it('reports the states seen when secondaries never finish syncing', async () => {
    const mongo = fake({ syncMs: Number.POSITIVE_INFINITY });
    const { error } = await run(mongo);

    expect(error?.code).toBe('REPLSET_NOT_HEALTHY');
    expect(error?.details).toEqual([`${A}: PRIMARY`, `${B}: STARTUP2`, `${C}: STARTUP2`]);
  });

  it('explains a configuration mongod rejects (InvalidReplicaSetConfig)', async () => {
    const mongo = new FakeMongo(set.members.map((m) => ({ host: m.host, replSetName: 'rsOther' })));
    const { error } = await run(mongo);

    expect(error?.code).toBe('REPLSET_CONFIG_INVALID');
    expect(error?.message).toContain('InvalidReplicaSetConfig (93)');
    expect(error?.hint).toContain('mongodb.replicaSets "rsA"');
    expect(mongo.proxyEvents).toEqual([`open ${A}`, `close ${A}`]);
  });

  it('explains duplicate hosts, which mongod refuses as BadValue', async () => {
    const twice = {
      ...set,
      initiateConfig: { _id: 'rsA', members: [...set.initiateConfig.members, { _id: 3, host: B, priority: 1 }] },
    };
    const { error } = await run(fake(), twice);

    expect(error?.code).toBe('REPLSET_CONFIG_INVALID');
    expect(error?.message).toContain(
      `BadValue (2): Found two member configurations with same host field, members.1.host == members.3.host == ${B}`,
    );
  });

  it('accepts AlreadyInitialized when the set turns out to carry our name (initiated concurrently)', async () => {
    const mongo = fake();
    const racing = {
      open: <T>(
        target: Parameters<typeof mongo.localhost.open>[0],
        steps: Parameters<typeof mongo.localhost.open<T>>[1],
      ) =>
        mongo.localhost.open(target, async (channel, endpoint) => {
          // Another process initiates between our hello and our replSetInitiate.
          if (!mongo.names().includes('replSetInitiate'))
            await channel.command(target, 'admin', { replSetInitiate: set.initiateConfig });
          return steps(channel, endpoint);
        }),
    };
    const outcome = await settle(ensureReplicaSet(set, { admin: mongo.network, localhost: racing }, admin, timing), vi);

    expect(outcome.value?.initiated).toBe(false);
    expect(mongo.names('localhost').filter((n) => n === 'replSetInitiate')).toHaveLength(2);
    expect(outcome.value?.status.primary).toBe(A);
  });

  it('retries replSetInitiate while members are still loading their config after a restart (NotYetInitialized)', async () => {
    const mongo = fake();
    mongo.preInitiate('rsA', set.initiateConfig, { 'distctl-admin': 'admin-secret' });
    for (const host of [A, B, C]) mongo.restart(host);
    await vi.advanceTimersByTimeAsync(1_000);
    // All three answer hello now, none with a set name yet.
    const { value: result, error } = await run(mongo);

    expect(error).toBeUndefined();
    expect(result?.initiated).toBe(false);
    const attempts = mongo.seen.filter((s) => s.name === 'replSetInitiate');
    expect(attempts.map((s) => s.at)).toEqual([1_000, 2_000]);
    expect(mongo.configOf('rsA')?.version).toBe(1);
  });

  it('says a wiped member is being resynced instead of trying to initiate the set on it', async () => {
    const mongo = fake();
    mongo.preInitiate('rsA', set.initiateConfig, { 'distctl-admin': 'admin-secret' });
    mongo.stop(A);
    mongo.wipe(A);
    mongo.start(A);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(mongo.stateOf(A)).toBe('STARTUP');
    const progress: ReplicaSetProgress[] = [];
    const { value: result, error } = await run(mongo, set, progress);

    expect(error).toBeUndefined();
    expect(result).toMatchObject({ initiated: false, resyncing: [A] });
    expect(progress.map((p) => p.message)).toContain(
      `rsA: ${A} answered without the set's config (data directory emptied?); the set hands it the config and ` +
        `resyncs it`,
    );
    expect(mongo.names()).not.toContain('replSetInitiate');
    expect(result?.status.members.map((m) => [m.host, m.state])).toEqual([
      [A, 'SECONDARY'],
      [B, 'PRIMARY'],
      [C, 'SECONDARY'],
    ]);
  });

  it('refuses to go on when users exist but the stored admin password is not theirs', async () => {
    const mongo = fake();
    mongo.preInitiate('rsA', set.initiateConfig, { 'distctl-admin': 'another-password' });
    const { error } = await run(mongo);

    expect(error?.code).toBe('MONGO_ADMIN_CREDENTIALS_REJECTED');
    expect(error?.message).not.toContain('admin-secret');
    expect(error?.message).not.toContain('another-password');
  });
});

describe('replica-set reconciliation', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  const D = '10.10.10.12:27020';

  it('applies changed priorities in one reconfig, and the member now preferred takes over', async () => {
    const mongo = fake();
    mongo.preInitiate('rsA', set.initiateConfig, { 'distctl-admin': 'admin-secret' });
    const wanted = {
      ...set,
      initiateConfig: {
        _id: 'rsA',
        members: set.initiateConfig.members.map((m) => (m.host === C ? { ...m, priority: 5 } : m)),
      },
    };
    const { value: result } = await run(mongo, wanted);

    expect(result?.reconfigured).toEqual([`${C}: priority 1 → 5`]);
    expect(mongo.configOf('rsA')).toMatchObject({
      version: 2,
      members: [
        { host: A, priority: 3 },
        { host: B, priority: 2 },
        { host: C, priority: 5 },
      ],
    });
    expect(mongo.names().filter((n) => n === 'replSetReconfig')).toHaveLength(1);
  });

  it('adds missing members one voting change at a time, keeping the _ids the set gave', async () => {
    const mongo = fake();
    mongo.preInitiate(
      'rsA',
      { _id: 'rsA', members: [{ _id: 0, host: A, priority: 3 }] },
      { 'distctl-admin': 'admin-secret' },
    );
    const { value: result } = await run(mongo);

    expect(result?.reconfigured).toEqual([`add ${B} (priority 2)`, `add ${C} (priority 1)`]);
    // New to the set, not emptied: nothing to resync.
    expect(result?.resyncing).toEqual([]);
    const reconfigs = mongo.seen
      .filter((s) => s.name === 'replSetReconfig')
      .map((s) => s.cmd.replSetReconfig as { version: number; members: { _id: number; host: string }[] });
    expect(reconfigs.map((c) => [c.version, c.members.map((m) => `${m._id}=${m.host}`)])).toEqual([
      [2, [`0=${A}`, `1=${B}`]],
      [3, [`0=${A}`, `1=${B}`, `2=${C}`]],
    ]);
    expect(result?.status.members.map((m) => m.state)).toEqual(['PRIMARY', 'SECONDARY', 'SECONDARY']);
  });

  it('moves a member to a new address as an add, then a remove', async () => {
    const mongo = fake({}, [D]);
    mongo.preInitiate('rsA', set.initiateConfig, { 'distctl-admin': 'admin-secret' });
    const moved = { ...set, members: [set.members[0]!, set.members[1]!, member('db1', '10.10.10.12', 27020, 3, 1, 2)] };
    const wanted = {
      ...moved,
      initiateConfig: {
        _id: 'rsA',
        members: moved.members.map((m) => ({ _id: m.id, host: m.host, priority: m.priority })),
      },
    };
    const { value: result } = await run(mongo, wanted);

    expect(result?.reconfigured).toEqual([`add ${D} (priority 1)`, `remove ${C}`]);
    expect(mongo.configOf('rsA')?.members.map((m) => `${m._id}=${m.host}`)).toEqual([`0=${A}`, `1=${B}`, `3=${D}`]);
  });

  it('stops with the differences and what to do when the change would remove the primary', async () => {
    const mongo = fake({}, [D]);
    mongo.preInitiate(
      'rsA',
      { _id: 'rsA', members: [...set.initiateConfig.members, { _id: 3, host: D, priority: 9 }] },
      { 'distctl-admin': 'admin-secret' },
    );
    const { error } = await run(mongo);

    expect(error?.code).toBe('REPLSET_RECONFIG_REFUSED');
    expect(error?.message).toBe(
      `Replica set rsA differs from topology.yaml, and distctl cannot apply it: ${D} is the primary, and a primary ` +
        `cannot remove itself.`,
    );
    expect(error?.hint).toBe(`To do: step it down first (\`rs.stepDown()\` on ${D}), then rerun \`distctl up\`.`);
    expect(error?.details).toEqual([`rsA: remove ${D}`]);
    expect(mongo.names()).not.toContain('replSetReconfig');
  });

  it("reports mongod's refusal with the differences when an added member does not answer", async () => {
    const mongo = fake({ down: [B, C] });
    mongo.preInitiate(
      'rsA',
      { _id: 'rsA', members: [{ _id: 0, host: A, priority: 3 }] },
      { 'distctl-admin': 'admin-secret' },
    );
    const { error } = await run(mongo);

    expect(error?.code).toBe('REPLSET_RECONFIG_REFUSED');
    expect(error?.message).toContain(
      `mongod refused add ${B} (priority 2): NodeNotFound (74): Quorum check failed because not enough voting nodes ` +
        `responded; required 2 but only 1 voting nodes responded`,
    );
    expect(error?.details).toEqual([`rsA: add ${B} (priority 2)`, `rsA: add ${C} (priority 1)`]);
    expect(mongo.configOf('rsA')?.version).toBe(1);
  });
});
