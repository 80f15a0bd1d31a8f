/**
 * A three-member replica set with MongoDB's documented failover timing, run
 * on the global timers so a test drives it with vi.useFakeTimers():
 *
 * - SIGTERM to the PRIMARY (`systemctl stop`): it steps down at once, hands
 *   the election to the best caught-up secondary (replSetStepUp, reason
 *   stepUpRequestSkipDryRun), then sits in its shutdown quiesce
 *   (shutdownTimeoutMillisForSignaledShutdown, 15 s) refusing new
 *   connections, and exits; `systemctl stop` returns only then. A clean exit:
 *   Restart=on-failure does not restart it.
 * - SIGKILL: the process is gone at once; the members that last heard from
 *   it call an election after electionTimeoutMillis (10 s); systemd starts
 *   mongod again after RestartSec (2 s, Restart=on-failure).
 * - A member that starts is SECONDARY after startup; once it sees a PRIMARY
 *   of lower priority, it takes over after (priority rank + 1) ×
 *   electionTimeoutMillis (reason priorityTakeover).
 * - A newly elected PRIMARY is not writable until it has drained
 *   (hello.isWritablePrimary false, writes refused with NotWritablePrimary).
 *
 * The randomised election offsets of the real server (0–15 %) are taken as 0,
 * so every figure is exact. Commands are refused as mongod refuses them: no
 * credentials → Unauthorized (13), a stopped or quiescing member → no
 * connection, an unknown command → CommandNotFound (59).
 */
import type { Document } from 'mongodb';
import type { DerivedReplicaSet, ReplicaSetMember } from '../../../src/derive/types.js';
import {
  MongoCommandError,
  MongoUnreachableError,
  type Credentials,
  type MongoAdmin,
  type MongoTarget,
} from '../../../src/mongo/admin.js';
import type { WriteTarget } from '../../../src/failover/workload.js';

/** The timings the fake reproduces, in milliseconds. */
export const MONGOD_TIMING = {
  /** SIGTERM to the PRIMARY → the handed-off candidate's lastElectionDate. */
  handoffMs: 200,
  /** Elected → writable (catch-up and drain). */
  drainMs: 400,
  /** shutdownTimeoutMillisForSignaledShutdown: SIGTERM → the process exits (step-down plus quiesce). */
  quiesceMs: 15_000,
  /** electionTimeoutMillis: the PRIMARY gone → the others call an election. */
  electionTimeoutMs: 10_000,
  /** RestartSec=2 of distctl's unit: a SIGKILLed mongod → systemd starts it again. */
  restartSecMs: 2_000,
  /** mongod started → SECONDARY, caught up. */
  startupMs: 3_000,
  /** One w:"majority" insert while a writable PRIMARY exists. */
  writeMs: 5,
} as const;

type Process = 'up' | 'quiescing' | 'down' | 'starting';

interface Node {
  readonly member: ReplicaSetMember;
  process: Process;
  state: 'PRIMARY' | 'SECONDARY' | 'DOWN';
  writable: boolean;
  election: { readonly reason: string; readonly date: Date; readonly term: number } | null;
  readonly data: Set<number>;
}

/** The fake set; also the MongoAdmin the failover test reads it through. */
export class TimedReplicaSet implements MongoAdmin {
  term = 1;
  /** Every unit action, in order, as systemd saw it. */
  readonly unitLog: string[] = [];
  /** Added to every date the servers report (a clock that differs from the host's). */
  clockSkewMs = 0;
  /** Set false to model a unit without Restart=on-failure. */
  restartOnFailure = true;
  /** Set true to model a set whose members never stand for election. */
  electionsDisabled = false;
  /** Set false to model a restarted member that never catches up with the PRIMARY. */
  catchUp = true;
  private readonly nodes: Node[];
  private writableWaiters: (() => void)[] = [];

  constructor(
    readonly set: DerivedReplicaSet,
    private readonly credentials: Credentials,
  ) {
    this.nodes = set.members.map((member) => ({
      member,
      process: 'up',
      state: 'SECONDARY',
      writable: false,
      election: null,
      data: new Set<number>(),
    }));
    const first = [...this.nodes].sort((a, b) => b.member.priority - a.member.priority)[0]!;
    first.state = 'PRIMARY';
    first.writable = true;
    first.election = { reason: 'electionTimeout', date: new Date(Date.now() - 60_000), term: 1 };
  }

  node(host: string): Node {
    const found = this.nodes.find((node) => node.member.host === host);
    if (found === undefined) throw new Error(`no member ${host}`);
    return found;
  }

  primary(): Node | undefined {
    return this.nodes.find((node) => node.state === 'PRIMARY');
  }

  async command(
    target: MongoTarget,
    db: string,
    cmd: Document,
    options: { credentials?: Credentials } = {},
  ): Promise<Document> {
    const node = this.node(target.host);
    if (node.process !== 'up') throw new MongoUnreachableError(target.host, `connect ECONNREFUSED ${target.host}`);
    if ('hello' in cmd) {
      const primary = this.primary();
      return {
        ok: 1,
        setName: this.set.name,
        isWritablePrimary: node.state === 'PRIMARY' && node.writable,
        secondary: node.state === 'SECONDARY',
        primary: primary?.member.host,
      };
    }
    if (
      options.credentials?.username !== this.credentials.username ||
      options.credentials.password !== this.credentials.password
    ) {
      throw new MongoCommandError(13, 'Unauthorized', `command ${Object.keys(cmd)[0]} requires authentication`);
    }
    if (db !== 'admin' || !('replSetGetStatus' in cmd))
      throw new MongoCommandError(59, 'CommandNotFound', `no such command: '${Object.keys(cmd)[0]}'`);
    return {
      ok: 1,
      set: this.set.name,
      term: this.term,
      members: this.nodes.map((other) => {
        // Heartbeats ride on existing connections: a quiescing member is still seen, a dead one is not.
        const seen = other.process === 'up' || other.process === 'quiescing';
        return {
          name: other.member.host,
          health: seen ? 1 : 0,
          stateStr: seen ? other.state : '(not reachable/healthy)',
          optimeDate: new Date(this.serverNow()),
        };
      }),
      ...(node.state === 'PRIMARY' && node.election
        ? {
            electionCandidateMetrics: {
              lastElectionReason: node.election.reason,
              lastElectionDate: node.election.date,
              electionTerm: node.election.term,
            },
          }
        : {}),
    };
  }

  async close(): Promise<void> {}

  /** `systemctl stop`: SIGTERM; resolves when the process has exited, after the quiesce. */
  sigterm(host: string): Promise<void> {
    const node = this.node(host);
    this.unitLog.push(`stop ${host}`);
    if (node.process === 'down') return Promise.resolve();
    if (node.state === 'PRIMARY') {
      this.stepDown(node);
      setTimeout(() => {
        const candidate = this.best((other) => other !== node);
        if (candidate) this.elect(candidate, 'stepUpRequestSkipDryRun');
      }, MONGOD_TIMING.handoffMs);
    }
    node.process = 'quiescing';
    return new Promise((resolve) =>
      setTimeout(() => {
        node.process = 'down';
        node.state = 'DOWN';
        resolve();
      }, MONGOD_TIMING.quiesceMs),
    );
  }

  /** `systemctl kill --signal=SIGKILL`: the process dies at once; returns at once. */
  sigkill(host: string): void {
    this.unitLog.push(`kill ${host}`);
    this.die(host, this.restartOnFailure);
  }

  /** Its container stops (`incus stop --force`, a lost host): the process dies, and no systemd is left to restart it. */
  powerOff(host: string): void {
    this.unitLog.push(`power off ${host}`);
    this.die(host, false);
  }

  /** Its container starts again: systemd starts the enabled unit at boot. */
  powerOn(host: string): void {
    this.unitLog.push(`power on ${host}`);
    this.startProcess(this.node(host));
  }

  private die(host: string, restart: boolean): void {
    const node = this.node(host);
    if (node.process === 'down' || node.process === 'starting') return;
    const wasPrimary = node.state === 'PRIMARY';
    node.process = 'down';
    node.state = 'DOWN';
    node.writable = false;
    node.election = null;
    if (wasPrimary) {
      // Only the members that last heard from the PRIMARY time out first;
      // a member that restarts starts its own timer later.
      const voters = this.nodes.filter((other) => other !== node && other.process === 'up');
      setTimeout(() => {
        const candidate = this.best((other) => voters.includes(other));
        if (candidate && !this.primary() && this.hasMajority()) this.elect(candidate, 'electionTimeout');
      }, MONGOD_TIMING.electionTimeoutMs);
    } else {
      // A PRIMARY that no longer sees a majority steps down once its election timeout has passed.
      setTimeout(() => {
        const primary = this.primary();
        if (primary !== undefined && !this.hasMajority()) this.stepDown(primary);
      }, MONGOD_TIMING.electionTimeoutMs);
    }
    if (restart) {
      setTimeout(() => {
        this.unitLog.push(`systemd restarts ${host}`);
        this.startProcess(node);
      }, MONGOD_TIMING.restartSecMs);
    }
  }

  /** `systemctl start`: a no-op for a running unit, as in systemd. */
  start(host: string): void {
    this.unitLog.push(`start ${host}`);
    this.startProcess(this.node(host));
  }

  /** The writable PRIMARY as soon as there is one, or null after `timeoutMs` (the driver's server selection). */
  whenWritable(timeoutMs: number): Promise<Node | null> {
    const now = this.primary();
    if (now?.writable) return Promise.resolve(now);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.writableWaiters = this.writableWaiters.filter((waiter) => waiter !== wake);
        resolve(null);
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve(this.primary() ?? null);
      };
      this.writableWaiters.push(wake);
    });
  }

  /**
   * An insert sent to `host`, as that mongod answers it: a member that is not
   * running refuses the connection; one that is not the drained PRIMARY (also
   * one in its shutdown quiesce, over a connection opened before) refuses the
   * write with NotWritablePrimary (10107).
   */
  insert(host: string, seq: number): void {
    const node = this.node(host);
    if (node.process === 'down' || node.process === 'starting') {
      throw new MongoUnreachableError(host, `connect ECONNREFUSED ${host}`);
    }
    if (node.state !== 'PRIMARY' || !node.writable)
      throw new MongoCommandError(10107, 'NotWritablePrimary', 'not primary');
    this.apply(seq);
  }

  /** A write acknowledged by the PRIMARY is on every member that is running (not on one shutting down). */
  apply(seq: number): void {
    for (const node of this.nodes) if (node.process === 'up') node.data.add(seq);
  }

  private serverNow(): number {
    return Date.now() + this.clockSkewMs;
  }

  private startProcess(node: Node): void {
    if (node.process !== 'down') return;
    node.process = 'starting';
    setTimeout(() => {
      node.process = 'up';
      node.state = 'SECONDARY';
      if (this.catchUp) for (const seq of this.primary()?.data ?? []) node.data.add(seq);
      this.scheduleTakeover(node);
    }, MONGOD_TIMING.startupMs);
  }

  private stepDown(node: Node): void {
    node.state = 'SECONDARY';
    node.writable = false;
    node.election = null;
  }

  /** Whether a majority of the members (every one votes) is running: no election is won, no PRIMARY kept, without. */
  private hasMajority(): boolean {
    return this.nodes.filter((node) => node.process === 'up').length > this.nodes.length / 2;
  }

  /** The best electable secondary: running, highest priority, then lowest `_id`. */
  private best(eligible: (node: Node) => boolean): Node | undefined {
    if (this.electionsDisabled) return undefined;
    return this.nodes
      .filter(
        (node) => node.process === 'up' && node.state === 'SECONDARY' && node.member.priority > 0 && eligible(node),
      )
      .sort((a, b) => b.member.priority - a.member.priority || a.member.id - b.member.id)[0];
  }

  private elect(node: Node, reason: string): void {
    this.term += 1;
    const term = this.term;
    node.state = 'PRIMARY';
    node.writable = false;
    node.election = { reason, date: new Date(this.serverNow()), term };
    setTimeout(() => {
      if (node.state !== 'PRIMARY' || this.term !== term) return;
      node.writable = true;
      const waiters = this.writableWaiters;
      this.writableWaiters = [];
      for (const wake of waiters) wake();
    }, MONGOD_TIMING.drainMs);
    for (const other of this.nodes)
      if (other !== node && other.process === 'up' && other.state === 'SECONDARY') this.scheduleTakeover(other);
  }

  /** A SECONDARY that outranks the PRIMARY calls a priority takeover after (rank + 1) × electionTimeoutMillis. */
  private scheduleTakeover(node: Node): void {
    const primary = this.primary();
    if (primary === undefined || primary.member.priority >= node.member.priority) return;
    const rank = this.nodes.filter((other) => other.member.priority > node.member.priority).length;
    setTimeout(
      () => {
        const current = this.primary();
        if (
          node.process !== 'up' ||
          node.state !== 'SECONDARY' ||
          current === undefined ||
          current.member.priority >= node.member.priority
        )
          return;
        this.stepDown(current);
        this.elect(node, 'priorityTakeover');
      },
      (rank + 1) * MONGOD_TIMING.electionTimeoutMs,
    );
  }
}

/**
 * The workload's writes as the driver makes them with retryable writes and a
 * `serverSelectionTimeoutMs` server selection: a write waits for a writable
 * PRIMARY that long, then fails as the driver reports it.
 */
export class TimedWriteTarget implements WriteTarget {
  closed = false;
  /** Makes the majority read-back fail, as a dropped connection would. */
  failReadBack = false;
  /** A seq the set "loses" (rolled back) before it is read back. */
  lose: number | null = null;

  constructor(
    private readonly fake: TimedReplicaSet,
    private readonly serverSelectionTimeoutMs: number,
  ) {}

  /** The member the "driver" believes is PRIMARY, until a write there fails. */
  private known: string | null = null;

  /**
   * A retryable write: sent to the member believed PRIMARY; if that fails
   * (NotWritablePrimary, connection refused), the driver selects a writable
   * PRIMARY, waiting up to the server-selection timeout, and retries once. If
   * none turns up, it reports the first attempt's error, else the selection
   * timeout.
   */
  async insert(seq: number): Promise<void> {
    let firstError: unknown = null;
    if (this.known !== null) {
      await new Promise((resolve) => setTimeout(resolve, MONGOD_TIMING.writeMs));
      try {
        return this.fake.insert(this.known, seq);
      } catch (error) {
        firstError = error;
        this.known = null;
      }
    }
    const primary = await this.fake.whenWritable(this.serverSelectionTimeoutMs);
    if (primary === null) {
      throw firstError ?? new Error(`Server selection timed out after ${this.serverSelectionTimeoutMs} ms`);
    }
    this.known = primary.member.host;
    await new Promise((resolve) => setTimeout(resolve, MONGOD_TIMING.writeMs));
    this.fake.insert(this.known, seq);
  }

  async presentSeqs(): Promise<Set<number>> {
    if (this.failReadBack) throw new Error('connection 3 to 10.10.10.12:27018 closed');
    const primary = await this.fake.whenWritable(this.serverSelectionTimeoutMs);
    if (primary === null) throw new Error(`Server selection timed out after ${this.serverSelectionTimeoutMs} ms`);
    return new Set([...primary.data].filter((seq) => seq !== this.lose));
  }

  async readableOn(member: MongoTarget, seq: number): Promise<boolean> {
    const node = this.fake.node(member.host);
    if (node.process !== 'up') throw new MongoUnreachableError(member.host, `connect ECONNREFUSED ${member.host}`);
    return node.data.has(seq);
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
