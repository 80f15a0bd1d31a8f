import type { Document } from 'mongodb';
import type { DerivedReplicaSet, ReplicaSetMember } from '../derive/types.js';
import { DistctlError } from '../errors/index.js';
import {
  describeMongoError,
  hasCode,
  MongoErrorCode,
  MongoUnreachableError,
  type Credentials,
  type MongoAdmin,
} from './admin.js';
import { poll, type PollOptions } from './poll.js';
import { byPriority, readReplicaSetStatus, type ReplicaSetStatus } from './status.js';
import type { LocalhostAccess } from './bootstrap.js';
import { onPrimary } from './primary.js';
import { foreignPrimary, reconcileReplicaSet } from './reconcile.js';
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
  /** Config changes applied to bring a running set to topology.yaml, in words; empty when it matched. */
  readonly reconfigured: readonly string[];
  /**
   * Members that answered without the set's config (emptied data directory) while others had it: the set resyncs them.
   */
  readonly resyncing: readonly string[];
  /** The healthy set as last observed. */
  readonly status: Extract<ReplicaSetStatus, { reachable: true }>;
}

/**
 * The ways ensureReplicaSet reaches mongod: the driver from the host, and the localhost-exception path for the first
 * steps.
 */
export interface MongoChannels {
  readonly admin: MongoAdmin;
  readonly localhost: LocalhostAccess;
}

type Report = (phase: ReplicaSetProgress['phase'], states: Record<string, string>, message: string) => void;

/**
 * Brings a replica set to "initiated, matching topology.yaml, one PRIMARY,
 * all others SECONDARY", idempotently:
 * 1. asks every member `hello`. One that carries our set name means the set
 *    exists (another name is an error, nothing changed); members without a
 *    config next to it were emptied and get resynced by the set. When none has
 *    a config and all answer, replSetInitiate goes to the preferred member
 *    through the localhost exception.
 * 2. waits for a member whose own hello says it is the writable primary;
 * 3. creates the admin user there if there is none (retried when the primary
 *    changes under it);
 * 4. reconciles the running config with topology.yaml (reconcileReplicaSet);
 * 5. waits until every member is PRIMARY or SECONDARY, reporting states.
 */
export async function ensureReplicaSet(
  set: DerivedReplicaSet,
  channels: MongoChannels,
  credentials: Credentials,
  options: ReplicaSetOptions = DEFAULT_REPLICA_SET_OPTIONS,
): Promise<ReplicaSetResult> {
  const report: Report = (phase, states, message) => options.onProgress?.({ set: set.name, phase, states, message });
  const preferred = byPriority(set.members)[0];
  if (preferred === undefined) throw new Error(`replica set ${set.name} has no members`);

  const found = await surveyMembers(set, channels.admin, options.reach, report);
  if (found.resyncing.length > 0) {
    report(
      'syncing',
      {},
      `${set.name}: ${found.resyncing.join(', ')} answered without the set's config (data directory emptied?); the ` +
        `set hands it the config and resyncs it`,
    );
  }
  const initiated = found.initiated ? false : await initiate(set, preferred, channels, options.reach, report);

  await waitForPrimary(set, channels.admin, options.health, report);
  report('creating-admin', {}, `${set.name}: making sure the admin user exists on the primary`);
  const adminUser = await onPrimary(set, channels.admin, options.health, 'creating the admin user', (primary) =>
    ensureAdminUser(primary, channels, credentials),
  );
  const reconfigured = await reconcileReplicaSet(set, channels.admin, credentials, options.health);
  for (const change of reconfigured) report('syncing', {}, `${set.name}: reconfigured: ${change}`);

  const status = await waitForHealthy(set, channels.admin, credentials, options.health, report, found.resyncing);
  return { name: set.name, initiated, adminUser, reconfigured, resyncing: found.resyncing, status };
}

/**
 * Asks every member hello until either one shows the set initiated (under our
 * name) or all answer without a config. Members that answer without a config
 * while another has it are listed as resyncing.
 */
async function surveyMembers(
  set: DerivedReplicaSet,
  admin: MongoAdmin,
  reach: PollOptions,
  report: Report,
): Promise<{ initiated: boolean; resyncing: string[] }> {
  const failures = new Map<string, string>();
  const found = await poll(async () => {
    const answers = new Map<string, Document>();
    for (const member of byPriority(set.members)) {
      try {
        answers.set(member.host, await admin.command(member, 'admin', { hello: 1 }));
        failures.delete(member.host);
      } catch (error) {
        failures.set(member.host, describeMongoError(error));
      }
    }
    const states = Object.fromEntries(
      set.members.map((m) => [m.host, answers.has(m.host) ? 'answering' : 'not answering']),
    );
    report('reaching-members', states, `${set.name}: ${answers.size}/${set.members.length} members answering`);
    const initiated = set.members.filter((member) => {
      const hello = answers.get(member.host);
      return hello !== undefined && checkSetName(set, member, hello);
    });
    if (initiated.length > 0) {
      const listed = new Set(initiated.flatMap((m) => (answers.get(m.host)?.hosts as string[] | undefined) ?? []));
      return {
        initiated: true,
        // Only members the running config lists were emptied; a member new to topology.yaml is added by the
        // reconciliation.
        resyncing: set.members
          .filter((m) => answers.has(m.host) && !initiated.includes(m) && listed.has(m.host))
          .map((m) => m.host),
      };
    }
    return failures.size === 0 ? { initiated: false, resyncing: [] } : undefined;
  }, reach);
  if (found === undefined) {
    const missing = set.members.filter((m) => failures.has(m.host));
    const named = missing.map((m) => `${m.host} (container ${m.container}, ${m.unitName})`).join(', ');
    throw new DistctlError(
      'REPLSET_MEMBER_UNREACHABLE',
      `Replica set ${set.name}: ${named} did not answer within ${Math.round(reach.timeoutMs / 1000)}s.`,
      {
        hint: 'Check the unit and its log with `distctl logs <container> <unit>`, then rerun `distctl up`.',
        details: missing.map((m) => `${m.host}: ${failures.get(m.host) ?? ''}`),
      },
    );
  }
  return found;
}

/**
 * replSetInitiate on `preferred` through the localhost exception, retried while members are still coming up; true when
 * this call initiated.
 */
async function initiate(
  set: DerivedReplicaSet,
  preferred: ReplicaSetMember,
  channels: MongoChannels,
  reach: PollOptions,
  report: Report,
): Promise<boolean> {
  let lastError: unknown;
  const outcome = await channels.localhost.open(preferred, (channel) =>
    poll(async () => {
      report('initiating', {}, `${set.name}: replSetInitiate on ${preferred.host}`);
      try {
        await channel.command(preferred, 'admin', { replSetInitiate: set.initiateConfig });
        return 'initiated' as const;
      } catch (error) {
        if (hasCode(error, MongoErrorCode.AlreadyInitialized)) {
          // Initiated between our hello and now (or the member had just not finished loading its config): accept it
          // only under our name.
          checkSetName(set, preferred, await channels.admin.command(preferred, 'admin', { hello: 1 }));
          return 'already' as const;
        }
        if (hasCode(error, MongoErrorCode.InvalidReplicaSetConfig) || hasCode(error, 2)) {
          throw new DistctlError(
            'REPLSET_CONFIG_INVALID',
            `mongod ${preferred.host} (container ${preferred.container}) rejected replica set ${set.name}'s ` +
              `configuration: ${describeMongoError(error)}.`,
            {
              hint:
                `Check the members of mongodb.replicaSets "${set.name}" in topology.yaml (hosts, ports, ` +
                `priorities).`,
            },
          );
        }
        if (hasCode(error, MongoErrorCode.NewReplicaSetConfigurationIncompatible)) {
          throw new DistctlError(
            'REPLSET_MEMBER_IN_OTHER_SET',
            `Replica set ${set.name} cannot be initiated: a member already holds a replica-set config of its own. ` +
              `${describeMongoError(error)}.`,
            {
              hint:
                'A member kept the data of an earlier set while the others were emptied. ' +
                "Empty that member's data directory too (or restore the others), then rerun `distctl up`.",
            },
          );
        }
        // Members still starting (refused, NodeNotFound in the quorum check) answer in a moment.
        if (hasCode(error, MongoErrorCode.NodeNotFound) || error instanceof MongoUnreachableError) {
          lastError = error;
          return undefined;
        }
        // Right after a restart a member answers hello before it has loaded its config: replSetInitiate then meets
        // NotYetInitialized, or Unauthorized once the set has users. Its hello names the set a moment later.
        if (hasCode(error, MongoErrorCode.NotYetInitialized) || hasCode(error, MongoErrorCode.Unauthorized)) {
          lastError = error;
          const hello = await channels.admin.command(preferred, 'admin', { hello: 1 }).catch(() => ({}));
          return checkSetName(set, preferred, hello) ? ('already' as const) : undefined;
        }
        throw new DistctlError(
          'REPLSET_INITIATE_FAILED',
          `replSetInitiate of ${set.name} on ${preferred.host} (container ${preferred.container}) failed: ` +
            `${describeMongoError(error)}.`,
          {
            hint: 'Check the mongod logs (`distctl logs`) and rerun `distctl up`.',
          },
        );
      }
    }, reach),
  );
  if (outcome === undefined) {
    throw new DistctlError(
      'REPLSET_MEMBER_UNREACHABLE',
      `Replica set ${set.name} could not be initiated: not every member answered (${describeMongoError(lastError)}).`,
      {
        hint:
          `Check that every member's mongod is running and reachable from ${preferred.host}, then rerun ` +
          `\`distctl up\`.`,
      },
    );
  }
  return outcome === 'initiated';
}

/**
 * True when `hello` shows the set initiated under our name; throws when under another name or not a replica-set member
 * at all.
 */
function checkSetName(set: DerivedReplicaSet, member: ReplicaSetMember, hello: Document): boolean {
  if (typeof hello.setName === 'string') {
    if (hello.setName === set.name) return true;
    throw new DistctlError(
      'REPLSET_NAME_MISMATCH',
      `mongod ${member.host} (container ${member.container}) belongs to replica set "${hello.setName}", not ` +
        `"${set.name}". distctl changed nothing.`,
      {
        hint:
          `Either rename the set in topology.yaml to "${hello.setName}", or remove that member's data directory ` +
          `(${member.dbPath}) to start it afresh.`,
      },
    );
  }
  if (hello.isreplicaset !== true) {
    throw new DistctlError(
      'REPLSET_NOT_ENABLED',
      `mongod ${member.host} (container ${member.container}) is not running as a replica-set member.`,
      {
        hint:
          `Its config should set replication.replSetName: ${set.name}; rerun \`distctl up\` to rewrite ` +
          `/etc/mongod-${member.port}.conf and restart it.`,
      },
    );
  }
  return false;
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
 * Waits until a member's own hello says it is the writable primary, and
 * returns it. hello needs no authentication, so this works before any user
 * exists — which matters because the first user can only be created on the primary.
 */
async function waitForPrimary(
  set: DerivedReplicaSet,
  admin: MongoAdmin,
  health: PollOptions,
  report: Report,
): Promise<ReplicaSetMember> {
  const history = new StateHistory(set.members);
  const primary = await poll(async () => {
    const states: Record<string, string> = {};
    let writable: ReplicaSetMember | undefined;
    for (const member of byPriority(set.members)) {
      const hello = await admin.command(member, 'admin', { hello: 1 }).catch((error: unknown) => {
        states[member.host] = `unreachable (${describeMongoError(error)})`;
        return undefined;
      });
      if (hello !== undefined) {
        states[member.host] =
          hello.isWritablePrimary === true
            ? 'PRIMARY'
            : hello.secondary === true
              ? 'SECONDARY'
              : 'not yet PRIMARY or SECONDARY';
        if (hello.isWritablePrimary === true) writable ??= member;
        if (typeof hello.primary === 'string' && !set.members.some((m) => m.host === hello.primary))
          throw foreignPrimary(set, hello.primary, hello);
      }
      history.note(member.host, states[member.host] ?? '');
    }
    report(
      'electing',
      states,
      `${set.name}: waiting for a primary (${Object.entries(states)
        .map(([host, state]) => `${host} ${state}`)
        .join(', ')})`,
    );
    return writable;
  }, health);
  if (primary === undefined) {
    throw new DistctlError(
      'REPLSET_NO_PRIMARY',
      `Replica set ${set.name} elected no primary within ${Math.round(health.timeoutMs / 1000)}s.`,
      {
        hint:
          'Check that the members can reach each other on their IP:port and share the same keyfile; see the ' +
          'mongod logs (`distctl logs`).',
        details: history.lines(),
      },
    );
  }
  return primary;
}

/** True when exactly one member is PRIMARY and every other SECONDARY. */
export function isHealthy(status: ReplicaSetStatus): status is Extract<ReplicaSetStatus, { reachable: true }> {
  if (!status.reachable || !status.initiated) return false;
  const states = status.members.map((member) => member.state);
  return (
    states.filter((state) => state === 'PRIMARY').length === 1 &&
    states.every((state) => state === 'PRIMARY' || state === 'SECONDARY')
  );
}

/** Polls replSetGetStatus until the set is healthy; on timeout the error lists every state each member went through. */
async function waitForHealthy(
  set: DerivedReplicaSet,
  admin: MongoAdmin,
  credentials: Credentials,
  health: PollOptions,
  report: Report,
  resyncing: readonly string[],
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
    report(
      'syncing',
      states,
      `${set.name}: ${status.members.map((member) => `${member.host} ${member.state}`).join(', ')}`,
    );
    return isHealthy(status) ? status : undefined;
  }, health);
  if (healthy === undefined) {
    throw new DistctlError(
      'REPLSET_NOT_HEALTHY',
      `Replica set ${set.name} did not reach one PRIMARY and all others SECONDARY within ` +
        `${Math.round(health.timeoutMs / 1000)}s.`,
      {
        hint:
          'Members still in STARTUP2/RECOVERING may need longer (raise the timeout); unreachable ones need their ' +
          'unit and log checked (`distctl logs`).',
        details: [
          ...history.lines(),
          ...resyncing.map(
            (host) =>
              `${host} had no replica-set config when distctl looked (data directory emptied?): the set resyncs it ` +
              `from the others, which takes as long as copying the data`,
          ),
        ],
      },
    );
  }
  return healthy;
}
