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

/** What a failover test needs from the outside world. */
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

/** Which members serve the last acknowledged write, asked one by one over direct connections. */
export interface ReplicationCheck {
  readonly seq: number;
  /** Every member with its state when checked; `readable` is null for a member that was not SECONDARY (not asked). */
  readonly members: readonly { readonly host: string; readonly state: string; readonly readable: boolean | null }[];
}

/** How the stopped member came back. */
export interface RestartReport {
  /** `systemd`: Restart=on-failure after the SIGKILL; `distctl`: `systemctl start`. */
  readonly by: 'systemd' | 'distctl';
  readonly rejoinedAs: string | null;
  /** From the SIGKILL (by systemd) or from distctl's start to the member seen SECONDARY again. */
  readonly afterSeconds: number | null;
}

/** The outcome of one failover test of one set in one mode; `problems` is empty exactly when it passed. */
export interface FailoverReport {
  readonly replicaSet: string;
  readonly mode: FailoverMode;
  readonly stoppedMember: string;
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
  const timings = { ...DEFAULT_FAILOVER_TIMINGS, ...deps.timings };
  const now = deps.now ?? Date.now;
  const say = (message: string): void => deps.onProgress?.(`${set.name} (${mode}): ${message}`);
  const within = (timeoutMs: number) => ({ intervalMs: timings.pollMs, timeoutMs });
  const status = (ask?: (member: ReplicaSetMember) => boolean) =>
    readReplicaSetStatus(set, deps.admin, deps.credentials, ask);
  const expected = preferredPrimary(set);

  const primary = await settledPrimary(set, expected, status, within(timings.takeoverTimeoutMs), say);
  const others = set.members.filter((member) => member.host !== primary.host);
  // A new PRIMARY is one elected in a later term: after a crash, the same member may win again.
  const termBefore = Math.max(
    0,
    ...(await readElectionViews(deps.admin, set.members, deps.credentials)).map((view) => view.term ?? 0),
  );
  // The stopped member is never asked while it is away: waiting for its timeout would blur every figure.
  const othersStatus = () => status((member) => member.host !== primary.host);
  /** Resolves when the others see `primary` SECONDARY or PRIMARY again, after having seen it away. */
  const watchRejoin = (sawAway: boolean) =>
    poll(async () => {
      const seen = await othersStatus();
      const state = seen.reachable ? seen.members.find((member) => member.host === primary.host)?.state : undefined;
      const back = state === 'SECONDARY' || state === 'PRIMARY';
      // Right after a SIGKILL the others still report the last state they heard of.
      if (!back && state !== undefined) sawAway = true;
      return back && sawAway ? { state, atMs: now() } : undefined;
    }, within(timings.rejoinTimeoutMs));

  say(`PRIMARY is ${primary.host}; writing every ${timings.intervalMs} ms`);
  let stopWorkload = false;
  const workload = runWorkload(deps.target, { intervalMs: timings.intervalMs, stopped: () => stopWorkload, now });
  const problems: string[] = [];
  let stopIssuedAt = now();
  // Written by the stop's own callbacks while the election is watched.
  const stop: { returnedAt: number | null; failure: { readonly error: unknown } | null } = {
    returnedAt: null,
    failure: null,
  };
  const rethrowStopFailure = (): void => {
    if (stop.failure !== null) throw stop.failure.error;
  };
  let stopping: Promise<void> = Promise.resolve();
  let rejoinedBySystemd: ReturnType<typeof watchRejoin> = Promise.resolve(undefined);
  let seen: { readonly host: string; readonly atMs: number } | null = null;
  let election: ElectionRecord | null = null;
  let records: WriteRecord[] = [];
  let restart: RestartReport;
  try {
    await sleep(timings.warmupMs);
    say(
      `${mode === 'crash' ? 'sending SIGKILL to' : 'stopping'} ${primary.unitName} in ${primary.container} ` +
        `(PRIMARY ${primary.host})`,
    );
    stopIssuedAt = now();
    stopping = deps.stopMember(primary, mode).then(
      () => void (stop.returnedAt = now()),
      (error: unknown) => void (stop.failure = { error }),
    );
    if (mode === 'crash') rejoinedBySystemd = watchRejoin(false);
    seen =
      (await poll(async () => {
        if (stop.failure !== null) return null;
        const views = await readElectionViews(deps.admin, others, deps.credentials);
        if (stop.failure !== null) return null;
        const view = views.find(
          (candidate) =>
            candidate.primary !== null && (candidate.primary !== primary.host || (candidate.term ?? 0) > termBefore),
        );
        return view?.primary ? { host: view.primary, atMs: now() } : undefined;
      }, within(timings.electionTimeoutMs))) ?? null;
    rethrowStopFailure();
    if (seen === null) {
      problems.push(`no new PRIMARY within ${timings.electionTimeoutMs / 1000} s of stopping ${primary.host}`);
    } else {
      election = await newPrimaryElection(seen.host);
      say(`${seen.host} is PRIMARY, seen ${seconds(seen.atMs - stopIssuedAt)} s after the stop`);
    }
    await sleep(timings.afterMs);
    if (stop.returnedAt === null && mode === 'stepdown')
      say(`waiting for ${primary.unitName} to finish its shutdown quiesce`);
    await stopping;
    rethrowStopFailure();
  } finally {
    stopWorkload = true;
    records = await workload;
    await stopping;
    restart = await bringBack();
  }

  async function newPrimaryElection(host: string): Promise<ElectionRecord | null> {
    const member = set.members.find((candidate) => candidate.host === host);
    const view =
      member === undefined ? null : await readElectionView(deps.admin, member, deps.credentials).catch(() => null);
    if (view?.election == null) {
      problems.push(
        `${host} did not report electionCandidateMetrics.lastElectionDate, ` +
          'so the election time could not be cross-checked',
      );
      return null;
    }
    return view.election;
  }

  async function bringBack(): Promise<RestartReport> {
    if (mode === 'crash' && stop.failure === null) {
      const back = await rejoinedBySystemd;
      if (back) return { by: 'systemd', rejoinedAs: back.state, afterSeconds: seconds(back.atMs - stopIssuedAt) };
      problems.push(
        `${primary.unitName} did not come back by itself within ${timings.rejoinTimeoutMs / 1000} s of the SIGKILL ` +
          '(Restart=on-failure should restart it); distctl started it',
      );
    }
    say(`starting ${primary.unitName} in ${primary.container} again`);
    const startedAt = now();
    await deps.startMember(primary);
    const back = await watchRejoin(true);
    if (!back)
      problems.push(
        `${primary.host} did not rejoin as SECONDARY within ${timings.rejoinTimeoutMs / 1000} s of its restart`,
      );
    return {
      by: 'distctl',
      rejoinedAs: back?.state ?? null,
      afterSeconds: back ? seconds(back.atMs - startedAt) : null,
    };
  }

  // The set is read back only now, with every member that will come back up again.
  let readError: unknown = null;
  const present =
    (await poll(
      () => deps.target.presentSeqs().catch((error: unknown) => void (readError = error)),
      within(timings.replicationTimeoutMs),
    )) ?? null;
  const writes = writeFates(records, present);
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

  const lastAcknowledged = [...records].reverse().find((record) => record.outcome === 'acknowledged');
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
          async () => ((await deps.target.readableOn(member, seq).catch(() => false)) ? true : undefined),
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
    say(`waiting for ${expected.host} (priority ${expected.priority}) to take PRIMARY back`);
    const backAt = await poll(async () => {
      const seenNow = await status();
      return seenNow.reachable && seenNow.primary === expected.host ? now() : undefined;
    }, within(timings.takeoverTimeoutMs));
    if (backAt === undefined)
      problems.push(
        `${expected.host} (priority ${expected.priority}, the highest) did not take PRIMARY back ` +
          `within ${timings.takeoverTimeoutMs / 1000} s`,
      );
    else primaryBackSeconds = seconds(backAt - stopIssuedAt);
  }
  const end = await status();

  return {
    replicaSet: set.name,
    mode,
    stoppedMember: primary.host,
    newPrimary: seen?.host ?? null,
    electionSeconds: election === null ? null : seconds(election.dateMs - stopIssuedAt),
    electionReason: election?.reason ?? null,
    electionSeenSeconds: seen === null ? null : seconds(seen.atMs - stopIssuedAt),
    stopReturnedSeconds: stop.returnedAt === null ? null : seconds(stop.returnedAt - stopIssuedAt),
    writes,
    replication,
    restart,
    primaryAtEnd: end.reachable ? end.primary : null,
    primaryBackSeconds,
    problems: [...crossCheck(election, seen, stopIssuedAt), ...problems],
  };
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
