/**
 * The loss of a whole Incus cluster member (`failover-test --kill-member`),
 * at the engine level: two spread replica sets under one outage, timed by the
 * fake sets' MongoDB timings, every figure exact.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DerivedReplicaSet, DesiredState, ReplicaSetMember } from '../../../src/derive/types.js';
import { DistctlError } from '../../../src/errors/index.js';
import { createUi } from '../../../src/cli/ui.js';
import { renderReports } from '../../../src/commands/failover-test.js';
import { runMemberLossTest, type FailoverReport, type MemberLossDeps } from '../../../src/failover/index.js';
import { exposureTo, refuseMajorityLoss } from '../../../src/failover/member-loss.js';
import { WORKLOAD_SERVER_SELECTION_TIMEOUT_MS } from '../../../src/failover/mongo-target.js';
import type { MongoAdmin } from '../../../src/mongo/admin.js';
import { member } from '../mongo/desired.js';
import { settle } from '../mongo/fake-mongo.js';
import { TimedReplicaSet, TimedWriteTarget } from './timed-set.js';

const credentials = { username: 'distctl-admin', password: 'x' };
const T0 = Date.parse('2026-11-28T12:00:00.000Z');

/** A set of three members, each in its own container (`<prefix>1..3`), priorities 3, 2, 1. */
function spreadSet(name: string, prefix: string, subnet: string): DerivedReplicaSet {
  const members = [1, 2, 3].map((n) => member(`${prefix}${n}`, `${subnet}.${10 + n}`, 27017, 1, 4 - n, n - 1, name));
  return {
    name,
    database: 'products_db',
    envVar: `${name.toUpperCase()}_URL`,
    url: `mongodb://${members.map((m) => m.host).join(',')}/products_db?replicaSet=${name}`,
    members,
    initiateConfig: { _id: name, members: members.map((m) => ({ _id: m.id, host: m.host, priority: m.priority })) },
  };
}

// Cluster member n1 runs a1 (rsA's PRIMARY, priority 3) and b2 (an rsB SECONDARY).
const rsA = spreadSet('rsA', 'a', '10.20.0');
const rsB = spreadSet('rsB', 'b', '10.20.1');
const [a1, a2] = rsA.members as [ReplicaSetMember, ReplicaSetMember, ReplicaSetMember];
const [b1, b2] = rsB.members as [ReplicaSetMember, ReplicaSetMember, ReplicaSetMember];

/** One admin over both fake sets, routing each command to the set that holds the member. */
function routed(fakes: readonly TimedReplicaSet[]): MongoAdmin {
  const owner = (host: string) => fakes.find((fake) => fake.set.members.some((one) => one.host === host))!;
  return {
    command: (target, db, cmd, options) => owner(target.host).command(target, db, cmd, options),
    close: async () => undefined,
  };
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('runMemberLossTest', () => {
  it('stops the member once for every set it hits, times the one election, keeps the other PRIMARY', async () => {
    const fakeA = new TimedReplicaSet(rsA, credentials);
    const fakeB = new TimedReplicaSet(rsB, credentials);
    const events: string[] = [];
    const deps: MemberLossDeps = {
      admin: routed([fakeA, fakeB]),
      credentials,
      member: 'n1',
      containers: ['a1', 'b2'],
      sets: [
        { set: rsA, target: new TimedWriteTarget(fakeA, WORKLOAD_SERVER_SELECTION_TIMEOUT_MS), lost: [a1] },
        { set: rsB, target: new TimedWriteTarget(fakeB, WORKLOAD_SERVER_SELECTION_TIMEOUT_MS), lost: [b2] },
      ],
      stopContainers: async () => {
        events.push('stop a1, b2');
        fakeA.powerOff(a1.host);
        fakeB.powerOff(b2.host);
      },
      startContainers: async () => {
        events.push('start a1, b2');
        fakeA.powerOn(a1.host);
        fakeB.powerOn(b2.host);
      },
      onProgress: (message) => events.push(message),
    };
    const { value: reports, error } = await settle(runMemberLossTest(deps), vi);
    if (reports === undefined) throw error;

    // One stop and one start of the whole member, whatever the number of sets.
    expect(events.filter((event) => event.startsWith('stop ') || event.startsWith('start '))).toEqual([
      'stop a1, b2',
      'start a1, b2',
    ]);
    expect(events).toContain(
      `n1 (member-loss): stopping a1, b2 on n1 at once (incus stop --force): ${a1.host}, ${b2.host}`,
    );
    expect(fakeA.unitLog).toEqual([`power off ${a1.host}`, `power on ${a1.host}`]);
    expect(fakeB.unitLog).toEqual([`power off ${b2.host}`, `power on ${b2.host}`]);

    const [reportA, reportB] = reports;
    // rsA lost its PRIMARY: the others elect after the 10 s election timeout (no handoff from a dead host);
    // nothing restarts mongod until distctl starts the containers when the writes have stopped (13.005 s after the
    // stop), SECONDARY 3 s later, and a1 (priority 3) takes PRIMARY back one election timeout after that.
    expect(reportA).toMatchObject({
      replicaSet: 'rsA',
      mode: 'member-loss',
      primaryBefore: a1.host,
      stoppedMember: a1.host,
      stoppedMembers: [a1.host],
      newPrimary: a2.host,
      electionSeconds: 10,
      electionReason: 'electionTimeout',
      electionSeenSeconds: 10,
      stopReturnedSeconds: 0,
      restart: { by: 'distctl', rejoinedAs: 'SECONDARY', afterSeconds: 3 },
      primaryAtEnd: a1.host,
      primaryBackSeconds: 26.005,
      problems: [],
    });
    expect(reportA?.writes).toMatchObject({
      total: 62,
      acknowledged: 57,
      failed: 5,
      acknowledgedButLost: [],
      failedButApplied: [],
      errors: { [`connect ECONNREFUSED ${a1.host}`]: 1, 'Server selection timed out after 2000 ms': 4 },
    });
    // rsB lost a SECONDARY only: no election, no write waited or failed.
    expect(reportB).toMatchObject({
      replicaSet: 'rsB',
      primaryBefore: b1.host,
      stoppedMember: null,
      stoppedMembers: [b2.host],
      newPrimary: null,
      electionSeconds: null,
      restart: { by: 'distctl', rejoinedAs: 'SECONDARY', afterSeconds: 3 },
      primaryAtEnd: b1.host,
      problems: [],
    });
    expect(reportB?.writes).toMatchObject({ acknowledged: reportB?.writes.total, failed: 0, acknowledgedButLost: [] });
    expect(reportB?.replication?.members).toEqual([
      { host: b1.host, state: 'PRIMARY', readable: null },
      { host: b2.host, state: 'SECONDARY', readable: true },
      { host: rsB.members[2]!.host, state: 'SECONDARY', readable: true },
    ]);
  });
});

describe('the majority rule of a member loss', () => {
  const desired = { replicaSets: [rsA, rsB] } as unknown as DesiredState;

  it('names the sets a member hits and whether each keeps its majority', () => {
    expect(
      exposureTo(desired, new Set(['a1', 'a2', 'b3'])).map(({ set, lost, keepsMajority }) => [
        set.name,
        lost.map((one) => one.container),
        keepsMajority,
      ]),
    ).toEqual([
      ['rsA', ['a1', 'a2'], false],
      ['rsB', ['b3'], true],
    ]);
    expect(exposureTo(desired, new Set(['web']))).toEqual([]);
  });

  it('refuses a loss that takes a majority, says which set and why, unless forced', () => {
    const exposures = exposureTo(desired, new Set(['a1', 'a2', 'b3']));
    const refusal = (() => {
      try {
        refuseMajorityLoss(exposures, 'n1', { what: 'killing n1', consequence: 'so nothing is proven', force: false });
      } catch (error) {
        return error;
      }
      return null;
    })();
    expect(refusal).toBeInstanceOf(DistctlError);
    expect(refusal).toMatchObject({
      code: 'MEMBER_LOSS_NO_MAJORITY',
      message: 'killing n1 would leave replica set rsA without a majority; nothing was changed',
      details: [
        `rsA: 2 of its 3 voting members run on n1 (${a1.host} in a1, ${a2.host} in a2); the 1 left cannot elect ` +
          'a PRIMARY or acknowledge a w:"majority" write, so nothing is proven',
      ],
    });
    expect(() =>
      refuseMajorityLoss(exposures, 'n1', { what: 'killing n1', consequence: 'so nothing is proven', force: true }),
    ).not.toThrow();
    expect(() =>
      refuseMajorityLoss(exposureTo(desired, new Set(['a1', 'b1'])), 'n1', {
        what: 'killing n1',
        consequence: '',
        force: false,
      }),
    ).not.toThrow();
  });
});

describe('the member-loss report', () => {
  const ui = createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 });
  const kept: FailoverReport = {
    replicaSet: 'rsB',
    mode: 'member-loss',
    primaryBefore: b1.host,
    stoppedMember: null,
    stoppedMembers: [b2.host],
    newPrimary: null,
    electionSeconds: null,
    electionReason: null,
    electionSeenSeconds: null,
    stopReturnedSeconds: 0.2,
    writes: {
      total: 60,
      acknowledged: 60,
      failed: 0,
      acknowledgedButLost: [],
      failedButApplied: [],
      latency: { p50Ms: 5, p95Ms: 5, p99Ms: 5, maxMs: 6 },
      errors: {},
    },
    replication: {
      seq: 60,
      members: [
        { host: b1.host, state: 'PRIMARY', readable: null },
        { host: b2.host, state: 'SECONDARY', readable: true },
      ],
    },
    restart: { by: 'distctl', rejoinedAs: 'SECONDARY', afterSeconds: 3 },
    primaryAtEnd: b1.host,
    primaryBackSeconds: 0.3,
    problems: [],
  };

  it('says the PRIMARY was kept and no election was needed, and who was stopped and started', () => {
    expect(renderReports([kept], ui).split('\n').slice(0, 3)).toEqual([
      'replica set rsB — cluster member loss (incus stop --force)',
      `  stopped           ${b2.host} (not the PRIMARY)`,
      `  new PRIMARY       not needed: PRIMARY ${b1.host} was not stopped`,
    ]);
    expect(renderReports([kept], ui).split('\n')).toContain(
      `  ${b2.host} back: yes, SECONDARY 3.0 s after (containers started by distctl)`,
    );
    const lostBoth = { ...kept, stoppedMember: b1.host, stoppedMembers: [b1.host, b2.host] };
    expect(renderReports([lostBoth], ui).split('\n')[1]).toBe(`  stopped PRIMARY   ${b1.host} and ${b2.host}`);
  });
});
