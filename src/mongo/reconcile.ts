import type { Document } from 'mongodb';
import type { DerivedReplicaSet } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import {
  describeMongoError,
  hasCode,
  isTransition,
  MongoCommandError,
  MongoErrorCode,
  type Credentials,
  type MongoAdmin,
} from './admin.js';
import { onPrimary } from './primary.js';
import type { PollOptions } from './poll.js';

/** A member as replSetGetConfig reports it (the fields distctl manages, plus the rest kept as they are). */
interface ConfigMember extends Document {
  _id: number;
  host: string;
  priority?: number;
  votes?: number;
}

/** One difference between the running config and topology.yaml, in words for the operator. */
export type ConfigChange =
  | { readonly kind: 'priority'; readonly host: string; readonly from: number; readonly to: number }
  | { readonly kind: 'add'; readonly host: string; readonly priority: number }
  | { readonly kind: 'remove'; readonly host: string };

/** `rsA: add 10.0.0.5:27017 (priority 1)` and the like. */
export function describeChange(change: ConfigChange): string {
  if (change.kind === 'priority') return `${change.host}: priority ${change.from} → ${change.to}`;
  if (change.kind === 'add') return `add ${change.host} (priority ${change.priority})`;
  return `remove ${change.host}`;
}

/**
 * The differences between a running config's members and the desired ones,
 * matched by host (the member `_id`s in topology.yaml are positions, while a
 * running set keeps the `_id` each host was given).
 */
export function diffConfig(
  current: readonly ConfigMember[],
  desired: DerivedReplicaSet['initiateConfig'],
): ConfigChange[] {
  const changes: ConfigChange[] = [];
  for (const want of desired.members) {
    const have = current.find((member) => member.host === want.host);
    if (have === undefined) changes.push({ kind: 'add', host: want.host, priority: want.priority });
    else if ((have.priority ?? 1) !== want.priority)
      changes.push({ kind: 'priority', host: want.host, from: have.priority ?? 1, to: want.priority });
  }
  for (const have of current)
    if (!desired.members.some((want) => want.host === have.host)) changes.push({ kind: 'remove', host: have.host });
  return changes;
}

/**
 * The next config on the way to `desired`, as MongoDB allows a non-force
 * reconfig to go: all priority changes at once (they change no vote), then one
 * added or removed voting member per reconfig. Undefined when nothing is left.
 */
export function nextConfig(
  config: Document,
  desired: DerivedReplicaSet['initiateConfig'],
): { readonly config: Document; readonly changes: ConfigChange[] } | undefined {
  // newlyAdded is the server's own bookkeeping; a reconfig must not carry it.
  const members = (config.members as ConfigMember[]).map(
    ({ newlyAdded: _newlyAdded, ...member }) => ({ ...member }) as ConfigMember,
  );
  const changes = diffConfig(members, desired);
  const bump = (next: ConfigMember[]): Document => ({
    ...withoutTerm(config),
    version: Number(config.version) + 1,
    members: next,
  });
  const priorities = changes.filter(
    (change): change is Extract<ConfigChange, { kind: 'priority' }> => change.kind === 'priority',
  );
  if (priorities.length > 0) {
    return {
      config: bump(
        members.map((member) => ({
          ...member,
          priority: priorities.find((change) => change.host === member.host)?.to ?? member.priority,
        })),
      ),
      changes: priorities,
    };
  }
  const add = changes.find((change): change is Extract<ConfigChange, { kind: 'add' }> => change.kind === 'add');
  if (add !== undefined) {
    const id = Math.max(-1, ...members.map((member) => member._id)) + 1;
    return {
      config: bump([...members, { _id: id, host: add.host, priority: add.priority, votes: 1 }]),
      changes: [add],
    };
  }
  const remove = changes.find((change) => change.kind === 'remove');
  if (remove !== undefined)
    return { config: bump(members.filter((member) => member.host !== remove.host)), changes: [remove] };
  return undefined;
}

function withoutTerm(config: Document): Document {
  const { term: _term, ...rest } = config;
  return rest;
}

/** What reconcileReplicaSet changed, in words; empty when the running config already matched. */
export type ReconfigOutcome = readonly string[];

/**
 * Brings a running set's config to what topology.yaml declares, through
 * `replSetReconfig` on the writable primary, one step at a time (see
 * nextConfig), re-reading the config before each step. A change mongod
 * refuses, or one distctl will not make (removing the member that is primary),
 * stops with the remaining differences and what to do.
 */
export async function reconcileReplicaSet(
  set: DerivedReplicaSet,
  admin: MongoAdmin,
  credentials: Credentials,
  wait: PollOptions,
): Promise<ReconfigOutcome> {
  const applied: string[] = [];
  // Each step changes at most one member; more rounds than members plus one means something undoes our changes.
  for (let round = 0; round <= set.members.length + 4; round++) {
    const step = await onPrimary(set, admin, wait, 'reconciling its config', async (primary) => {
      const current = (await admin.command(primary, 'admin', { replSetGetConfig: 1 }, { credentials }))
        .config as Document;
      const next = nextConfig(current, set.initiateConfig);
      if (next === undefined) return 'done' as const;
      const removesPrimary = next.changes.some((change) => change.kind === 'remove' && change.host === primary.host);
      if (removesPrimary)
        throw refusal(
          set,
          current,
          `${primary.host} is the primary, and a primary cannot remove itself`,
          `step it down first (\`rs.stepDown()\` on ${primary.host}), then rerun \`distctl up\``,
        );
      try {
        await admin.command(primary, 'admin', { replSetReconfig: next.config }, { credentials });
      } catch (error) {
        // The previous config is not yet committed by a majority: the same step succeeds a moment later.
        if (
          hasCode(error, MongoErrorCode.ConfigurationInProgress) ||
          hasCode(error, MongoErrorCode.CurrentConfigNotCommittedYet)
        )
          return 'again' as const;
        if (error instanceof MongoCommandError && !isTransition(error)) {
          throw refusal(
            set,
            current,
            `mongod refused ${next.changes.map(describeChange).join(', ')}: ${describeMongoError(error)}`,
            'make every member in topology.yaml run and answer (`distctl status`), or change the set by hand with ' +
              '`rs.reconfig()`',
          );
        }
        throw error;
      }
      return next.changes.map(describeChange);
    });
    if (step === 'done') return applied;
    if (step !== 'again') applied.push(...step);
  }
  throw new DistctlError(
    'REPLSET_RECONFIG_UNSETTLED',
    `Replica set ${set.name}'s config kept differing from topology.yaml after ${applied.length} changes.`,
    {
      hint: 'Another tool may be changing the set at the same time; check `rs.conf()` and rerun `distctl up`.',
      details: applied,
    },
  );
}

function refusal(set: DerivedReplicaSet, current: Document, why: string, todo: string): DistctlError {
  const changes = diffConfig(current.members as ConfigMember[], set.initiateConfig);
  return new DistctlError(
    'REPLSET_RECONFIG_REFUSED',
    `Replica set ${set.name} differs from topology.yaml, and distctl cannot apply it: ${why}.`,
    {
      hint: `To do: ${todo}.`,
      details: changes.map((change) => `${set.name}: ${describeChange(change)}`),
    },
  );
}

/**
 * The set's primary is a member topology.yaml no longer lists: distctl cannot
 * reach it as a member, and a primary cannot remove itself. The differences
 * come from the hosts `hello` lists.
 */
export function foreignPrimary(set: DerivedReplicaSet, primary: string, hello: Document): DistctlError {
  const hosts = Array.isArray(hello.hosts) ? (hello.hosts as string[]) : [primary];
  return refusal(
    set,
    {
      members: hosts.map((host, index) => ({
        _id: index,
        host,
        priority: set.initiateConfig.members.find((m) => m.host === host)?.priority ?? 1,
      })),
    },
    `${primary} is the primary, and a primary cannot remove itself`,
    `step it down first (\`rs.stepDown()\` on ${primary}), then rerun \`distctl up\``,
  );
}
