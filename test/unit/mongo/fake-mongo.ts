/**
 * A scripted MongoDB deployment for unit tests, as strict as mongod where the
 * tier depends on it. It answers the commands the tier sends the way mongod
 * documents them (hello fields, error codes and names), refuses what mongod
 * refuses, and moves members through their states on a clock: drive it with
 * `vi.useFakeTimers()` and advance time, never real sleeps.
 *
 * Timing, each a knob with a default in milliseconds:
 * - a started (or restarted) mongod answers after `startMs`, then still lacks
 *   its replica-set config for `loadConfigMs` (hello without setName,
 *   NotYetInitialized from replSetGetStatus);
 * - a member holding the config is STARTUP2 for `syncMs`, then SECONDARY;
 * - without a primary, the highest-priority SECONDARY wins an election after
 *   `electionMs`;
 * - a SECONDARY with a higher priority than the primary takes over after being
 *   SECONDARY for `takeoverMs`: the primary steps down at once, and the set has
 *   no writable primary for `electionMs` (writes get NotWritablePrimary);
 * - replSetStepDown hands over the same way, the old primary ineligible for the
 *   seconds it was asked to stay down.
 */
import type { Document } from 'mongodb';
import type { ReplSetInitiateConfig } from '../../../src/derive/types.js';
import {
  MongoCommandError,
  MongoUnreachableError,
  type Credentials,
  type MongoAdmin,
  type MongoCommandChannel,
  type MongoTarget,
} from '../../../src/mongo/admin.js';
import type { LocalhostAccess } from '../../../src/mongo/bootstrap.js';

interface FakeUser {
  pwd: string;
  roles: { role: string; db: string }[];
}

interface ConfigMember {
  _id: number;
  host: string;
  priority: number;
  votes: number;
}

interface SetConfig {
  _id: string;
  version: number;
  members: ConfigMember[];
}

type Process = 'stopped' | 'starting' | 'loading' | 'running';

interface FakeMember {
  host: string;
  /** replication.replSetName on its command line, or null for a standalone. */
  replSetName: string | null;
  process: Process;
  /** Whether its local database holds the set's config (lost when wiped). */
  hasConfig: boolean;
  state: 'STARTUP' | 'STARTUP2' | 'SECONDARY' | 'PRIMARY' | 'REMOVED';
  /** Bumped on every stop, so timers of an earlier life do nothing. */
  life: number;
  /** No election win before this time (after replSetStepDown). */
  ineligibleUntil: number;
}

/** One command as the fake saw it. */
export interface SeenCommand {
  via: 'network' | 'localhost';
  host: string;
  name: string;
  user: string | null;
  cmd: Document;
  /** Date.now() when it arrived. */
  at: number;
}

/** Knobs for the scenarios. */
export interface FakeBehaviour {
  /** Members not running at the start (a `start()` brings them up). */
  down?: string[];
  /** Members that start answering only this many ms from now. */
  lateMs?: Record<string, number>;
  /** Time each command takes to answer (so the set can change state between two commands). */
  latencyMs?: number;
  startMs?: number;
  loadConfigMs?: number;
  syncMs?: number;
  electionMs?: number;
  takeoverMs?: number;
}

const DEFAULTS = {
  latencyMs: 0,
  startMs: 1_000,
  loadConfigMs: 500,
  syncMs: 3_000,
  electionMs: 2_000,
  takeoverMs: 3_000,
};

/** A group of fake mongods sharing replicated state per replica set. */
export class FakeMongo {
  readonly seen: SeenCommand[] = [];
  /** Every bootstrap proxy opened and closed, in order: `open host` / `close host`. */
  readonly proxyEvents: string[] = [];
  /** Most members of one set down (not answering as SECONDARY or PRIMARY) at once, per set. */
  readonly maxUnavailable = new Map<string, number>();
  private readonly members = new Map<string, FakeMember>();
  private readonly configs = new Map<string, SetConfig>();
  /** Per set name (or standalone host): users in admin. */
  private readonly users = new Map<string, Map<string, FakeUser>>();
  private readonly timing: typeof DEFAULTS;

  constructor(members: { host: string; replSetName: string | null }[], behaviour: FakeBehaviour = {}) {
    this.timing = { ...DEFAULTS, ...Object.fromEntries(Object.entries(behaviour).filter(([key]) => key in DEFAULTS)) };
    for (const member of members) {
      this.members.set(member.host, {
        ...member,
        process: 'running',
        hasConfig: false,
        state: 'STARTUP',
        life: 0,
        ineligibleUntil: 0,
      });
    }
    for (const host of behaviour.down ?? []) this.stop(host);
    for (const [host, ms] of Object.entries(behaviour.lateMs ?? {})) {
      const member = this.member(host);
      member.process = 'starting';
      setTimeout(() => this.answer(member, member.life), ms);
    }
  }

  /** Marks a set as initiated already (e.g. a previous `up`): the preferred member PRIMARY, the others SECONDARY. */
  preInitiate(setName: string, config: ReplSetInitiateConfig, users: Record<string, string> = {}): void {
    this.configs.set(setName, {
      _id: config._id,
      version: 1,
      members: config.members.map((m) => ({ ...m, votes: 1 })),
    });
    const preferred = [...config.members].sort((a, b) => b.priority - a.priority)[0]?.host;
    for (const m of config.members) {
      const member = this.members.get(m.host);
      if (member === undefined || member.replSetName !== setName) continue;
      member.hasConfig = true;
      if (member.process === 'running') member.state = m.host === preferred ? 'PRIMARY' : 'SECONDARY';
    }
    this.addUsers(setName, users);
  }

  /** Adds root users to a set or standalone (keyed by set name or standalone host). */
  addUsers(scope: string, users: Record<string, string>): void {
    const map = this.usersOf(scope);
    for (const [name, pwd] of Object.entries(users)) map.set(name, { pwd, roles: [{ role: 'root', db: 'admin' }] });
  }

  /** Users of a set or standalone, for assertions. */
  usersOf(scope: string): Map<string, FakeUser> {
    let map = this.users.get(scope);
    if (map === undefined) {
      map = new Map();
      this.users.set(scope, map);
    }
    return map;
  }

  /** The set's current config, for assertions. */
  configOf(setName: string): SetConfig | undefined {
    return structuredClone(this.configs.get(setName));
  }

  /** State of a member as it would report itself; `down` when it does not answer. */
  stateOf(host: string): string {
    const member = this.member(host);
    if (member.process === 'stopped' || member.process === 'starting') return 'down';
    if (member.process === 'loading') return 'STARTUP';
    return member.state;
  }

  /** Whether systemd would call the unit active: the process exists, answering or not yet. */
  isRunning(host: string): boolean {
    return this.member(host).process !== 'stopped';
  }

  /** SIGKILL/stop: the member stops answering at once; a primary leaves the set without one until an election. */
  stop(host: string): void {
    const member = this.member(host);
    const wasPrimary = member.state === 'PRIMARY';
    member.process = 'stopped';
    member.life += 1;
    member.state = 'STARTUP';
    this.noteAvailability(member.replSetName);
    if (wasPrimary && member.replSetName !== null) this.scheduleElection(member.replSetName);
  }

  /** Starts a stopped member: it answers after startMs and loads its config after loadConfigMs more. */
  start(host: string): void {
    const member = this.member(host);
    if (member.process !== 'stopped') return;
    member.process = 'starting';
    const life = member.life;
    setTimeout(() => this.answer(member, life), this.timing.startMs);
  }

  /** `systemctl restart`: stop, then start. */
  restart(host: string): void {
    this.stop(host);
    this.start(host);
  }

  /** The member's data directory is emptied (while stopped): it no longer holds the set's config. */
  wipe(host: string): void {
    this.member(host).hasConfig = false;
  }

  /** The host-side driver admin view. */
  readonly network: MongoAdmin = {
    command: (target, db, cmd, options) => this.handle('network', target, db, cmd, options?.credentials),
    close: async () => undefined,
  };

  /** The bootstrap path: commands arrive from 127.0.0.1 inside the member's container, only while the proxy is open. */
  readonly localhost: LocalhostAccess = {
    open: async <T>(
      target: MongoTarget,
      steps: (channel: MongoCommandChannel, endpoint: string) => Promise<T>,
    ): Promise<T> => {
      this.proxyEvents.push(`open ${target.host}`);
      let open = true;
      const channel: MongoCommandChannel = {
        command: (to, db, cmd) => {
          if (!open) throw new Error('bootstrap channel used after its proxy was removed');
          if (to.host !== target.host) throw new Error(`bootstrap channel for ${target.host} used for ${to.host}`);
          return this.handle('localhost', to, db, cmd, undefined);
        },
      };
      try {
        return await steps(channel, `127.0.0.1:fake-${target.port}`);
      } finally {
        open = false;
        this.proxyEvents.push(`close ${target.host}`);
      }
    },
  };

  /** Names of the commands seen, optionally only those sent via one channel. */
  names(via?: SeenCommand['via']): string[] {
    return this.seen.filter((seen) => via === undefined || seen.via === via).map((seen) => seen.name);
  }

  private member(host: string): FakeMember {
    const member = this.members.get(host);
    if (member === undefined) throw new Error(`fake: no member ${host}`);
    return member;
  }

  private answer(member: FakeMember, life: number): void {
    if (member.life !== life) return;
    member.process = 'loading';
    setTimeout(() => {
      if (member.life !== life) return;
      member.process = 'running';
      const config = member.replSetName === null ? undefined : this.configs.get(member.replSetName);
      // A member the set still lists gets the config back from the others' heartbeats, even when wiped.
      if (config !== undefined && config.members.some((m) => m.host === member.host)) {
        member.hasConfig = true;
        this.beginSync(member);
      }
    }, this.timing.loadConfigMs);
  }

  private beginSync(member: FakeMember): void {
    member.state = 'STARTUP2';
    if (!Number.isFinite(this.timing.syncMs)) return;
    const life = member.life;
    setTimeout(() => {
      if (member.life !== life || member.state !== 'STARTUP2') return;
      member.state = 'SECONDARY';
      this.noteAvailability(member.replSetName);
      this.afterSecondary(member);
    }, this.timing.syncMs);
  }

  private setMembers(setName: string): FakeMember[] {
    const config = this.configs.get(setName);
    if (config === undefined) return [];
    return config.members.map((m) => this.members.get(m.host)).filter((m): m is FakeMember => m !== undefined);
  }

  private priorityOf(setName: string, host: string): number {
    return this.configs.get(setName)?.members.find((m) => m.host === host)?.priority ?? 0;
  }

  private primaryOf(setName: string): FakeMember | undefined {
    return this.setMembers(setName).find((m) => m.process === 'running' && m.state === 'PRIMARY');
  }

  private afterSecondary(member: FakeMember): void {
    const setName = member.replSetName;
    if (setName === null) return;
    const primary = this.primaryOf(setName);
    if (primary === undefined) {
      this.scheduleElection(setName);
      return;
    }
    if (this.priorityOf(setName, member.host) > this.priorityOf(setName, primary.host)) {
      // Priority takeover: a caught-up member with a higher priority calls an election.
      const life = member.life;
      setTimeout(() => {
        const current = this.primaryOf(setName);
        if (member.life !== life || member.state !== 'SECONDARY' || current === undefined) return;
        if (this.priorityOf(setName, member.host) <= this.priorityOf(setName, current.host)) return;
        current.state = 'SECONDARY';
        this.noteAvailability(setName);
        this.scheduleElection(setName, member);
      }, this.timing.takeoverMs);
    }
  }

  private pendingElection = new Set<string>();

  /** After electionMs, the highest-priority eligible SECONDARY (or `candidate`) becomes PRIMARY. */
  private scheduleElection(setName: string, candidate?: FakeMember): void {
    if (this.pendingElection.has(setName) || !Number.isFinite(this.timing.electionMs)) return;
    this.pendingElection.add(setName);
    setTimeout(() => {
      this.pendingElection.delete(setName);
      if (this.primaryOf(setName) !== undefined) return;
      const now = Date.now();
      const eligible = this.setMembers(setName)
        .filter(
          (m) =>
            m.process === 'running' &&
            m.state === 'SECONDARY' &&
            m.ineligibleUntil <= now &&
            this.priorityOf(setName, m.host) > 0,
        )
        .sort((a, b) => this.priorityOf(setName, b.host) - this.priorityOf(setName, a.host));
      const voters = this.configs.get(setName)?.members.filter((m) => m.votes > 0).length ?? 0;
      const up = this.setMembers(setName).filter((m) => m.process === 'running' && m.hasConfig).length;
      const winner = candidate !== undefined && eligible.includes(candidate) ? candidate : eligible[0];
      if (winner === undefined || up <= voters / 2) {
        // Nobody electable yet: try again when someone becomes SECONDARY (afterSecondary) or after another round.
        if (
          eligible.length === 0 &&
          this.setMembers(setName).some((m) => m.state === 'SECONDARY' && m.ineligibleUntil > now)
        ) {
          setTimeout(
            () => this.scheduleElection(setName),
            Math.max(...this.setMembers(setName).map((m) => m.ineligibleUntil)) - now,
          );
        }
        return;
      }
      winner.state = 'PRIMARY';
      this.noteAvailability(setName);
    }, this.timing.electionMs);
  }

  private noteAvailability(setName: string | null): void {
    if (setName === null) return;
    const config = this.configs.get(setName);
    if (config === undefined) return;
    const unavailable = config.members.filter((m) => !['PRIMARY', 'SECONDARY'].includes(this.stateOf(m.host))).length;
    this.maxUnavailable.set(setName, Math.max(this.maxUnavailable.get(setName) ?? 0, unavailable));
  }

  private answers(host: string): boolean {
    const member = this.members.get(host);
    return member !== undefined && (member.process === 'running' || member.process === 'loading');
  }

  private async handle(
    via: SeenCommand['via'],
    target: MongoTarget,
    _db: string,
    cmd: Document,
    credentials: Credentials | undefined,
  ): Promise<Document> {
    const name = Object.keys(cmd)[0] ?? '';
    if (this.timing.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.timing.latencyMs));
    this.seen.push({ via, host: target.host, name, user: credentials?.username ?? null, cmd, at: Date.now() });
    const member = this.members.get(target.host);
    if (member === undefined || !this.answers(target.host))
      throw new MongoUnreachableError(target.host, `connect ECONNREFUSED ${target.host}`);
    const scope = member.replSetName ?? member.host;
    if (credentials !== undefined) {
      const user = this.usersOf(scope).get(credentials.username);
      if (user === undefined || user.pwd !== credentials.password)
        throw new MongoCommandError(18, 'AuthenticationFailed', 'Authentication failed.');
    }
    const authenticated = credentials !== undefined;
    const localhostException = via === 'localhost' && this.usersOf(scope).size === 0;
    const requireAuth = (): void => {
      if (!authenticated) throw new MongoCommandError(13, 'Unauthorized', `Command ${name} requires authentication`);
    };
    const loaded = member.process === 'running';
    const config =
      member.replSetName !== null && member.hasConfig && loaded ? this.configs.get(member.replSetName) : undefined;
    const requirePrimary = (): void => {
      if (member.replSetName !== null && (member.state !== 'PRIMARY' || !loaded))
        throw new MongoCommandError(10107, 'NotWritablePrimary', 'not primary');
    };

    switch (name) {
      case 'hello':
        return this.hello(member, config);
      case 'ping':
        return { ok: 1 };
      case 'replSetInitiate': {
        if (!authenticated && !localhostException) requireAuth();
        if (member.replSetName === null)
          throw new MongoCommandError(
            76,
            'NoReplicationEnabled',
            'This node was not started with replication enabled.',
          );
        if (!loaded)
          throw new MongoCommandError(
            94,
            'NotYetInitialized',
            'Cannot initiate set until this node has finished loading its config',
          );
        if (config !== undefined) throw new MongoCommandError(23, 'AlreadyInitialized', 'already initialized');
        const proposed = cmd.replSetInitiate as ReplSetInitiateConfig;
        if (proposed._id !== member.replSetName) {
          throw new MongoCommandError(
            93,
            'InvalidReplicaSetConfig',
            `Attempting to initiate a replica set with name ${proposed._id}, but command line reports ` +
              `${member.replSetName}; rejecting`,
          );
        }
        this.validate(member.host, proposed.members, 1, proposed._id);
        const missing = proposed.members
          .filter((m) => !this.answers(m.host))
          .map((m) => `${m.host} failed with Connection refused`);
        // Members already in a set answer the quorum check with their own replica set id.
        const taken = proposed.members
          .filter((m) => this.members.get(m.host)?.hasConfig === true)
          .map((m) => `${m.host} failed with Our replica set ID did not match that of our request target`);
        if (taken.length > 0) {
          throw new MongoCommandError(
            103,
            'NewReplicaSetConfigurationIncompatible',
            `replSetInitiate quorum check failed because not all proposed set members responded affirmatively: ` +
              `${taken.join(', ')}`,
          );
        }
        if (missing.length > 0) {
          throw new MongoCommandError(
            74,
            'NodeNotFound',
            `replSetInitiate quorum check failed because not all proposed set members responded affirmatively: ` +
              `${missing.join(', ')}`,
          );
        }
        this.configs.set(member.replSetName, {
          _id: proposed._id,
          version: 1,
          members: proposed.members.map((m) => ({ ...m, votes: 1 })),
        });
        for (const m of this.setMembers(member.replSetName)) {
          if (m.process !== 'running') continue;
          m.hasConfig = true;
          if (m === member) {
            m.state = 'SECONDARY';
            this.scheduleElection(member.replSetName);
          } else this.beginSync(m);
        }
        return { ok: 1 };
      }
      case 'replSetGetConfig': {
        requireAuth();
        if (config === undefined)
          throw new MongoCommandError(94, 'NotYetInitialized', 'no replset config has been received');
        return { ok: 1, config: structuredClone(config) };
      }
      case 'replSetReconfig': {
        requireAuth();
        if (config === undefined)
          throw new MongoCommandError(94, 'NotYetInitialized', 'no replset config has been received');
        requirePrimary();
        const proposed = cmd.replSetReconfig as { _id: string; version: number; members: ConfigMember[] };
        if (proposed._id !== config._id) {
          throw new MongoCommandError(
            103,
            'NewReplicaSetConfigurationIncompatible',
            `New and old configurations differ in replica set name; old was ${config._id}, and new is ${proposed._id}`,
          );
        }
        if (proposed.version <= config.version) {
          throw new MongoCommandError(
            103,
            'NewReplicaSetConfigurationIncompatible',
            `New replica set configuration version and term must be greater than old, but {version: ` +
              `${proposed.version}} is not greater than {version: ${config.version}} for replica set ${config._id}`,
          );
        }
        this.validate(member.host, proposed.members, proposed.version, proposed._id);
        for (const m of proposed.members) {
          const old = config.members.find((o) => o.host === m.host);
          if (old !== undefined && old._id !== m._id) {
            throw new MongoCommandError(
              103,
              'NewReplicaSetConfigurationIncompatible',
              `New and old configurations both have members with host of ${m.host} but in the new configuration the ` +
                `_id field is ${m._id} and in the old configuration it is ${old._id} for replica set ${config._id}`,
            );
          }
        }
        const votersOld = new Set(config.members.filter((m) => (m.votes ?? 1) > 0).map((m) => m._id));
        const votersNew = new Set(proposed.members.filter((m) => (m.votes ?? 1) > 0).map((m) => m._id));
        const symmetric =
          [...votersOld].filter((id) => !votersNew.has(id)).length +
          [...votersNew].filter((id) => !votersOld.has(id)).length;
        if (symmetric > 1)
          throw new MongoCommandError(
            93,
            'InvalidReplicaSetConfig',
            'Non force replica set reconfig can only add or remove at most 1 voting member.',
          );
        const answering = proposed.members.filter((m) => (m.votes ?? 1) > 0 && this.answers(m.host)).length;
        if (answering <= votersNew.size / 2) {
          throw new MongoCommandError(
            74,
            'NodeNotFound',
            `Quorum check failed because not enough voting nodes responded; required ` +
              `${Math.floor(votersNew.size / 2) + 1} but only ${answering} voting nodes responded`,
          );
        }
        const next: SetConfig = {
          _id: config._id,
          version: proposed.version,
          members: proposed.members.map((m) => ({
            _id: m._id,
            host: m.host,
            priority: m.priority ?? 1,
            votes: m.votes ?? 1,
          })),
        };
        const setName = member.replSetName ?? '';
        for (const removed of config.members.filter((o) => !next.members.some((m) => m.host === o.host))) {
          const gone = this.members.get(removed.host);
          if (gone !== undefined) {
            gone.state = 'REMOVED';
            gone.hasConfig = false;
          }
        }
        this.configs.set(setName, next);
        for (const added of next.members.filter((m) => !config.members.some((o) => o.host === m.host))) {
          const joining = this.members.get(added.host);
          if (joining !== undefined && joining.process === 'running' && joining.replSetName === setName) {
            joining.hasConfig = true;
            this.beginSync(joining);
          }
        }
        return { ok: 1 };
      }
      case 'replSetStepDown': {
        requireAuth();
        requirePrimary();
        const setName = member.replSetName ?? '';
        const electable = this.setMembers(setName).filter(
          (m) =>
            m !== member && m.process === 'running' && m.state === 'SECONDARY' && this.priorityOf(setName, m.host) > 0,
        );
        if (electable.length === 0)
          throw new MongoCommandError(
            262,
            'ExceededTimeLimit',
            'No electable secondaries caught up as of the deadline',
          );
        member.state = 'SECONDARY';
        member.ineligibleUntil = Date.now() + Number(cmd.replSetStepDown) * 1000;
        this.noteAvailability(setName);
        this.scheduleElection(setName);
        return { ok: 1 };
      }
      case 'replSetGetStatus': {
        requireAuth();
        if (member.replSetName === null)
          throw new MongoCommandError(76, 'NoReplicationEnabled', 'not running with --replSet');
        if (config === undefined)
          throw new MongoCommandError(94, 'NotYetInitialized', 'no replset config has been received');
        const now = Date.now();
        return {
          set: member.replSetName,
          ok: 1,
          members: config.members.map((m) => {
            const state = this.stateOf(m.host);
            const down = state === 'down';
            return {
              _id: m._id,
              name: m.host,
              health: down ? 0 : 1,
              stateStr: down ? '(not reachable/healthy)' : state,
              optimeDate: new Date(down ? 0 : state === 'PRIMARY' ? now : now - 2_000),
            };
          }),
        };
      }
      case 'createUser': {
        if (!authenticated && !localhostException) requireAuth();
        requirePrimary();
        const users = this.usersOf(scope);
        if (users.has(String(cmd.createUser)))
          throw new MongoCommandError(
            51003,
            'UserAlreadyExists',
            `User "${String(cmd.createUser)}@admin" already exists`,
          );
        users.set(String(cmd.createUser), {
          pwd: String(cmd.pwd),
          roles: structuredClone(cmd.roles as FakeUser['roles']),
        });
        return { ok: 1 };
      }
      case 'updateUser': {
        requireAuth();
        requirePrimary();
        const user = this.usersOf(scope).get(String(cmd.updateUser));
        if (user === undefined) throw new MongoCommandError(11, 'UserNotFound', 'User not found');
        user.pwd = String(cmd.pwd);
        user.roles = structuredClone(cmd.roles as FakeUser['roles']);
        return { ok: 1 };
      }
      case 'usersInfo': {
        requireAuth();
        const query = cmd.usersInfo as { user: string };
        const user = this.usersOf(scope).get(query.user);
        return { ok: 1, users: user === undefined ? [] : [{ user: query.user, db: 'admin', roles: user.roles }] };
      }
      default:
        throw new MongoCommandError(59, 'CommandNotFound', `no such command: '${name}'`);
    }
  }

  /** What ReplSetConfig::validate and findSelfInConfig refuse. */
  private validate(
    receiving: string,
    members: readonly { _id: number; host: string }[],
    version: number,
    setName: string,
  ): void {
    for (const [i, a] of members.entries()) {
      for (const [j, b] of members.entries()) {
        if (j <= i) continue;
        if (a._id === b._id)
          throw new MongoCommandError(
            2,
            'BadValue',
            `Found two member configurations with same _id field, members.${i}._id == members.${j}._id == ${a._id}`,
          );
        if (a.host === b.host)
          throw new MongoCommandError(
            2,
            'BadValue',
            `Found two member configurations with same host field, members.${i}.host == members.${j}.host == ${a.host}`,
          );
      }
    }
    if (!members.some((m) => m.host === receiving)) {
      throw new MongoCommandError(
        74,
        'NodeNotFound',
        `No host described in new configuration with {version: ${version}, term: 0} for replica set ${setName} maps ` +
          `to this node`,
      );
    }
  }

  private hello(member: FakeMember, config: SetConfig | undefined): Document {
    if (member.replSetName === null) return { isWritablePrimary: true, maxWireVersion: 21, ok: 1 };
    if (config === undefined || member.state === 'REMOVED') {
      return {
        isWritablePrimary: false,
        secondary: false,
        info: 'Does not have a valid replica set config',
        isreplicaset: true,
        maxWireVersion: 21,
        ok: 1,
      };
    }
    const primary = this.primaryOf(member.replSetName);
    return {
      setName: config._id,
      setVersion: config.version,
      hosts: config.members.map((m) => m.host),
      isWritablePrimary: member.state === 'PRIMARY',
      secondary: member.state === 'SECONDARY',
      ...(primary === undefined ? {} : { primary: primary.host }),
      me: member.host,
      maxWireVersion: 21,
      ok: 1,
    };
  }
}

/**
 * Runs `promise` to completion on fake timers, advancing the clock to each next timer; returns its outcome either way.
 */
export async function settle<T>(
  promise: Promise<T>,
  vi: { advanceTimersByTimeAsync(ms: number): Promise<unknown>; advanceTimersToNextTimerAsync(): Promise<unknown> },
): Promise<{ value?: T; error?: unknown }> {
  let done = false;
  const outcome = promise.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );
  void outcome.finally(() => (done = true));
  await vi.advanceTimersByTimeAsync(0);
  // Jump from timer to timer, so every figure a test reads off the clock is exact.
  for (let i = 0; i < 100_000 && !done; i++) await vi.advanceTimersToNextTimerAsync();
  return outcome;
}
