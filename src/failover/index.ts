import type { DerivedReplicaSet, ReplicaSetMember } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import { describeMongoError, type Credentials, type MongoAdmin } from '../mongo/admin.js';
import { poll } from '../mongo/poll.js';
import { readReplicaSetStatus, type ReplicaSetStatus } from '../mongo/status.js';
import { readElectionView, readElectionViews, type ElectionRecord } from './election.js';
import { runWorkload, writeFates, type WriteFates, type WriteRecord, type WriteTarget } from './workload.js';

/**
 * How the PRIMARY is taken away. `stepdown`: `systemctl stop` (SIGTERM) — mongod
 * steps down, hands the election to a caught-up secondary, then sits in its
 * shutdown quiesce before it exits. `crash`: SIGKILL — no step-down, the others
 * elect after their election timeout, and `Restart=on-failure` brings mongod back.
 */
export type FailoverMode = 'stepdown' | 'crash';

/** Every mode, in the order `--mode both` runs them. */
export const FAILOVER_MODES: readonly FailoverMode[] = ['stepdown', 'crash'];

/** Timings of a failover test, in milliseconds. */
export interface FailoverTimings {
  /** Writes before the primary is stopped. */
  readonly warmupMs: number;
  /** Writes after the new primary is seen (in stepdown mode, also until the stop has returned). */
  readonly afterMs: number;
  /** Pause between two writes. */
  readonly intervalMs: number;
  /** How long the set may take to elect a new primary. */
  readonly electionTimeoutMs: number;
  /** How long the stopped member may take to rejoin after its restart. */
  readonly rejoinTimeoutMs: number;
  /** How long the highest-priority member may take to take PRIMARY back once it has rejoined. */
  readonly takeoverTimeoutMs: number;
  /** How long a secondary may take to serve the last acknowledged write, and the read-back may keep failing. */
  readonly replicationTimeoutMs: number;
  readonly pollMs: number;
}

export const DEFAULT_FAILOVER_TIMINGS: FailoverTimings = {
  warmupMs: 3_000,
  afterMs: 3_000,
  intervalMs: 100,
  electionTimeoutMs: 60_000,
  rejoinTimeoutMs: 90_000,
  // A priority takeover waits electionTimeoutMillis (10 s) plus up to 15 % at random, once the member has caught up.
  takeoverTimeoutMs: 60_000,
  replicationTimeoutMs: 10_000,
  pollMs: 250,
};

/**
 * How far the new PRIMARY's `lastElectionDate` may lie outside [stop issued,
 * new PRIMARY seen]. Containers share the host's clock, so only rounding and
 * the date's own resolution need room.
 */
export const ELECTION_CLOCK_TOLERANCE_MS = 1_000;

/** What a failover test of one set needs from the outside world. */
export interface FailoverDeps {
  readonly admin: MongoAdmin;
  readonly credentials: Credentials | undefined;
  readonly target: WriteTarget;
  /** Default `stepdown`. */
  readonly mode?: FailoverMode;
  /**
   * Takes the member away as `mode` says. Stepdown: `systemctl stop`, which
   * returns only after mongod's shutdown quiesce; crash: SIGKILL, returns at
   * once. The test never waits on it before it watches the election.
   */
  readonly stopMember: (member: ReplicaSetMember, mode: FailoverMode) => Promise<void>;
  readonly startMember: (member: ReplicaSetMember) => Promise<void>;
  readonly onProgress?: (message: string) => void;
  readonly timings?: Partial<FailoverTimings>;
  readonly now?: () => number;
}

/** What a test of the loss of a whole Incus cluster member needs: every set it hits, and how to stop the member. */
export interface MemberLossDeps {
  readonly admin: MongoAdmin;
  readonly credentials: Credentials | undefined;
  /** The cluster member, for messages. */
  readonly member: string;
  /** The containers that run on it (all of them stop together). */
  readonly containers: readonly string[];
  /** Every replica set with members in those containers: its workload target and the members it loses. */
  readonly sets: readonly {
    readonly set: DerivedReplicaSet;
    readonly target: WriteTarget;
    readonly lost: readonly ReplicaSetMember[];
  }[];
  /** Stops every container on the member at once, as a host that loses power (`incus stop --force`). */
  readonly stopContainers: () => Promise<void>;
  readonly startContainers: () => Promise<void>;
  readonly onProgress?: (message: string) => void;
  readonly timings?: Partial<FailoverTimings>;
  readonly now?: () => number;
}

/** Which members serve the last acknowledged write, asked one by one over direct connections. */
export interface ReplicationCheck {
  readonly seq: number;
  /** Every member with its state when checked; `readable` is null for a member that was not SECONDARY (not asked). */
  readonly members: readonly { readonly host: string; readonly state: string; readonly readable: boolean | null }[];
}

/** How the stopped members came back. */
export interface RestartReport {
  /** `systemd`: Restart=on-failure after the SIGKILL; `distctl`: `systemctl start`, or its containers started. */
  readonly by: 'systemd' | 'distctl';
  /** The state each stopped member rejoined in, in order, joined by `, `; null when not all of them rejoined. */
  readonly rejoinedAs: string | null;
  /** From the SIGKILL (by systemd) or from distctl's start to the members seen SECONDARY again. */
  readonly afterSeconds: number | null;
}

/** What took the members away: a PRIMARY's mongod (`--mode`), or a whole cluster member (`--kill-member`). */
export type FailoverKind = FailoverMode | 'member-loss';

/** The outcome of one failover test of one set; `problems` is empty exactly when it passed. */
export interface FailoverReport {
  readonly replicaSet: string;
  readonly mode: FailoverKind;
  /** The PRIMARY when the stop was issued. */
  readonly primaryBefore: string;
  /** The PRIMARY taken away; null when a member loss took only secondaries (no election is then expected). */
  readonly stoppedMember: string | null;
  /** Every member of the set taken away. */
  readonly stoppedMembers: readonly string[];
  readonly newPrimary: string | null;
  /** From the stop being issued to the new PRIMARY's own `lastElectionDate`. */
  readonly electionSeconds: number | null;
  /** `lastElectionReason` of the new PRIMARY. */
  readonly electionReason: string | null;
  /** From the stop being issued to the first poll that saw the new PRIMARY (a bound from above). */
  readonly electionSeenSeconds: number | null;
  /** From the stop being issued to the stop command returning (stepdown: the shutdown quiesce). */
  readonly stopReturnedSeconds: number | null;
  readonly writes: WriteFates;
  readonly replication: ReplicationCheck | null;
  readonly restart: RestartReport;
  /** The PRIMARY when the test ended. */
  readonly primaryAtEnd: string | null;
  /** From the stop being issued to the highest-priority member being PRIMARY again; null when none is expected. */
  readonly primaryBackSeconds: number | null;
  readonly problems: readonly string[];
}

/**
 * Takes the PRIMARY of a healthy replica set away (as `mode` says) under a
 * steady write workload (w:"majority"). Issues the stop without waiting for
 * it and watches the other members concurrently for a new PRIMARY, then
 * cross-checks the time against the new PRIMARY's own `lastElectionDate`.
 * Checks every write's fate against what the set holds, checks that the
 * members that are up serve the last acknowledged write, brings the member
 * back (always, also when a step failed) and waits for the set to settle,
 * including the priority takeover by the highest-priority member.
 */
export async function runFailoverTest(set: DerivedReplicaSet, deps: FailoverDeps): Promise<FailoverReport> {
  const mode = deps.mode ?? 'stepdown';
  const reports = await runOutage(
    [{ set, target: deps.target, lose: (primary) => [primary] }],
    {
      kind: mode,
      label: `${set.name} (${mode})`,
      stop: ([primary]) => deps.stopMember(primary!, mode),
      start: ([primary]) => deps.startMember(primary!),
      stopping: ([primary]) =>
        `${mode === 'crash' ? 'sending SIGKILL to' : 'stopping'} ${primary!.unitName} in ${primary!.container} ` +
        `(PRIMARY ${primary!.host})`,
      starting: ([primary]) => `starting ${primary!.unitName} in ${primary!.container} again`,
      stillStopping:
        mode === 'stepdown' ? ([primary]) => `waiting for ${primary!.unitName} to finish its shutdown quiesce` : null,
    },
    deps,
  );
  return reports[0]!;
}

/**
 * The loss of one Incus cluster member, simulated: every container on it
 * stops at once under a write workload to every replica set it hits. Each set
 * is tested as `runFailoverTest` tests one (election timed from the stop and
 * cross-checked, every write's fate, replication, rejoin, priority takeover);
 * a set that loses only secondaries must keep its PRIMARY. The containers are
 * started again (always) and every lost member must rejoin. One report per set.
 */
export async function runMemberLossTest(deps: MemberLossDeps): Promise<FailoverReport[]> {
  const containers = deps.containers.join(', ');
  return runOutage(
    deps.sets.map(({ set, target, lost }) => ({ set, target, lose: () => lost })),
    {
      kind: 'member-loss',
      label: `${deps.member} (member-loss)`,
      stop: () => deps.stopContainers(),
      start: () => deps.startContainers(),
      stopping: (lost) =>
        `stopping ${containers} on ${deps.member} at once (incus stop --force): ` +
        lost.map((member) => member.host).join(', '),
      starting: () => `starting ${containers} on ${deps.member} again`,
      stillStopping: () => `waiting for incus stop to return`,
    },
    deps,
  );
}

/** One set under test: its workload target and which of its members the outage takes, given its PRIMARY. */
interface Casualty {
  readonly set: DerivedReplicaSet;
  readonly target: WriteTarget;
  readonly lose: (primary: ReplicaSetMember) => readonly ReplicaSetMember[];
}

/** The one outage every set under test lives through; `lost` is every member it takes, across sets. */
interface Outage {
  readonly kind: FailoverKind;
  /** Prefix of the messages about the outage itself. */
  readonly label: string;
  readonly stop: (lost: readonly ReplicaSetMember[]) => Promise<void>;
  /** Brings back the members that did not come back by themselves. */
  readonly start: (lost: readonly ReplicaSetMember[]) => Promise<void>;
  readonly stopping: (lost: readonly ReplicaSetMember[]) => string;
  readonly starting: (lost: readonly ReplicaSetMember[]) => string;
  /** Said when the stop has not returned by the end of the writes; null to say nothing. */
  readonly stillStopping: ((lost: readonly ReplicaSetMember[]) => string) | null;
}

/** A set prepared for the outage: settled, its PRIMARY and term known, its losses decided. */
interface Prepared {
  readonly casualty: Casualty;
  readonly set: DerivedReplicaSet;
  readonly expected: ReplicaSetMember | null;
  readonly primary: ReplicaSetMember;
  readonly lost: readonly ReplicaSetMember[];
  readonly termBefore: number;
  readonly say: (message: string) => void;
  readonly status: (ask?: (member: ReplicaSetMember) => boolean) => Promise<ReplicaSetStatus>;
  /** Resolves when the members still up see every lost member SECONDARY or PRIMARY again, after seeing it away. */
  readonly watchRejoin: (sawAway: boolean) => Promise<{ readonly states: string[]; readonly atMs: number } | undefined>;
  readonly problems: string[];
}

/**
 * The failover test itself, for every set the outage hits at once: all sets
 * are checked and settled before anything changes, their workloads run
 * together, the outage is issued once, and each set's election, writes,
 * replication and recovery are judged on their own.
 */
async function runOutage(
  casualties: readonly Casualty[],
  outage: Outage,
  deps: {
    readonly admin: MongoAdmin;
    readonly credentials: Credentials | undefined;
    readonly onProgress?: (message: string) => void;
    readonly timings?: Partial<FailoverTimings>;
    readonly now?: () => number;
  },
): Promise<FailoverReport[]> {
  const timings = { ...DEFAULT_FAILOVER_TIMINGS, ...deps.timings };
  const now = deps.now ?? Date.now;
  const within = (timeoutMs: number) => ({ intervalMs: timings.pollMs, timeoutMs });
  const sayOutage = (message: string): void => deps.onProgress?.(`${outage.label}: ${message}`);

  const prepared: Prepared[] = [];
  for (const casualty of casualties) prepared.push(await prepare(casualty));
  const lost = prepared.flatMap((run) => run.lost);

  async function prepare(casualty: Casualty): Promise<Prepared> {
    const { set } = casualty;
    const say = (message: string): void => deps.onProgress?.(`${set.name} (${outage.kind}): ${message}`);
    const status = (ask?: (member: ReplicaSetMember) => boolean) =>
      readReplicaSetStatus(set, deps.admin, deps.credentials, ask);
    const expected = preferredPrimary(set);
    const primary = await settledPrimary(set, expected, status, within(timings.takeoverTimeoutMs), say);
    const lostHere = casualty.lose(primary);
    const lostHosts = new Set(lostHere.map((member) => member.host));
    // A new PRIMARY is one elected in a later term: after a crash, the same member may win again.
    const termBefore = Math.max(
      0,
      ...(await readElectionViews(deps.admin, set.members, deps.credentials)).map((view) => view.term ?? 0),
    );
    // The stopped members are never asked while away: waiting for their timeouts would blur every figure.
    const othersStatus = () => status((member) => !lostHosts.has(member.host));
    const watchRejoin = (sawAwayAtStart: boolean) => {
      const sawAway = new Map(lostHere.map((member) => [member.host, sawAwayAtStart]));
      return poll(async () => {
        const seen = await othersStatus();
        const states = lostHere.map((member) =>
          seen.reachable ? seen.members.find((entry) => entry.host === member.host)?.state : undefined,
        );
        const back = states.map((state) => state === 'SECONDARY' || state === 'PRIMARY');
        // Right after a SIGKILL the others still report the last state they heard of.
        for (const [index, member] of lostHere.entries())
          if (!back[index] && states[index] !== undefined) sawAway.set(member.host, true);
        return back.every(Boolean) && [...sawAway.values()].every(Boolean)
          ? { states: states.map(String), atMs: now() }
          : undefined;
      }, within(timings.rejoinTimeoutMs));
    };
    return {
      casualty,
      set,
      expected,
      primary,
      lost: lostHere,
      termBefore,
      say,
      status,
      watchRejoin,
      problems: [],
    };
  }

  for (const run of prepared) run.say(`PRIMARY is ${run.primary.host}; writing every ${timings.intervalMs} ms`);
  let stopWorkload = false;
  const workloads = prepared.map((run) =>
    runWorkload(run.casualty.target, { intervalMs: timings.intervalMs, stopped: () => stopWorkload, now }),
  );
  let stopIssuedAt = now();
  // Written by the stop's own callbacks while the elections are watched.
  const stop: { returnedAt: number | null; failure: { readonly error: unknown } | null } = {
    returnedAt: null,
    failure: null,
  };
  const rethrowStopFailure = (): void => {
    if (stop.failure !== null) throw stop.failure.error;
  };
  let stopping: Promise<void> = Promise.resolve();
  let rejoinedBySystemd: ReturnType<Prepared['watchRejoin']>[] = prepared.map(() => Promise.resolve(undefined));
  const elections = prepared.map(() => ({
    seen: null as { readonly host: string; readonly atMs: number } | null,
    election: null as ElectionRecord | null,
  }));
  let records: WriteRecord[][] = [];
  let restarts: RestartReport[];
  try {
    await sleep(timings.warmupMs);
    sayOutage(outage.stopping(lost));
    stopIssuedAt = now();
    stopping = outage.stop(lost).then(
      () => void (stop.returnedAt = now()),
      (error: unknown) => void (stop.failure = { error }),
    );
    if (outage.kind === 'crash') rejoinedBySystemd = prepared.map((run) => run.watchRejoin(false));
    await Promise.all(
      prepared.map(async (run, index) => {
        if (!run.lost.includes(run.primary)) return;
        elections[index] = await watchElection(run);
      }),
    );
    rethrowStopFailure();
    await sleep(timings.afterMs);
    if (stop.returnedAt === null && outage.stillStopping !== null) sayOutage(outage.stillStopping(lost));
    await stopping;
    rethrowStopFailure();
  } finally {
    stopWorkload = true;
    records = await Promise.all(workloads);
    await stopping;
    restarts = await bringBack();
  }

  /** Polls the members still up for a PRIMARY elected after the stop; null when none came in time. */
  async function watchElection(
    run: Prepared,
  ): Promise<{ seen: { host: string; atMs: number } | null; election: ElectionRecord | null }> {
    const others = run.set.members.filter((member) => !run.lost.includes(member));
    const seen =
      (await poll(async () => {
        if (stop.failure !== null) return null;
        const views = await readElectionViews(deps.admin, others, deps.credentials);
        if (stop.failure !== null) return null;
        const view = views.find(
          (candidate) =>
            candidate.primary !== null &&
            (candidate.primary !== run.primary.host || (candidate.term ?? 0) > run.termBefore),
        );
        return view?.primary ? { host: view.primary, atMs: now() } : undefined;
      }, within(timings.electionTimeoutMs))) ?? null;
    if (stop.failure !== null) return { seen: null, election: null };
    if (seen === null) {
      run.problems.push(`no new PRIMARY within ${timings.electionTimeoutMs / 1000} s of stopping ${run.primary.host}`);
      return { seen, election: null };
    }
    const election = await newPrimaryElection(run, seen.host);
    run.say(`${seen.host} is PRIMARY, seen ${seconds(seen.atMs - stopIssuedAt)} s after the stop`);
    return { seen, election };
  }

  async function newPrimaryElection(run: Prepared, host: string): Promise<ElectionRecord | null> {
    const member = run.set.members.find((candidate) => candidate.host === host);
    const view =
      member === undefined ? null : await readElectionView(deps.admin, member, deps.credentials).catch(() => null);
    if (view?.election == null) {
      run.problems.push(
        `${host} did not report electionCandidateMetrics.lastElectionDate, ` +
          'so the election time could not be cross-checked',
      );
      return null;
    }
    return view.election;
  }

  async function bringBack(): Promise<RestartReport[]> {
    const bySystemd = await Promise.all(
      prepared.map(async (run, index): Promise<RestartReport | null> => {
        if (outage.kind !== 'crash' || stop.failure !== null) return null;
        const back = await rejoinedBySystemd[index];
        if (back)
          return { by: 'systemd', rejoinedAs: back.states.join(', '), afterSeconds: seconds(back.atMs - stopIssuedAt) };
        run.problems.push(
          `${run.primary.unitName} did not come back by itself within ${timings.rejoinTimeoutMs / 1000} s of the ` +
            'SIGKILL (Restart=on-failure should restart it); distctl started it',
        );
        return null;
      }),
    );
    const toStart = prepared.filter((_, index) => bySystemd[index] === null);
    if (toStart.length === 0) return bySystemd.map((report) => report!);
    const lostNow = toStart.flatMap((run) => run.lost);
    sayOutage(outage.starting(lostNow));
    const startedAt = now();
    await outage.start(lostNow);
    return Promise.all(
      prepared.map(async (run, index): Promise<RestartReport> => {
        const done = bySystemd[index];
        if (done) return done;
        const back = await run.watchRejoin(true);
        if (!back)
          run.problems.push(
            `${run.lost.map((member) => member.host).join(', ')} did not rejoin as SECONDARY within ` +
              `${timings.rejoinTimeoutMs / 1000} s of ${run.lost.length === 1 ? 'its' : 'their'} restart`,
          );
        return {
          by: 'distctl',
          rejoinedAs: back?.states.join(', ') ?? null,
          afterSeconds: back ? seconds(back.atMs - startedAt) : null,
        };
      }),
    );
  }

  // Each set is read back only now, with every member that will come back up again.
  return Promise.all(
    prepared.map((run, index) =>
      judge(run, records[index] ?? [], restarts[index]!, elections[index]!, stopIssuedAt, stop.returnedAt),
    ),
  );

  /** Write fates, replication, the priority takeover and the end state of one set: its report. */
  async function judge(
    run: Prepared,
    written: readonly WriteRecord[],
    restart: RestartReport,
    {
      seen,
      election,
    }: { readonly seen: { host: string; atMs: number } | null; readonly election: ElectionRecord | null },
    issuedAt: number,
    returnedAt: number | null,
  ): Promise<FailoverReport> {
    const { set, problems, expected, status } = run;
    let readError: unknown = null;
    const present =
      (await poll(
        () => run.casualty.target.presentSeqs().catch((error: unknown) => void (readError = error)),
        within(timings.replicationTimeoutMs),
      )) ?? null;
    const writes = writeFates(written, present);
    if (present === null) {
      problems.push(
        `could not read back which writes the set holds (${describeMongoError(readError)}); ` +
          `the fate of ${writes.acknowledged} acknowledged write(s) is unknown`,
      );
    }
    if (writes.acknowledgedButLost !== null && writes.acknowledgedButLost.length > 0) {
      problems.push(
        `${writes.acknowledgedButLost.length} acknowledged write(s) lost: ` +
          writes.acknowledgedButLost.slice(0, 10).join(', '),
      );
    }
    if (writes.acknowledged === 0) problems.push('no write was acknowledged at all');

    const lastAcknowledged = [...written].reverse().find((record) => record.outcome === 'acknowledged');
    const replication = lastAcknowledged === undefined ? null : await checkReplication(lastAcknowledged.seq);

    async function checkReplication(seq: number): Promise<ReplicationCheck> {
      const seenNow = await status();
      const members: ReplicationCheck['members'][number][] = [];
      for (const member of set.members) {
        const state = seenNow.reachable
          ? (seenNow.members.find((entry) => entry.host === member.host)?.state ?? 'NOT_IN_CONFIG')
          : 'UNKNOWN';
        if (state !== 'SECONDARY') {
          members.push({ host: member.host, state, readable: null });
          continue;
        }
        const readable =
          (await poll(
            async () => ((await run.casualty.target.readableOn(member, seq).catch(() => false)) ? true : undefined),
            within(timings.replicationTimeoutMs),
          )) ?? false;
        if (!readable)
          problems.push(
            `write ${seq} was not readable on SECONDARY ${member.host} within ${timings.replicationTimeoutMs / 1000} s`,
          );
        members.push({ host: member.host, state, readable });
      }
      if (!members.some((member) => member.readable !== null)) {
        problems.push(`replication not checked: no member was SECONDARY (${members.map(hostAndState).join(', ')})`);
      }
      return { seq, members };
    }

    // The highest-priority member takes PRIMARY back by itself once it has caught up;
    // wait for it, so the set is left as it was found.
    let primaryBackSeconds: number | null = null;
    if (expected !== null && restart.rejoinedAs !== null) {
      run.say(`waiting for ${expected.host} (priority ${expected.priority}) to take PRIMARY back`);
      const backAt = await poll(async () => {
        const seenNow = await status();
        return seenNow.reachable && seenNow.primary === expected.host ? now() : undefined;
      }, within(timings.takeoverTimeoutMs));
      if (backAt === undefined)
        problems.push(
          `${expected.host} (priority ${expected.priority}, the highest) did not take PRIMARY back ` +
            `within ${timings.takeoverTimeoutMs / 1000} s`,
        );
      else primaryBackSeconds = seconds(backAt - issuedAt);
    }
    const end = await status();
    const lostPrimary = run.lost.includes(run.primary);

    return {
      replicaSet: set.name,
      mode: outage.kind,
      primaryBefore: run.primary.host,
      stoppedMember: lostPrimary ? run.primary.host : null,
      stoppedMembers: run.lost.map((member) => member.host),
      newPrimary: seen?.host ?? null,
      electionSeconds: election === null ? null : seconds(election.dateMs - issuedAt),
      electionReason: election?.reason ?? null,
      electionSeenSeconds: seen === null ? null : seconds(seen.atMs - issuedAt),
      stopReturnedSeconds: returnedAt === null ? null : seconds(returnedAt - issuedAt),
      writes,
      replication,
      restart,
      primaryAtEnd: end.reachable ? end.primary : null,
      primaryBackSeconds,
      problems: [...crossCheck(election, seen, issuedAt), ...problems],
    };
  }
}

/**
 * The new PRIMARY's own election date must fall between the stop and when the
 * PRIMARY was seen; otherwise it was not this stop's election.
 */
function crossCheck(
  election: ElectionRecord | null,
  seen: { readonly atMs: number } | null,
  stopIssuedAt: number,
): string[] {
  if (election === null || seen === null) return [];
  if (
    election.dateMs >= stopIssuedAt - ELECTION_CLOCK_TOLERANCE_MS &&
    election.dateMs <= seen.atMs + ELECTION_CLOCK_TOLERANCE_MS
  )
    return [];
  const iso = (ms: number) => new Date(ms).toISOString();
  return [
    `the new PRIMARY's lastElectionDate ${iso(election.dateMs)} is not between the stop (${iso(stopIssuedAt)}) ` +
      `and when it was seen (${iso(seen.atMs)}): ` +
      'that election was not caused by this stop, or the clocks of host and container differ',
  ];
}

/** The single member with the highest priority, which MongoDB makes PRIMARY whenever it is healthy; null on a tie. */
function preferredPrimary(set: DerivedReplicaSet): ReplicaSetMember | null {
  const top = Math.max(...set.members.map((member) => member.priority));
  const candidates = set.members.filter((member) => member.priority === top);
  return candidates.length === 1 ? (candidates[0] ?? null) : null;
}

/** The PRIMARY of a set fit for the test; waits for a pending priority takeover first, so none happens mid-test. */
async function settledPrimary(
  set: DerivedReplicaSet,
  expected: ReplicaSetMember | null,
  status: () => Promise<ReplicaSetStatus>,
  within: { readonly intervalMs: number; readonly timeoutMs: number },
  say: (message: string) => void,
): Promise<ReplicaSetMember> {
  const primary = healthyPrimary(set, await status());
  if (expected === null || primary.host === expected.host) return primary;
  say(
    `PRIMARY is ${primary.host}, not ${expected.host} (priority ${expected.priority}); ` +
      'waiting for its priority takeover',
  );
  const settled = await poll(async () => {
    const seen = await status();
    return seen.reachable && seen.primary === expected.host ? healthyPrimary(set, seen) : undefined;
  }, within);
  if (settled === undefined) {
    throw new DistctlError(
      'FAILOVER_SET_UNSETTLED',
      `replica set ${set.name}: ${expected.host} (priority ${expected.priority}) did not take PRIMARY back ` +
        `from ${primary.host} within ${within.timeoutMs / 1000} s`,
      {
        hint: 'Check `distctl status`: the highest-priority member may be lagging. Test again once it is PRIMARY.',
      },
    );
  }
  return settled;
}

/** The current primary of a set that is fit for a failover test, or an error saying why it is not. */
function healthyPrimary(set: DerivedReplicaSet, status: ReplicaSetStatus): ReplicaSetMember {
  if (!status.reachable) {
    throw new DistctlError('FAILOVER_SET_UNREACHABLE', `replica set ${set.name} is unreachable: ${status.error}`, {
      hint: 'Run `distctl status` and `distctl up` until the set is healthy, then test failover.',
    });
  }
  const unhealthy = status.members.filter((member) => member.state !== 'PRIMARY' && member.state !== 'SECONDARY');
  const primary = set.members.find((member) => member.host === status.primary);
  if (primary === undefined || unhealthy.length > 0) {
    throw new DistctlError(
      'FAILOVER_SET_UNHEALTHY',
      `replica set ${set.name} is not healthy enough to test failover (${status.members.map(hostAndState).join(', ')})`,
      {
        hint: 'A failover test needs one PRIMARY and every other member SECONDARY; wait, or run `distctl up`.',
      },
    );
  }
  if (set.members.filter((member) => member.priority > 0).length < 2) {
    throw new DistctlError(
      'FAILOVER_NO_CANDIDATE',
      `replica set ${set.name} has no other member that can become PRIMARY`,
      { hint: 'Give a second member a priority above 0 in topology.yaml.' },
    );
  }
  return primary;
}

function hostAndState(member: { readonly host: string; readonly state: string }): string {
  return `${member.host} ${member.state}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Milliseconds as seconds, to the millisecond (no float noise in reports). */
function seconds(ms: number): number {
  return Math.round(ms) / 1000;
}
