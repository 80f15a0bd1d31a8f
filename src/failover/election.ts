/**
 * What the members themselves say about elections: the term each one is in,
 * the PRIMARY it sees, and — on a PRIMARY — `electionCandidateMetrics`, the
 * server's own record of the election that made it PRIMARY. The failover test
 * times the election from these, not from when a stop command returned.
 */
import type { Document } from 'mongodb';
import type { ReplicaSetMember } from '../derive/types.js';
import type { Credentials, MongoAdmin } from '../mongo/admin.js';

/** The election that made a member PRIMARY, from its replSetGetStatus `electionCandidateMetrics`. */
export interface ElectionRecord {
  /** `lastElectionReason`: stepUpRequestSkipDryRun (handoff), electionTimeout, priorityTakeover, … */
  readonly reason: string;
  /** `lastElectionDate`, milliseconds since the epoch (the member's clock). */
  readonly dateMs: number;
  /** `electionTerm` (called `termAtElection` before MongoDB 4.4). */
  readonly term: number | null;
}

/** One member's replSetGetStatus, reduced to what an election changes. */
export interface ElectionView {
  /** The member that answered. */
  readonly reporter: string;
  readonly term: number | null;
  /** The member it reports in state PRIMARY, or null. */
  readonly primary: string | null;
  /** Present when the reporter is itself PRIMARY and says how it got there. */
  readonly election: ElectionRecord | null;
}

/** replSetGetStatus of exactly `member`, as an ElectionView; rejects as the admin does when it cannot answer. */
export async function readElectionView(
  admin: MongoAdmin,
  member: ReplicaSetMember,
  credentials: Credentials | undefined,
): Promise<ElectionView> {
  const reply = await admin.command(member, 'admin', { replSetGetStatus: 1 }, { credentials });
  const members: Document[] = Array.isArray(reply.members) ? (reply.members as Document[]) : [];
  const primary = members.find((entry) => entry.stateStr === 'PRIMARY');
  return {
    reporter: member.host,
    term: asNumber(reply.term),
    primary: primary === undefined ? null : String(primary.name),
    election: electionRecord(reply.electionCandidateMetrics),
  };
}

/** Reads every member at once; members that do not answer are left out (a stopped member is expected not to). */
export async function readElectionViews(
  admin: MongoAdmin,
  members: readonly ReplicaSetMember[],
  credentials: Credentials | undefined,
): Promise<ElectionView[]> {
  const answers = await Promise.allSettled(members.map((member) => readElectionView(admin, member, credentials)));
  return answers.flatMap((answer) => (answer.status === 'fulfilled' ? [answer.value] : []));
}

function electionRecord(metrics: unknown): ElectionRecord | null {
  if (typeof metrics !== 'object' || metrics === null) return null;
  const { lastElectionReason, lastElectionDate, electionTerm, termAtElection } = metrics as Document;
  if (!(lastElectionDate instanceof Date) || Number.isNaN(lastElectionDate.getTime())) return null;
  return {
    reason: typeof lastElectionReason === 'string' ? lastElectionReason : 'unknown',
    dateMs: lastElectionDate.getTime(),
    term: asNumber(electionTerm) ?? asNumber(termAtElection),
  };
}

/** Terms are int64 on the wire: a number with the driver's defaults, a Long or bigint otherwise. */
function asNumber(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'object' && value !== null && 'toNumber' in value && typeof value.toNumber === 'function') {
    const converted: unknown = value.toNumber();
    return typeof converted === 'number' ? converted : null;
  }
  return null;
}
