import type { Document } from 'mongodb';
import type { DerivedReplicaSet, ReplicaSetMember } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import { describeMongoError, hasCode, MongoErrorCode, MongoUnreachableError, type Credentials, type MongoAdmin, type MongoCommandChannel } from './admin.js';
import { poll, type PollOptions } from './poll.js';
import { byPriority, readReplicaSetStatus, type ReplicaSetStatus } from './status.js';
import { ensureAdminUser, type AdminUserOutcome } from './users.js';

/** Something happening while a replica set is brought up, for spinners and logs. */
export interface ReplicaSetProgress {
  readonly set: string;
  readonly phase: 'reaching-members' | 'initiating' | 'electing' | 'creating-admin' | 'syncing';
  /** Member host → state as last seen (hello answers before initiation, stateStr afterwards). */
  readonly states: Readonly<Record<string, string>>;
  readonly message: string;
}

/** Bounds of the waits in ensureReplicaSet. */
export interface ReplicaSetOptions {
  /** Waiting for members to answer (before and during initiation). */
  readonly reach: PollOptions;
  /** Waiting for an election and for all members to become SECONDARY. */
  readonly health: PollOptions;
  readonly onProgress?: (progress: ReplicaSetProgress) => void;
}

/** Sensible bounds for containers on one host: members answer within a minute, a fresh set is healthy within two. */
export const DEFAULT_REPLICA_SET_OPTIONS: ReplicaSetOptions = {
  reach: { intervalMs: 1_000, timeoutMs: 60_000 },
  health: { intervalMs: 1_000, timeoutMs: 120_000 },
};

/** What ensureReplicaSet found and did. */
export interface ReplicaSetResult {
  readonly name: string;
  /** True when this run sent replSetInitiate; false when the set was already initiated. */
  readonly initiated: boolean;
  readonly adminUser: AdminUserOutcome;
  /** The healthy set as last observed. */
  readonly status: Extract<ReplicaSetStatus, { reachable: true }>;
}

/** The channels ensureReplicaSet talks through: the driver from the host, and loopback inside containers for the localhost exception. */
export interface MongoChannels {
  readonly admin: MongoAdmin;
  readonly loopback: MongoCommandChannel;
}

/**
 * Brings a replica set to "initiated, one PRIMARY, all others SECONDARY",
 * idempotently. Asks the preferred member (highest priority) `hello`:
 * its set name equal to ours → already initiated, nothing sent; another name →
 * error, nothing changed; none → replSetInitiate with the derived config
 * (through the localhost exception), once every member answers. Then waits for
 * a primary, creates the admin user on it if there is none, and waits until
 * every member is PRIMARY or SECONDARY, reporting states while it waits.
 */
export async function ensureReplicaSet(set: DerivedReplicaSet, channels: MongoChannels, credentials: Credentials, options: ReplicaSetOptions = DEFAULT_REPLICA_SET_OPTIONS): Promise<ReplicaSetResult> {
  const report = (phase: ReplicaSetProgress['phase'], states: Record<string, string>, message: string): void =>
    options.onProgress?.({ set: set.name, phase, states, message });
  const preferred = byPriority(set.members)[0];
  if (preferred === undefined) throw new Error(`replica set ${set.name} has no members`);

  const hello = await helloWhenReachable(set, [preferred], channels.admin, options.reach, report);
  const initiated = await initiateUnlessInitiated(set, preferred, hello, channels, options, report);

  const primary = await waitForPrimary(set, channels.admin, options.health, report);
  report('creating-admin', {}, `${set.name}: making sure the admin user exists on ${primary.host}`);
  const adminUser = await ensureAdminUser(primary, channels, credentials);

  const status = await waitForHealthy(set, channels.admin, credentials, options.health, report);
  return { name: set.name, initiated, adminUser, status };
}

async function initiateUnlessInitiated(
  set: DerivedReplicaSet,
  preferred: ReplicaSetMember,
  hello: Document,
  channels: MongoChannels,
  options: ReplicaSetOptions,
  report: (phase: ReplicaSetProgress['phase'], states: Record<string, string>, message: string) => void,
): Promise<boolean> {
  if (checkSetName(set, preferred, hello)) return false;
  // replSetInitiate checks that every member answers; wait for them here to name the ones that do not.
  await helloWhenReachable(set, set.members, channels.admin, options.reach, report);
  let lastError: unknown;
  const outcome = await poll(async () => {
    report('initiating', {}, `${set.name}: replSetInitiate on ${preferred.host}`);
    try {
      await channels.loopback.command(preferred, 'admin', { replSetInitiate: set.initiateConfig });
      return 'initiated' as const;
    } catch (error) {
      if (hasCode(error, MongoErrorCode.AlreadyInitialized)) {
        // Someone initiated it between our hello and now; accept it only under our name.
        checkSetName(set, preferred, await channels.admin.command(preferred, 'admin', { hello: 1 }));
        return 'already' as const;
      }
      if (hasCode(error, MongoErrorCode.InvalidReplicaSetConfig)) {
        throw new DistctlError('REPLSET_CONFIG_INVALID', `mongod ${preferred.host} (container ${preferred.container}) rejected replica set ${set.name}'s configuration: ${describeMongoError(error)}.`, {
          hint: `Check the members of mongodb.replicaSets "${set.name}" in topology.yaml (hosts, ports, priorities).`,
        });
      }
      if (hasCode(error, MongoErrorCode.NodeNotFound) || error instanceof MongoUnreachableError) {
        lastError = error;
        return undefined;
      }
      throw new DistctlError('REPLSET_INITIATE_FAILED', `replSetInitiate of ${set.name} on ${preferred.host} (container ${preferred.container}) failed: ${describeMongoError(error)}.`, {
        hint: 'Check the mongod logs (`distctl logs`) and rerun `distctl up`.',
      });
    }
  }, options.reach);
  if (outcome === undefined) {
    throw new DistctlError('REPLSET_MEMBER_UNREACHABLE', `Replica set ${set.name} could not be initiated: not every member answered (${describeMongoError(lastError)}).`, {
      hint: `Check that every member's mongod is running and reachable from ${preferred.host}, then rerun \`distctl up\`.`,
    });
  }
  return outcome === 'initiated';
}

/** True when `hello` shows the set initiated under our name; throws when under another name or not a replica-set member at all. */
function checkSetName(set: DerivedReplicaSet, member: ReplicaSetMember, hello: Document): boolean {
  if (typeof hello.setName === 'string') {
    if (hello.setName === set.name) return true;
    throw new DistctlError('REPLSET_NAME_MISMATCH', `mongod ${member.host} (container ${member.container}) belongs to replica set "${hello.setName}", not "${set.name}". distctl changed nothing.`, {
      hint: `Either rename the set in topology.yaml to "${hello.setName}", or remove that member's data directory (${member.dbPath}) to start it afresh.`,
    });
  }
  if (hello.isreplicaset !== true) {
    throw new DistctlError('REPLSET_NOT_ENABLED', `mongod ${member.host} (container ${member.container}) is not running as a replica-set member.`, {
      hint: `Its config should set replication.replSetName: ${set.name}; rerun \`distctl up\` to rewrite /etc/mongod-${member.port}.conf and restart it.`,
    });
  }
  return false;
}

/** Waits until every member in `members` answers hello; returns the first member's answer, or names those that never answered. */
async function helloWhenReachable(
  set: DerivedReplicaSet,
  members: readonly ReplicaSetMember[],
  admin: MongoAdmin,
  reach: PollOptions,
  report: (phase: ReplicaSetProgress['phase'], states: Record<string, string>, message: string) => void,
): Promise<Document> {
  const answers = new Map<string, Document>();
  const failures = new Map<string, string>();
  const all = await poll(async () => {
    for (const member of members.filter((m) => !answers.has(m.host))) {
      try {
        answers.set(member.host, await admin.command(member, 'admin', { hello: 1 }));
        failures.delete(member.host);
      } catch (error) {
        failures.set(member.host, describeMongoError(error));
      }
    }
    const states = Object.fromEntries(members.map((m) => [m.host, answers.has(m.host) ? 'answering' : 'not answering']));
    report('reaching-members', states, `${set.name}: ${answers.size}/${members.length} members answering`);
    return failures.size === 0 ? answers : undefined;
  }, reach);
  if (all === undefined) {
    const missing = members.filter((m) => failures.has(m.host));
    throw new DistctlError('REPLSET_MEMBER_UNREACHABLE', `Replica set ${set.name}: ${missing.map((m) => `${m.host} (container ${m.container}, ${m.unitName})`).join(', ')} did not answer within ${Math.round(reach.timeoutMs / 1000)}s.`, {
      hint: 'Check the unit and its log with `distctl logs <container> <unit>`, then rerun `distctl up`.',
      details: missing.map((m) => `${m.host}: ${failures.get(m.host) ?? ''}`),
    });
  }
  const first = all.get(members[0]?.host ?? '');
  if (first === undefined) throw new Error('helloWhenReachable needs at least one member');
  return first;
}

/** Per member, the distinct states seen in order, for "what happened while we waited" messages. */
class StateHistory {
  private readonly seen: Map<string, string[]>;
  constructor(members: readonly ReplicaSetMember[]) {
    this.seen = new Map(members.map((member) => [member.host, []]));
  }
  note(host: string, state: string): void {
    const history = this.seen.get(host) ?? [];
    if (history.at(-1) !== state) history.push(state);
    this.seen.set(host, history);
  }
  lines(): string[] {
    return [...this.seen].map(([host, states]) => `${host}: ${states.join(' → ') || 'never seen'}`);
  }
}

/**
 * Waits until some member's hello names a primary, and returns that member.
 * hello needs no authentication, so this works before any user exists — which
 * matters because the first user can only be created on the primary.
 */
async function waitForPrimary(
  set: DerivedReplicaSet,
  admin: MongoAdmin,
  health: PollOptions,
  report: (phase: ReplicaSetProgress['phase'], states: Record<string, string>, message: string) => void,
): Promise<ReplicaSetMember> {
  const history = new StateHistory(set.members);
  const primary = await poll(async () => {
    const states: Record<string, string> = {};
    let primaryHost: string | undefined;
    for (const member of byPriority(set.members)) {
      try {
        const hello = await admin.command(member, 'admin', { hello: 1 });
        states[member.host] = hello.isWritablePrimary === true ? 'PRIMARY' : hello.secondary === true ? 'SECONDARY' : 'not yet PRIMARY or SECONDARY';
        if (typeof hello.primary === 'string') primaryHost ??= hello.primary;
      } catch (error) {
        states[member.host] = `unreachable (${describeMongoError(error)})`;
      }
      history.note(member.host, states[member.host] ?? '');
    }
    report('electing', states, `${set.name}: waiting for a primary (${Object.entries(states).map(([host, state]) => `${host} ${state}`).join(', ')})`);
    return set.members.find((member) => member.host === primaryHost);
  }, health);
  if (primary === undefined) {
    throw new DistctlError('REPLSET_NO_PRIMARY', `Replica set ${set.name} elected no primary within ${Math.round(health.timeoutMs / 1000)}s.`, {
      hint: 'Check that the members can reach each other on their IP:port and share the same keyfile; see the mongod logs (`distctl logs`).',
      details: history.lines(),
    });
  }
  return primary;
}

/** True when exactly one member is PRIMARY and every other SECONDARY. */
export function isHealthy(status: ReplicaSetStatus): status is Extract<ReplicaSetStatus, { reachable: true }> {
  if (!status.reachable || !status.initiated) return false;
  const states = status.members.map((member) => member.state);
  return states.filter((state) => state === 'PRIMARY').length === 1 && states.every((state) => state === 'PRIMARY' || state === 'SECONDARY');
}

/** Polls replSetGetStatus until the set is healthy; on timeout the error lists every state each member went through. */
async function waitForHealthy(
  set: DerivedReplicaSet,
  admin: MongoAdmin,
  credentials: Credentials,
  health: PollOptions,
  report: (phase: ReplicaSetProgress['phase'], states: Record<string, string>, message: string) => void,
): Promise<Extract<ReplicaSetStatus, { reachable: true }>> {
  const history = new StateHistory(set.members);
  const healthy = await poll(async () => {
    const status = await readReplicaSetStatus(set, admin, credentials);
    if (!status.reachable) {
      for (const member of set.members) history.note(member.host, 'unreachable');
      report('syncing', {}, `${set.name}: no member answered replSetGetStatus (${status.error})`);
      return undefined;
    }
    for (const member of status.members) history.note(member.host, member.state);
    const states = Object.fromEntries(status.members.map((member) => [member.host, member.state]));
    report('syncing', states, `${set.name}: ${status.members.map((member) => `${member.host} ${member.state}`).join(', ')}`);
    return isHealthy(status) ? status : undefined;
  }, health);
  if (healthy === undefined) {
    throw new DistctlError('REPLSET_NOT_HEALTHY', `Replica set ${set.name} did not reach one PRIMARY and all others SECONDARY within ${Math.round(health.timeoutMs / 1000)}s.`, {
      hint: 'Members still in STARTUP2/RECOVERING may need longer (raise the timeout); unreachable ones need their unit and log checked (`distctl logs`).',
      details: history.lines(),
    });
  }
  return healthy;
}
