import type { Document } from 'mongodb';
import type { DerivedReplicaSet, ReplicaSetMember } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import type { ContainerOps } from '../incus/container-ops.js';
import { describeMongoError, hasCode, MongoErrorCode, type Credentials, type MongoAdmin } from './admin.js';
import { poll, type PollOptions } from './poll.js';
import { writablePrimaryNow } from './primary.js';
import { byPriority } from './status.js';
import { restartMongod } from './units.js';

/** What restartMembers needs. */
export interface RollingDeps {
  readonly ops: ContainerOps;
  readonly admin: MongoAdmin;
  /** The admin user, for replSetStepDown; undefined before it exists. */
  readonly credentials: Credentials | undefined;
  /** Bound of each wait: a restarted member back as SECONDARY, a new primary after the stepdown. */
  readonly wait: PollOptions;
  readonly onProgress?: (message: string) => void;
}

/** How long a stepped-down primary stays ineligible, and how long it waits for a secondary to catch up (seconds). */
const STEPDOWN_SECONDS = 60;
const CATCH_UP_SECONDS = 15;

/**
 * Restarts the members of `set` that need it without the set losing its
 * majority: secondaries one at a time, each waited for until its own hello
 * says SECONDARY again (`systemctl restart` returns long before that), then
 * the primary last, after `replSetStepDown` and a new primary elected. A set
 * that was never initiated holds nothing yet: its members restart together.
 * Returns the members restarted, in order.
 */
export async function restartMembers(
  set: DerivedReplicaSet,
  toRestart: readonly ReplicaSetMember[],
  deps: RollingDeps,
): Promise<ReplicaSetMember[]> {
  if (toRestart.length === 0) return [];
  const progress = (message: string): void => deps.onProgress?.(`${set.name}: ${message}`);
  const hellos = await Promise.allSettled(
    set.members.map((member) => deps.admin.command(member, 'admin', { hello: 1 })),
  );
  const initiated = hellos.some((answer) => answer.status === 'fulfilled' && typeof answer.value.setName === 'string');
  if (!initiated) {
    await Promise.all(toRestart.map((member) => restartMongod(deps.ops, member)));
    return [...toRestart];
  }

  const primary = await writablePrimaryNow(set, deps.admin);
  // Lowest priority first: the members most likely to become primary restart last.
  const secondaries = byPriority(toRestart)
    .reverse()
    .filter((member) => member !== primary);
  const order: ReplicaSetMember[] = [];
  for (const member of secondaries) {
    progress(`restarting ${member.host} (${member.container} ${member.unitName}) to apply its new files`);
    await restartMongod(deps.ops, member);
    await waitForOwnState(set, member, deps, ['SECONDARY', 'PRIMARY']);
    order.push(member);
  }
  if (primary !== undefined && toRestart.includes(primary)) {
    progress(`stepping ${primary.host} down before restarting it`);
    await stepDown(set, primary, deps, {
      before: 'its restart',
      leftAlone: `${primary.host} was not restarted and keeps running with its old files`,
      hint: 'Check the members with `distctl status`, then rerun `distctl up`.',
    });
    progress(`restarting ${primary.host} (${primary.container} ${primary.unitName}) to apply its new files`);
    await restartMongod(deps.ops, primary);
    await waitForOwnState(set, primary, deps, ['SECONDARY', 'PRIMARY']);
    order.push(primary);
  }
  return order;
}

/** What a step-down is for, worded into its errors. */
export interface StepDownPurpose {
  /** What it precedes: `its restart`, `the evacuation of cluster member m2`. */
  readonly before: string;
  /** What was therefore not done, as a clause: `m2 was not evacuated`. */
  readonly leftAlone: string;
  readonly hint: string;
}

/**
 * replSetStepDown on the primary, then waits until another member is the
 * writable primary (bounded by `deps.wait`); returns that member. Without the
 * admin user (a set that holds nothing of anyone's yet) it steps nothing down
 * and returns undefined.
 */
export async function stepDown(
  set: DerivedReplicaSet,
  primary: ReplicaSetMember,
  deps: Pick<RollingDeps, 'admin' | 'credentials' | 'wait' | 'onProgress'>,
  purpose: StepDownPurpose,
): Promise<ReplicaSetMember | undefined> {
  if (deps.credentials === undefined) {
    // A set without its admin user yet holds no data of anyone's: going away without a stepdown costs one election.
    deps.onProgress?.(`${set.name}: no admin user yet, so ${primary.host} goes without a stepdown`);
    return undefined;
  }
  try {
    await deps.admin.command(
      primary,
      'admin',
      { replSetStepDown: STEPDOWN_SECONDS, secondaryCatchUpPeriodSecs: CATCH_UP_SECONDS },
      { credentials: deps.credentials },
    );
  } catch (error) {
    // Already not primary (an election raced us) is fine; anything else means no secondary could take over.
    if (hasCode(error, MongoErrorCode.AuthenticationFailed)) {
      // The secret exists but the user not yet (an earlier run stopped before creating it): nothing of anyone's is
      // stored.
      deps.onProgress?.(`${set.name}: the admin user does not exist yet, so ${primary.host} goes without a stepdown`);
      return undefined;
    }
    if (!hasCode(error, MongoErrorCode.NotWritablePrimary)) {
      throw new DistctlError(
        'REPLSET_STEPDOWN_FAILED',
        `Replica set ${set.name}: ${primary.host} did not step down before ${purpose.before}: ` +
          `${describeMongoError(error)}. ${capitalized(purpose.leftAlone)}.`,
        { hint: `A secondary must be caught up to take over. ${purpose.hint}` },
      );
    }
  }
  const next = await poll(async () => {
    const now = await writablePrimaryNow(set, deps.admin);
    return now !== undefined && now !== primary ? now : undefined;
  }, deps.wait);
  if (next === undefined) {
    throw new DistctlError(
      'REPLSET_NO_PRIMARY',
      `Replica set ${set.name} elected no new primary within ${Math.round(deps.wait.timeoutMs / 1000)}s after ` +
        `${primary.host} stepped down; ${purpose.leftAlone}.`,
      { hint: purpose.hint },
    );
  }
  return next;
}

function capitalized(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** A replica-set member's state as its own `hello` tells it: PRIMARY (writable), SECONDARY, or what it is doing. */
export function helloState(hello: Document): 'PRIMARY' | 'SECONDARY' | 'recovering' | 'loading its config' {
  if (hello.isWritablePrimary === true) return 'PRIMARY';
  if (hello.secondary === true) return 'SECONDARY';
  return typeof hello.setName === 'string' ? 'recovering' : 'loading its config';
}

/** Polls the member's own hello until it reports one of `states`. */
async function waitForOwnState(
  set: DerivedReplicaSet,
  member: ReplicaSetMember,
  deps: RollingDeps,
  states: readonly ('SECONDARY' | 'PRIMARY')[],
): Promise<void> {
  let last = 'no answer yet';
  const reached = await poll(async () => {
    try {
      last = helloState(await deps.admin.command(member, 'admin', { hello: 1 }));
      return (states as readonly string[]).includes(last) ? true : undefined;
    } catch (error) {
      last = describeMongoError(error);
      return undefined;
    }
  }, deps.wait);
  if (reached === undefined) {
    throw new DistctlError(
      'REPLSET_MEMBER_NOT_BACK',
      `Replica set ${set.name}: ${member.host} (container ${member.container}) was restarted but is not ` +
        `${states.join(' or ')} after ${Math.round(deps.wait.timeoutMs / 1000)}s (last: ${last}). The other members ` +
        `were left alone.`,
      {
        hint:
          `Read its log with \`distctl logs ${member.container} ${member.unitName}\`; rerun \`distctl up\` once ` +
          `it is back.`,
      },
    );
  }
}
