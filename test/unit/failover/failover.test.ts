import type { Document } from 'mongodb';
import { describe, expect, it } from 'vitest';
import type { ReplicaSetMember } from '../../../src/derive/types.js';
import { DistctlError } from '../../../src/errors/index.js';
import { runFailoverTest, type FailoverDeps } from '../../../src/failover/index.js';
import { writeFates, type WriteTarget } from '../../../src/failover/workload.js';
import { MongoUnreachableError, type MongoAdmin, type MongoTarget } from '../../../src/mongo/admin.js';
import { replicaSet } from '../mongo/desired.js';

const set = replicaSet('rsA', 'db1', '10.10.10.12');
const [first, second] = set.members as [ReplicaSetMember, ReplicaSetMember, ReplicaSetMember];

/**
 * A replica set as its members report it through replSetGetStatus: a stopped
 * member does not answer; after the primary stops, a new one is elected after
 * `electAfter` status reads; a restarted member is SECONDARY after `rejoinAfter`.
 */
class FakeSet implements MongoAdmin {
  primary: string | null = first.host;
  readonly stopped = new Set<string>();
  private readsSinceStop = 0;
  private readsSinceStart = 0;
  private starting: string | null = null;
  asked: string[] = [];
  constructor(private readonly behaviour: { electAfter: number; rejoinAfter: number }) {}

  async command(target: MongoTarget, _db: string, cmd: Document): Promise<Document> {
    this.asked.push(target.host);
    if (!('replSetGetStatus' in cmd)) throw new Error(`unexpected ${JSON.stringify(cmd)}`);
    if (this.stopped.has(target.host)) throw new MongoUnreachableError(target.host, 'connect ECONNREFUSED');
    if (this.primary === null && ++this.readsSinceStop >= this.behaviour.electAfter) this.primary = second.host;
    if (this.starting && ++this.readsSinceStart >= this.behaviour.rejoinAfter) this.starting = null;
    return {
      ok: 1,
      members: set.members.map((member) => ({
        name: member.host,
        health: this.stopped.has(member.host) ? 0 : 1,
        stateStr: this.stopped.has(member.host) ? '(not reachable/healthy)' : member.host === this.starting ? 'STARTUP2' : member.host === this.primary ? 'PRIMARY' : 'SECONDARY',
        optimeDate: new Date(),
      })),
    };
  }

  async close(): Promise<void> {}

  stop(member: ReplicaSetMember): void {
    this.stopped.add(member.host);
    if (this.primary === member.host) this.primary = null;
  }

  start(member: ReplicaSetMember): void {
    this.stopped.delete(member.host);
    this.starting = member.host;
  }
}

/** Writes fail while the set has no primary, as they would after the driver's retry. */
class FakeTarget implements WriteTarget {
  readonly stored = new Set<number>();
  closed = false;
  constructor(private readonly fake: FakeSet, private readonly loseAfterAck: number | null = null) {}
  async insert(seq: number): Promise<void> {
    if (this.fake.primary === null) throw new Error('not primary');
    this.stored.add(seq);
  }
  async presentSeqs(): Promise<Set<number>> {
    if (this.loseAfterAck !== null) this.stored.delete(this.loseAfterAck);
    return new Set(this.stored);
  }
  async readableOnSecondary(seq: number): Promise<boolean> {
    return this.stored.has(seq);
  }
  async close(): Promise<void> {
    this.closed = true;
  }
}

const fast = { warmupMs: 30, afterMs: 30, intervalMs: 2, electionTimeoutMs: 2_000, rejoinTimeoutMs: 2_000, pollMs: 5 };

function deps(fake: FakeSet, target: WriteTarget, overrides: Partial<FailoverDeps> = {}): FailoverDeps {
  return {
    admin: fake,
    credentials: { username: 'distctl-admin', password: 'x' },
    target,
    stopMember: async (member) => fake.stop(member),
    startMember: async (member) => fake.start(member),
    timings: fast,
    ...overrides,
  };
}

describe('runFailoverTest', () => {
  it('stops the primary, times the election, accounts for every write and brings the member back', async () => {
    const fake = new FakeSet({ electAfter: 3, rejoinAfter: 2 });
    const target = new FakeTarget(fake);
    const seen: string[] = [];
    const report = await runFailoverTest(set, deps(fake, target, { onProgress: (message) => seen.push(message) }));
    expect(report).toMatchObject({ replicaSet: 'rsA', stoppedMember: first.host, newPrimary: second.host, replicatedToSecondary: true, rejoined: true, rejoinedAs: 'SECONDARY', problems: [] });
    expect(report.electionSeconds).toBeGreaterThanOrEqual(0);
    expect(report.writes.total).toBe(report.writes.acknowledged + report.writes.failed);
    expect(report.writes.acknowledged).toBeGreaterThan(0);
    expect(report.writes.acknowledgedButLost).toEqual([]);
    expect(fake.stopped.size).toBe(0);
    expect(seen[0]).toBe(`rsA: PRIMARY is ${first.host}; writing every 2 ms`);
  });

  it('never waits on the stopped member while it watches the election', async () => {
    const fake = new FakeSet({ electAfter: 4, rejoinAfter: 1 });
    const stopAt: number[] = [];
    await runFailoverTest(set, deps(fake, new FakeTarget(fake), { stopMember: async (member) => void (stopAt.push(fake.asked.length), fake.stop(member)) }));
    const afterStop = fake.asked.slice(stopAt[0]);
    expect(afterStop.length).toBeGreaterThan(0);
    expect(afterStop).not.toContain(first.host);
  });

  it('reports an acknowledged write that the set lost', async () => {
    const fake = new FakeSet({ electAfter: 1, rejoinAfter: 1 });
    const report = await runFailoverTest(set, deps(fake, new FakeTarget(fake, 1)));
    expect(report.writes.acknowledgedButLost).toEqual([1]);
    expect(report.problems).toContain('1 acknowledged write(s) lost: 1');
  });

  it('reports a set that elects no new primary, and still restarts the member', async () => {
    const fake = new FakeSet({ electAfter: Number.POSITIVE_INFINITY, rejoinAfter: 1 });
    const report = await runFailoverTest(set, deps(fake, new FakeTarget(fake), { timings: { ...fast, electionTimeoutMs: 60 } }));
    expect(report.newPrimary).toBeNull();
    expect(report.problems[0]).toBe(`no new PRIMARY within 0.06 s of stopping ${first.host}`);
    expect(fake.stopped.size).toBe(0);
  });

  it('restarts the member even when stopping it failed', async () => {
    const fake = new FakeSet({ electAfter: 1, rejoinAfter: 1 });
    let started = 0;
    const failing = deps(fake, new FakeTarget(fake), {
      stopMember: async () => {
        throw new DistctlError('CONTAINER_COMMAND_FAILED', 'Stopping mongod-27017.service failed in container db1 (exit 1)');
      },
      startMember: async () => void (started += 1),
    });
    await expect(runFailoverTest(set, failing)).rejects.toThrow('Stopping mongod-27017.service failed');
    expect(started).toBe(1);
  });

  it('refuses a set that is not healthy before it starts', async () => {
    const fake = new FakeSet({ electAfter: 1, rejoinAfter: 1 });
    fake.stopped.add(set.members[2]!.host);
    const error = await runFailoverTest(set, deps(fake, new FakeTarget(fake))).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).code).toBe('FAILOVER_SET_UNHEALTHY');
    expect((error as DistctlError).message).toContain(`${set.members[2]!.host} (not reachable/healthy)`);
  });
});

describe('writeFates', () => {
  it('separates acknowledged, failed, lost and failed-but-applied writes', () => {
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
      maxLatencyMs: 9_000,
      errors: { 'not primary': 2 },
    });
  });
});
