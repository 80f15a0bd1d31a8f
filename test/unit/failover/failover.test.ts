import { createServer, type Server } from 'node:net';
import { MongoServerSelectionError } from 'mongodb';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ReplicaSetMember } from '../../../src/derive/types.js';
import { DistctlError } from '../../../src/errors/index.js';
import { runFailoverTest, type FailoverDeps, type FailoverReport } from '../../../src/failover/index.js';
import {
  MongoWriteTarget,
  WORKLOAD_SERVER_SELECTION_TIMEOUT_MS,
  workloadClientOptions,
} from '../../../src/failover/mongo-target.js';
import { latencyPercentiles, writeFates } from '../../../src/failover/workload.js';
import { replicaSet } from '../mongo/desired.js';
import { MONGOD_TIMING, TimedReplicaSet, TimedWriteTarget } from './timed-set.js';

const set = replicaSet('rsA', 'db1', '10.10.10.12');
const [m0, m1, m2] = set.members as [ReplicaSetMember, ReplicaSetMember, ReplicaSetMember];
const credentials = { username: 'distctl-admin', password: 'x' };
const T0 = Date.parse('2026-11-28T12:00:00.000Z');

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Runs fake time timer by timer until `promise` settles; says when (ms after T0) and with what. */
async function settle<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown; atMs: number }> {
  let outcome: { value?: T; error?: unknown; atMs: number } | undefined;
  promise.then(
    (value) => (outcome = { value, atMs: Date.now() - T0 }),
    (error: unknown) => (outcome = { error, atMs: Date.now() - T0 }),
  );
  for (let step = 0; outcome === undefined && step < 100_000; step++) await vi.advanceTimersToNextTimerAsync();
  if (outcome === undefined) throw new Error('never settled');
  return outcome;
}

function deps(fake: TimedReplicaSet, target: TimedWriteTarget, overrides: Partial<FailoverDeps> = {}): FailoverDeps {
  return {
    admin: fake,
    credentials,
    target,
    stopMember: async (member, mode) => (mode === 'crash' ? fake.sigkill(member.host) : fake.sigterm(member.host)),
    startMember: async (member) => fake.start(member.host),
    ...overrides,
  };
}

async function report(
  fake: TimedReplicaSet,
  target: TimedWriteTarget,
  overrides: Partial<FailoverDeps> = {},
): Promise<FailoverReport> {
  const { value, error } = await settle(runFailoverTest(set, deps(fake, target, overrides)));
  if (value === undefined) throw error;
  return value;
}

function setup(): { fake: TimedReplicaSet; target: TimedWriteTarget } {
  const fake = new TimedReplicaSet(set, credentials);
  return { fake, target: new TimedWriteTarget(fake, WORKLOAD_SERVER_SELECTION_TIMEOUT_MS) };
}

describe('runFailoverTest, stepdown mode (systemctl stop: SIGTERM)', () => {
  it('times the election from the handoff, not from the stop, which returns only after the 15 s quiesce', async () => {
    const { fake, target } = setup();
    const seen: string[] = [];
    const result = await report(fake, target, { mode: 'stepdown', onProgress: (message) => seen.push(message) });
    expect(result).toMatchObject({
      replicaSet: 'rsA',
      mode: 'stepdown',
      stoppedMember: m0.host,
      newPrimary: m1.host,
      // Warmup 3 s, then SIGTERM: handoff election 0.2 s later, seen by the 0.25 s poll;
      // the stop returns after the quiesce.
      electionSeconds: 0.2,
      electionReason: 'stepUpRequestSkipDryRun',
      electionSeenSeconds: 0.25,
      stopReturnedSeconds: 15,
      restart: { by: 'distctl', rejoinedAs: 'SECONDARY', afterSeconds: 3 },
      primaryAtEnd: m0.host,
      // Started once the stop returned (15 s) and the last write ended (5 ms), SECONDARY 3 s later,
      // priority takeover 10 s after.
      primaryBackSeconds: 28.005,
      problems: [],
    });
    // 30 writes in the warmup; the one sent at the stop waits 0.6 s for the drained new PRIMARY;
    // then one every 100 ms until the stop returns.
    expect(result.writes).toEqual({
      total: 175,
      acknowledged: 175,
      failed: 0,
      acknowledgedButLost: [],
      failedButApplied: [],
      latency: { p50Ms: 5, p95Ms: 5, p99Ms: 5, maxMs: 605 },
      errors: {},
    });
    expect(result.replication).toEqual({
      seq: 175,
      members: [
        { host: m0.host, state: 'SECONDARY', readable: true },
        { host: m1.host, state: 'PRIMARY', readable: null },
        { host: m2.host, state: 'SECONDARY', readable: true },
      ],
    });
    expect(fake.unitLog).toEqual([`stop ${m0.host}`, `start ${m0.host}`]);
    expect(seen).toEqual([
      `rsA (stepdown): PRIMARY is ${m0.host}; writing every 100 ms`,
      `rsA (stepdown): stopping mongod-27017.service in db1 (PRIMARY ${m0.host})`,
      `rsA (stepdown): ${m1.host} is PRIMARY, seen 0.25 s after the stop`,
      'rsA (stepdown): waiting for mongod-27017.service to finish its shutdown quiesce',
      'rsA (stepdown): starting mongod-27017.service in db1 again',
      `rsA (stepdown): waiting for ${m0.host} (priority 3) to take PRIMARY back`,
    ]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('never asks the stopped member while it is away', async () => {
    const { fake, target } = setup();
    const asked: { host: string; atMs: number }[] = [];
    const command = fake.command.bind(fake);
    fake.command = async (...args) => {
      asked.push({ host: args[0].host, atMs: Date.now() - T0 });
      return command(...args);
    };
    await report(fake, target);
    // From the SIGTERM (3 s) until distctl starts it again (when the stop returns, at 18 s).
    const away = asked.filter((entry) => entry.atMs >= 3_000 && entry.atMs < 18_000);
    expect(new Set(away.map((entry) => entry.host))).toEqual(new Set([m1.host, m2.host]));
    expect(asked.filter((entry) => entry.host === m0.host && entry.atMs < 3_000)).not.toEqual([]);
  });

  it('reports a set that elects no new PRIMARY, and still restarts the member', async () => {
    const { fake, target } = setup();
    fake.electionsDisabled = true;
    const result = await report(fake, target, {
      timings: { electionTimeoutMs: 5_000, takeoverTimeoutMs: 1_000, replicationTimeoutMs: 1_000 },
    });
    expect(result.newPrimary).toBeNull();
    expect(result.electionSeconds).toBeNull();
    expect(result.problems[0]).toBe(`no new PRIMARY within 5 s of stopping ${m0.host}`);
    expect(fake.unitLog).toEqual([`stop ${m0.host}`, `start ${m0.host}`]);
  });

  it('restarts the member when the stop fails, and stops watching the election at once', async () => {
    const { fake, target } = setup();
    let started = 0;
    const outcome = await settle(
      runFailoverTest(
        set,
        deps(fake, target, {
          stopMember: async () => {
            throw new DistctlError(
              'CONTAINER_COMMAND_FAILED',
              'Stopping mongod-27017.service failed in container db1 (exit 1)',
            );
          },
          startMember: async () => void (started += 1),
        }),
      ),
    );
    expect((outcome.error as Error).message).toBe('Stopping mongod-27017.service failed in container db1 (exit 1)');
    expect(started).toBe(1);
    // The stop failed at 3 s: no election is waited for, no quiesce.
    expect(outcome.atMs).toBe(3_000);
  });

  it('refuses a set that is not healthy before it starts', async () => {
    const { fake, target } = setup();
    fake.restartOnFailure = false;
    fake.sigkill(m2.host);
    const { error } = await settle(runFailoverTest(set, deps(fake, target)));
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).code).toBe('FAILOVER_SET_UNHEALTHY');
    expect((error as DistctlError).message).toContain(`${m2.host} (not reachable/healthy)`);
  });

  it('waits for a pending priority takeover before it stops anything', async () => {
    const { fake, target } = setup();
    fake.sigkill(m0.host);
    // m0 is back as SECONDARY at 5 s, m1 elected at 10 s; m0 takes over at 20 s.
    await vi.advanceTimersByTimeAsync(12_000);
    expect(fake.primary()?.member.host).toBe(m1.host);
    const seen: string[] = [];
    const result = await report(fake, target, { onProgress: (message) => seen.push(message) });
    expect(seen[0]).toBe(
      `rsA (stepdown): PRIMARY is ${m1.host}, not ${m0.host} (priority 3); waiting for its priority takeover`,
    );
    expect(result.stoppedMember).toBe(m0.host);
    expect(result.problems).toEqual([]);
  });
});

describe('runFailoverTest, crash mode (SIGKILL)', () => {
  it('times the election timeout, counts the writes that failed meanwhile, lets systemd restart mongod', async () => {
    const { fake, target } = setup();
    const result = await report(fake, target, { mode: 'crash' });
    expect(result).toMatchObject({
      mode: 'crash',
      stoppedMember: m0.host,
      newPrimary: m1.host,
      electionSeconds: 10,
      electionReason: 'electionTimeout',
      electionSeenSeconds: 10,
      stopReturnedSeconds: 0,
      // RestartSec 2 s plus 3 s of startup, seen while the election was still pending.
      restart: { by: 'systemd', rejoinedAs: 'SECONDARY', afterSeconds: 5 },
      primaryAtEnd: m0.host,
      // m1 elected at 10 s; m0 (priority 3) takes over 10 s later, seen by the poll that started
      // when the last write ended.
      primaryBackSeconds: 20.005,
      problems: [],
    });
    // 30 in the warmup. The one sent at the kill goes to the dead PRIMARY (connection refused), finds no PRIMARY
    // for its retry within the 2 s server selection and reports the first error; the next four time out in
    // server selection; the one sent at 13 s waits 0.4 s for the drain; then one every 100 ms until 16 s.
    expect(result.writes).toMatchObject({
      total: 62,
      acknowledged: 57,
      failed: 5,
      acknowledgedButLost: [],
      failedButApplied: [],
      errors: { [`connect ECONNREFUSED ${m0.host}`]: 1, 'Server selection timed out after 2000 ms': 4 },
    });
    expect(result.writes.latency).toEqual({ p50Ms: 5, p95Ms: 2_000, p99Ms: 2_005, maxMs: 2_005 });
    expect(fake.unitLog).toEqual([`kill ${m0.host}`, `systemd restarts ${m0.host}`]);
  });

  it('starts the member itself, and says so, when systemd does not (no Restart=on-failure)', async () => {
    const { fake, target } = setup();
    fake.restartOnFailure = false;
    const result = await report(fake, target, { mode: 'crash', timings: { rejoinTimeoutMs: 20_000 } });
    expect(result.restart).toEqual({ by: 'distctl', rejoinedAs: 'SECONDARY', afterSeconds: 3 });
    expect(result.problems).toEqual([
      'mongod-27017.service did not come back by itself within 20 s of the SIGKILL ' +
        '(Restart=on-failure should restart it); distctl started it',
    ]);
    expect(fake.unitLog).toEqual([`kill ${m0.host}`, `start ${m0.host}`]);
  });
});

describe('write accounting', () => {
  it('fails the test when the written sequence numbers cannot be read back, instead of counting no write', async () => {
    const { fake, target } = setup();
    target.failReadBack = true;
    const result = await report(fake, target);
    expect(result.writes.acknowledged).toBe(175);
    expect(result.writes.acknowledgedButLost).toBeNull();
    expect(result.writes.failedButApplied).toBeNull();
    expect(result.problems).toEqual([
      'could not read back which writes the set holds (connection 3 to 10.10.10.12:27018 closed); ' +
        'the fate of 175 acknowledged write(s) is unknown',
    ]);
  });

  it('checks replication on each member that is up, names them, catches a rejoined member behind', async () => {
    const { fake, target } = setup();
    fake.catchUp = false;
    const result = await report(fake, target, { timings: { replicationTimeoutMs: 2_000 } });
    expect(result.replication).toEqual({
      seq: 175,
      members: [
        { host: m0.host, state: 'SECONDARY', readable: false },
        { host: m1.host, state: 'PRIMARY', readable: null },
        { host: m2.host, state: 'SECONDARY', readable: true },
      ],
    });
    expect(result.problems).toEqual([`write 175 was not readable on SECONDARY ${m0.host} within 2 s`]);
  });

  it('checks only the members that are up when the stopped one does not come back, and says which', async () => {
    const { fake, target } = setup();
    fake.restartOnFailure = false;
    const result = await report(fake, target, {
      mode: 'crash',
      startMember: async () => undefined,
      timings: { rejoinTimeoutMs: 5_000 },
    });
    expect(result.replication?.members).toEqual([
      { host: m0.host, state: '(not reachable/healthy)', readable: null },
      { host: m1.host, state: 'PRIMARY', readable: null },
      { host: m2.host, state: 'SECONDARY', readable: true },
    ]);
    expect(result.restart).toEqual({ by: 'distctl', rejoinedAs: null, afterSeconds: null });
    expect(result.primaryAtEnd).toBe(m1.host);
    expect(result.problems).toEqual([
      'mongod-27017.service did not come back by itself within 5 s of the SIGKILL ' +
        '(Restart=on-failure should restart it); distctl started it',
      `${m0.host} did not rejoin as SECONDARY within 5 s of its restart`,
    ]);
  });

  it('reports an acknowledged write that the set lost', async () => {
    const { fake, target } = setup();
    target.lose = 1;
    const result = await report(fake, target);
    expect(result.writes.acknowledgedButLost).toEqual([1]);
    expect(result.problems).toEqual(['1 acknowledged write(s) lost: 1']);
  });

  it('separates acknowledged, failed, lost and failed-but-applied writes; nearest-rank percentiles', () => {
    const records = [
      { seq: 1, sentAtMs: 0, latencyMs: 5, outcome: 'acknowledged' as const },
      { seq: 2, sentAtMs: 10, latencyMs: 9_000, outcome: 'failed' as const, error: 'not primary' },
      { seq: 3, sentAtMs: 20, latencyMs: 4, outcome: 'failed' as const, error: 'not primary' },
      { seq: 4, sentAtMs: 30, latencyMs: 3, outcome: 'acknowledged' as const },
    ];
    expect(writeFates(records, new Set([1, 2]))).toEqual({
      total: 4,
      acknowledged: 2,
      failed: 2,
      acknowledgedButLost: [4],
      failedButApplied: [2],
      latency: { p50Ms: 4, p95Ms: 9_000, p99Ms: 9_000, maxMs: 9_000 },
      errors: { 'not primary': 2 },
    });
    expect(writeFates(records, null)).toMatchObject({ acknowledgedButLost: null, failedButApplied: null });
    expect(latencyPercentiles(Array.from({ length: 200 }, (_, index) => 200 - index))).toEqual({
      p50Ms: 100,
      p95Ms: 190,
      p99Ms: 198,
      maxMs: 200,
    });
    expect(latencyPercentiles([])).toBeNull();
  });
});

describe('election cross-check', () => {
  it("fails when the new PRIMARY's lastElectionDate is not between the stop and when it was seen", async () => {
    const { fake, target } = setup();
    fake.clockSkewMs = -5_000;
    const result = await report(fake, target);
    expect(result.electionSeconds).toBe(-4.8);
    expect(result.problems).toEqual([
      "the new PRIMARY's lastElectionDate 2026-11-28T11:59:58.200Z is not between the stop " +
        '(2026-11-28T12:00:03.000Z) and when it was seen (2026-11-28T12:00:03.250Z): ' +
        'that election was not caused by this stop, or the clocks of host and container differ',
    ]);
  });
});

describe('the timed replica set (the fake is as strict, and as slow, as mongod)', () => {
  it('on SIGTERM: steps down, handoff after 0.2 s, writable after the drain, exits after the quiesce', async () => {
    const fake = new TimedReplicaSet(set, credentials);
    const hello = async (member: ReplicaSetMember) => fake.command(member, 'admin', { hello: 1 });
    let exited = false;
    void fake.sigterm(m0.host).then(() => (exited = true));
    await expect(fake.command(m0, 'admin', { replSetGetStatus: 1 }, { credentials })).rejects.toThrow(
      `connect ECONNREFUSED ${m0.host}`,
    );
    expect(await hello(m1)).toMatchObject({ isWritablePrimary: false, secondary: true, primary: undefined });
    await vi.advanceTimersByTimeAsync(MONGOD_TIMING.handoffMs);
    // Elected but still draining: a write now is refused (NotWritablePrimary).
    expect(await hello(m1)).toMatchObject({ isWritablePrimary: false, secondary: false, primary: m1.host });
    await vi.advanceTimersByTimeAsync(MONGOD_TIMING.drainMs);
    expect(await hello(m1)).toMatchObject({ isWritablePrimary: true });
    await vi.advanceTimersByTimeAsync(MONGOD_TIMING.quiesceMs - MONGOD_TIMING.handoffMs - MONGOD_TIMING.drainMs - 1);
    expect(exited).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(exited).toBe(true);
  });

  it('refuses writes with NotWritablePrimary while a PRIMARY drains and during a priority takeover', async () => {
    const fake = new TimedReplicaSet(set, credentials);
    fake.sigkill(m0.host);
    expect(() => fake.insert(m0.host, 1)).toThrow(`connect ECONNREFUSED ${m0.host}`);
    // m0 back as SECONDARY at 5 s (RestartSec 2 s + startup 3 s); m1 elected at 10 s, writable at 10.4 s.
    await vi.advanceTimersByTimeAsync(MONGOD_TIMING.electionTimeoutMs);
    expect(() => fake.insert(m1.host, 1)).toThrow(
      expect.objectContaining({ code: 10107, codeName: 'NotWritablePrimary' }),
    );
    await vi.advanceTimersByTimeAsync(MONGOD_TIMING.drainMs);
    fake.insert(m1.host, 1);
    // m0 (priority 3) takes over one election timeout after it saw the lower-priority PRIMARY.
    await vi.advanceTimersByTimeAsync(MONGOD_TIMING.electionTimeoutMs - MONGOD_TIMING.drainMs);
    expect(fake.primary()?.member.host).toBe(m0.host);
    expect(await fake.command(m0, 'admin', { replSetGetStatus: 1 }, { credentials })).toMatchObject({
      term: 3,
      electionCandidateMetrics: { lastElectionReason: 'priorityTakeover', electionTerm: 3 },
    });
    expect(() => fake.insert(m1.host, 2)).toThrow(expect.objectContaining({ code: 10107 }));
    expect(() => fake.insert(m0.host, 2)).toThrow(expect.objectContaining({ code: 10107 }));
    await vi.advanceTimersByTimeAsync(MONGOD_TIMING.drainMs);
    fake.insert(m0.host, 2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('refuses what mongod refuses: no credentials, unknown commands', async () => {
    const fake = new TimedReplicaSet(set, credentials);
    await expect(fake.command(m0, 'admin', { replSetGetStatus: 1 })).rejects.toMatchObject({
      code: 13,
      codeName: 'Unauthorized',
    });
    await expect(fake.command(m0, 'admin', { replSetFreeze: 1 }, { credentials })).rejects.toMatchObject({ code: 59 });
  });
});

describe('the workload against a real driver', () => {
  it('uses a short server selection, w:"majority" and retryable writes', () => {
    expect(workloadClientOptions(credentials)).toMatchObject({
      serverSelectionTimeoutMS: 2_000,
      retryWrites: true,
      writeConcern: { w: 'majority', wtimeoutMS: 15_000 },
      authSource: 'admin',
    });
  });

  it('reports a write as failed after the short server selection, not after the 30 s default', async () => {
    vi.useRealTimers();
    // A "server" that hangs up on every connection: no member ever becomes selectable.
    const server: Server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const target = new MongoWriteTarget(`mongodb://127.0.0.1:${port}/db?replicaSet=rsX`, credentials);
    const started = performance.now();
    try {
      const error = await target.insert(1).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(MongoServerSelectionError);
      expect(performance.now() - started).toBeLessThan(5_000);
    } finally {
      await target.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
