import type { DerivedReplicaSet, ReplicaSetMember } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import { describeMongoError, isTransition, MongoUnreachableError, type MongoAdmin } from './admin.js';
import { poll, type PollOptions } from './poll.js';
import { byPriority } from './status.js';

/**
 * The member that says, in its own `hello`, that it is the writable primary —
 * never another member's `hello.primary`, which lags behind elections and
 * priority takeovers. Undefined when no member says so right now.
 */
export async function writablePrimaryNow(
  set: DerivedReplicaSet,
  admin: MongoAdmin,
): Promise<ReplicaSetMember | undefined> {
  const answers = await Promise.allSettled(
    byPriority(set.members).map(async (member) => ({
      member,
      hello: await admin.command(member, 'admin', { hello: 1 }),
    })),
  );
  for (const answer of answers)
    if (answer.status === 'fulfilled' && answer.value.hello.isWritablePrimary === true) return answer.value.member;
  return undefined;
}

/**
 * Runs `action` on the set's writable primary. When the primary changes under
 * it (NotWritablePrimary, PrimarySteppedDown, InterruptedDueToReplStateChange,
 * or the member stops answering), finds the primary again and retries, until
 * `wait.timeoutMs` has passed. `action` must be safe to repeat.
 */
export async function onPrimary<T>(
  set: DerivedReplicaSet,
  admin: MongoAdmin,
  wait: PollOptions,
  what: string,
  action: (primary: ReplicaSetMember) => Promise<T>,
): Promise<T> {
  let last = 'no member said it is the writable primary';
  const outcome = await poll(async () => {
    const primary = await writablePrimaryNow(set, admin);
    if (primary === undefined) return undefined;
    try {
      return { value: await action(primary) };
    } catch (error) {
      if (!isTransition(error) && !(error instanceof MongoUnreachableError)) throw error;
      last = `${primary.host}: ${describeMongoError(error)}`;
      return undefined;
    }
  }, wait);
  if (outcome === undefined) {
    throw new DistctlError(
      'REPLSET_NO_WRITABLE_PRIMARY',
      `Replica set ${set.name} had no writable primary for ${Math.round(wait.timeoutMs / 1000)}s while ${what}.`,
      {
        hint:
          'Check the members with `distctl status` (an election may be stuck without a majority), then rerun ' +
          '`distctl up`.',
        details: [last],
      },
    );
  }
  return outcome.value;
}
