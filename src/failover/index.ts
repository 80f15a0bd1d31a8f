import type { DerivedReplicaSet, ReplicaSetMember } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import type { Credentials, MongoAdmin } from '../mongo/admin.js';
import { poll } from '../mongo/poll.js';
import { readReplicaSetStatus, type ReplicaSetStatus } from '../mongo/status.js';
import { runWorkload, writeFates, type WriteFates, type WriteTarget } from './workload.js';

/** Timings of a failover test, in milliseconds. */
export interface FailoverTimings {
  /** Writes before the primary is stopped. */
  readonly warmupMs: number;
  /** Writes after the new primary is seen. */
  readonly afterMs: number;
  /** Pause between two writes. */
  readonly intervalMs: number;
  /** How long the set may take to elect a new primary. */
  readonly electionTimeoutMs: number;
  /** How long the stopped member may take to rejoin after its restart. */
  readonly rejoinTimeoutMs: number;
  readonly pollMs: number;
}

export const DEFAULT_FAILOVER_TIMINGS: FailoverTimings = { warmupMs: 3_000, afterMs: 3_000, intervalMs: 100, electionTimeoutMs: 60_000, rejoinTimeoutMs: 90_000, pollMs: 250 };

/** What a failover test needs from the outside world. */
export interface FailoverDeps {
  readonly admin: MongoAdmin;
  readonly credentials: Credentials | undefined;
  readonly target: WriteTarget;
  /** Stops a member the way an operator would (`systemctl stop mongod-PORT`). */
  readonly stopMember: (member: ReplicaSetMember) => Promise<void>;
  readonly startMember: (member: ReplicaSetMember) => Promise<void>;
  readonly onProgress?: (message: string) => void;
  readonly timings?: Partial<FailoverTimings>;
  readonly now?: () => number;
}

/** The outcome of one failover test; `problems` is empty exactly when it passed. */
export interface FailoverReport {
  readonly replicaSet: string;
  readonly stoppedMember: string;
  readonly newPrimary: string | null;
  /** From the stop command to the first status naming a new PRIMARY. */
  readonly electionSeconds: number | null;
  readonly writes: WriteFates;
  /** A write acknowledged after the election is served by a secondary. */
  readonly replicatedToSecondary: boolean | null;
  /** The stopped member came back as SECONDARY or PRIMARY. */
  readonly rejoined: boolean;
  readonly rejoinedAs: string | null;
  readonly problems: readonly string[];
}

/**
 * Stops the primary of a healthy replica set under a steady write workload
 * (w:"majority"), measures how long the set takes to elect another primary,
 * checks every write's fate against what the set holds afterwards, checks
 * replication to a secondary, and restarts the stopped member — always, also
 * when a step failed — waiting until it has rejoined.
 */
export async function runFailoverTest(set: DerivedReplicaSet, deps: FailoverDeps): Promise<FailoverReport> {
  const timings = { ...DEFAULT_FAILOVER_TIMINGS, ...deps.timings };
  const now = deps.now ?? Date.now;
  const progress = deps.onProgress ?? (() => undefined);
  const pollOptions = (timeoutMs: number) => ({ intervalMs: timings.pollMs, timeoutMs });
  const before = await readReplicaSetStatus(set, deps.admin, deps.credentials);
  const primary = healthyPrimary(set, before);
  // The stopped member is never asked: waiting for its timeout would blur the election time.
  const status = () => readReplicaSetStatus(set, deps.admin, deps.credentials, (member) => member.host !== primary.host);
  progress(`${set.name}: PRIMARY is ${primary.host}; writing every ${timings.intervalMs} ms`);

  let stopWorkload = false;
  const workload = runWorkload(deps.target, { intervalMs: timings.intervalMs, stopped: () => stopWorkload, now });
  const problems: string[] = [];
  let newPrimary: string | null = null;
  let electionSeconds: number | null = null;
  let replicatedToSecondary: boolean | null = null;
  let rejoinedAs: string | null = null;
  let writes: WriteFates | null = null;
  try {
    await new Promise((resolve) => setTimeout(resolve, timings.warmupMs));
    progress(`${set.name}: stopping ${primary.unitName} in ${primary.container} (PRIMARY ${primary.host})`);
    const stoppedAt = now();
    await deps.stopMember(primary);
    newPrimary =
      (await poll(async () => {
        const seen = await status();
        return seen.reachable && seen.primary !== null && seen.primary !== primary.host ? seen.primary : undefined;
      }, pollOptions(timings.electionTimeoutMs))) ?? null;
    if (newPrimary === null) {
      problems.push(`no new PRIMARY within ${timings.electionTimeoutMs / 1000} s of stopping ${primary.host}`);
    } else {
      electionSeconds = (now() - stoppedAt) / 1000;
      progress(`${set.name}: ${newPrimary} is PRIMARY after ${electionSeconds.toFixed(1)} s`);
    }
    await new Promise((resolve) => setTimeout(resolve, timings.afterMs));
  } finally {
    stopWorkload = true;
    const records = await workload;
    try {
      const present = await deps.target.presentSeqs();
      writes = writeFates(records, present);
      const lastAcknowledged = [...records].reverse().find((record) => record.outcome === 'acknowledged' && present.has(record.seq));
      if (newPrimary !== null && lastAcknowledged) {
        replicatedToSecondary = (await poll(async () => ((await deps.target.readableOnSecondary(lastAcknowledged.seq)) ? true : undefined), pollOptions(10_000))) ?? false;
      }
    } finally {
      progress(`${set.name}: starting ${primary.unitName} in ${primary.container} again`);
      await deps.startMember(primary);
      rejoinedAs =
        (await poll(async () => {
          const seen = await status();
          const state = seen.reachable ? seen.members.find((member) => member.host === primary.host)?.state : undefined;
          return state === 'SECONDARY' || state === 'PRIMARY' ? state : undefined;
        }, pollOptions(timings.rejoinTimeoutMs))) ?? null;
    }
  }

  const fates = writes ?? writeFates([], new Set());
  if (fates.acknowledgedButLost.length > 0) problems.push(`${fates.acknowledgedButLost.length} acknowledged write(s) lost: ${fates.acknowledgedButLost.slice(0, 10).join(', ')}`);
  if (fates.acknowledged === 0) problems.push('no write was acknowledged at all');
  if (replicatedToSecondary === false) problems.push('a write acknowledged after the election never became readable on a secondary');
  if (rejoinedAs === null) problems.push(`${primary.host} did not rejoin as SECONDARY within ${timings.rejoinTimeoutMs / 1000} s of its restart`);
  return { replicaSet: set.name, stoppedMember: primary.host, newPrimary, electionSeconds, writes: fates, replicatedToSecondary, rejoined: rejoinedAs !== null, rejoinedAs, problems };
}

/** The current primary of a set that is fit for a failover test, or an error saying why it is not. */
function healthyPrimary(set: DerivedReplicaSet, status: ReplicaSetStatus): ReplicaSetMember {
  if (!status.reachable) {
    throw new DistctlError('FAILOVER_SET_UNREACHABLE', `replica set ${set.name} is unreachable: ${status.error}`, { hint: 'Run `distctl status` and `distctl up` until the set is healthy, then test failover.' });
  }
  const unhealthy = status.members.filter((member) => member.state !== 'PRIMARY' && member.state !== 'SECONDARY');
  const primary = set.members.find((member) => member.host === status.primary);
  if (primary === undefined || unhealthy.length > 0) {
    throw new DistctlError('FAILOVER_SET_UNHEALTHY', `replica set ${set.name} is not healthy enough to test failover (${status.members.map((member) => `${member.host} ${member.state}`).join(', ')})`, {
      hint: 'A failover test needs one PRIMARY and every other member SECONDARY; wait, or run `distctl up`.',
    });
  }
  if (set.members.filter((member) => member.priority > 0).length < 2) {
    throw new DistctlError('FAILOVER_NO_CANDIDATE', `replica set ${set.name} has no other member that can become PRIMARY`, { hint: 'Give a second member a priority above 0 in topology.yaml.' });
  }
  return primary;
}
