import type { Document } from 'mongodb';
import type { DerivedReplicaSet, DesiredState } from '../derive/types.js';
import { describeMongoError, hasCode, MongoErrorCode, type Credentials, type MongoAdmin } from './admin.js';

/** One replica-set member as the set itself reports it. */
export interface MemberStatus {
  readonly host: string;
  readonly container: string;
  readonly port: number;
  /**
   * `stateStr` from replSetGetStatus: PRIMARY, SECONDARY, STARTUP2, RECOVERING, `(not reachable/healthy)`…;
   * NOT_IN_CONFIG when the set's config lacks it.
   */
  readonly state: string;
  /** 1 healthy, 0 unreachable from the member that answered, null unknown. */
  readonly health: number | null;
  /** Primary's optime minus this member's, in seconds; null without a primary or an optime. */
  readonly lagSeconds: number | null;
}

/** A replica set's observed state; an unreachable set is a value, not an exception. */
export type ReplicaSetStatus =
  | {
      readonly name: string;
      readonly reachable: true;
      readonly initiated: boolean;
      /** Host of the current primary, or null. */
      readonly primary: string | null;
      /** The member whose replSetGetStatus this is. */
      readonly reportedBy: string;
      readonly members: readonly MemberStatus[];
    }
  | {
      readonly name: string;
      readonly reachable: false;
      /**
       * `unauthorized`: members answered but refused distctl's credentials (or none were given); `unreachable`: none
       * answered.
       */
      readonly reason: UnreachableReason;
      readonly error: string;
    };

/** Why a deployment's state could not be read. */
export type UnreachableReason = 'unreachable' | 'unauthorized';

/** A standalone mongod's observed state. */
export type StandaloneStatus =
  | { readonly name: string; readonly host: string; readonly container: string; readonly reachable: true }
  | {
      readonly name: string;
      readonly host: string;
      readonly container: string;
      readonly reachable: false;
      readonly reason: UnreachableReason;
      readonly error: string;
    };

/** Unauthorized (13) and AuthenticationFailed (18): the member answered, but not to these credentials. */
function isAuthFailure(error: unknown): boolean {
  return hasCode(error, MongoErrorCode.Unauthorized) || hasCode(error, MongoErrorCode.AuthenticationFailed);
}

/** What `distctl status` shows for MongoDB. Plain, JSON-serialisable data. */
export interface MongoStatus {
  readonly replicaSets: readonly ReplicaSetStatus[];
  readonly standalones: readonly StandaloneStatus[];
}

/**
 * Observes every replica set (member states, health, replication lag) and
 * standalone (reachability) of the desired state. Never throws for an
 * unreachable or unauthorised deployment: that is reported in the value.
 * Pass the admin credentials from the secret store; without them
 * replSetGetStatus is refused by a set with access control.
 */
export async function observeMongo(
  desired: DesiredState,
  admin: MongoAdmin,
  options: { credentials?: Credentials } = {},
): Promise<MongoStatus> {
  const [replicaSets, standalones] = await Promise.all([
    Promise.all(desired.replicaSets.map((set) => readReplicaSetStatus(set, admin, options.credentials))),
    Promise.all(
      desired.standalones.map(async (standalone): Promise<StandaloneStatus> => {
        const where = { name: standalone.name, host: standalone.process.host, container: standalone.process.container };
        try {
          await admin.command(standalone.process, 'admin', { ping: 1 }, { credentials: options.credentials });
          return { ...where, reachable: true };
        } catch (error) {
          return {
            ...where,
            reachable: false,
            reason: isAuthFailure(error) ? 'unauthorized' : 'unreachable',
            error: describeMongoError(error),
          };
        }
      }),
    ),
  ]);
  return { replicaSets, standalones };
}

/**
 * replSetGetStatus of one set, asked of every member at once (a dead member
 * costs one timeout, not one per member); the answer of the highest-priority
 * member that replied is used, so a stopped preferred primary does not hide the rest.
 */
export async function readReplicaSetStatus(
  set: DerivedReplicaSet,
  admin: MongoAdmin,
  credentials: Credentials | undefined,
  /** Ask only these members (e.g. not one that was just stopped, whose timeout would slow every read). */
  ask: (member: DerivedReplicaSet['members'][number]) => boolean = () => true,
): Promise<ReplicaSetStatus> {
  const members = byPriority(set.members).filter(ask);
  const answers = await Promise.allSettled(
    members.map((member) => admin.command(member, 'admin', { replSetGetStatus: 1 }, { credentials })),
  );
  // Any member's full answer beats another's NotYetInitialized: right after a restart a member has not loaded its
  // config yet.
  for (const [index, answer] of answers.entries()) {
    if (answer.status === 'fulfilled')
      return {
        name: set.name,
        reachable: true,
        initiated: true,
        ...membersFromReply(set, answer.value),
        reportedBy: members[index]!.host,
      };
  }
  // Without an answer, hello (which needs no credentials) tells a set never initiated from one whose members refuse us.
  const hellos = await Promise.allSettled(members.map((member) => admin.command(member, 'admin', { hello: 1 })));
  const answered = hellos.flatMap((hello, index) =>
    hello.status === 'fulfilled' ? [{ member: members[index]!, hello: hello.value }] : [],
  );
  if (
    answered.length > 0 &&
    answered.every(({ hello }) => hello.isreplicaset === true && typeof hello.setName !== 'string') &&
    answered.length === members.length
  ) {
    const notInitiated = set.members.map((m) => ({
      host: m.host,
      container: m.container,
      port: m.port,
      state: 'NOT_INITIATED',
      health: null,
      lagSeconds: null,
    }));
    return {
      name: set.name,
      reachable: true,
      initiated: false,
      primary: null,
      reportedBy: answered[0]!.member.host,
      members: notInitiated,
    };
  }
  const errors = answers.map((answer, index) => {
    const member = members[index]!;
    const said = answer.status === 'rejected' ? describeMongoError(answer.reason) : '';
    return said.startsWith(member.host) ? said : `${member.host}: ${said}`;
  });
  const refused = answers.some((answer) => answer.status === 'rejected' && isAuthFailure(answer.reason));
  return {
    name: set.name,
    reachable: false,
    reason: refused ? 'unauthorized' : 'unreachable',
    error: errors.join('; '),
  };
}

/** Members ordered as distctl prefers them: highest priority first, then by `_id`. */
export function byPriority<T extends { readonly priority: number; readonly id: number }>(members: readonly T[]): T[] {
  return [...members].sort((a, b) => b.priority - a.priority || a.id - b.id);
}

function membersFromReply(
  set: DerivedReplicaSet,
  reply: Document,
): { primary: string | null; members: MemberStatus[] } {
  const reported = new Map<string, Document>(
    (Array.isArray(reply.members) ? (reply.members as Document[]) : []).map((member) => [String(member.name), member]),
  );
  const primaryDoc = [...reported.values()].find((member) => member.stateStr === 'PRIMARY');
  const primaryTime = optimeOf(primaryDoc);
  const members = set.members.map((member): MemberStatus => {
    const doc = reported.get(member.host);
    const time = optimeOf(doc);
    return {
      host: member.host,
      container: member.container,
      port: member.port,
      state: doc === undefined ? 'NOT_IN_CONFIG' : String(doc.stateStr ?? 'UNKNOWN'),
      health: typeof doc?.health === 'number' ? doc.health : null,
      // An unreachable member's optime is whatever it last was (often the epoch): no lag to speak of.
      lagSeconds:
        primaryTime === null || time === null || doc?.health === 0 ? null : Math.max(0, (primaryTime - time) / 1000),
    };
  });
  return { primary: primaryDoc === undefined ? null : String(primaryDoc.name), members };
}

function optimeOf(member: Document | undefined): number | null {
  const date: unknown = member?.optimeDate;
  return date instanceof Date && !Number.isNaN(date.getTime()) ? date.getTime() : null;
}
