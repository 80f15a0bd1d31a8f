/**
 * A scripted MongoDB deployment for unit tests. It answers the commands the
 * MongoDB tier sends the way mongod documents them (hello fields, error codes
 * and names), and can be told to make members late, down, or never elect.
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

interface FakeUser {
  pwd: string;
  roles: { role: string; db: string }[];
}

interface FakeMember {
  host: string;
  /** replication.replSetName on its command line, or null for a standalone. */
  replSetName: string | null;
}

/** One command as the fake saw it. */
export interface SeenCommand {
  via: 'network' | 'loopback';
  host: string;
  name: string;
  user: string | null;
  cmd: Document;
}

/** Knobs for the scenarios. */
export interface FakeBehaviour {
  /** Network/loopback calls a member fails (as unreachable) before it answers. */
  lateCalls?: Record<string, number>;
  /** Members that never answer. */
  down?: string[];
  /** Commands after initiation until the preferred member is PRIMARY; Infinity never elects. */
  electAfter?: number;
  /** Commands after initiation until the other members are SECONDARY; Infinity stays in STARTUP2. */
  syncAfter?: number;
}

/** A group of fake mongods sharing replicated state per replica set. */
export class FakeMongo {
  readonly seen: SeenCommand[] = [];
  private readonly members = new Map<string, FakeMember>();
  /** Per set name: the config once initiated. */
  private readonly configs = new Map<string, ReplSetInitiateConfig>();
  /** Per set name (or standalone host): users in admin. */
  private readonly users = new Map<string, Map<string, FakeUser>>();
  private readonly initiatedAt = new Map<string, number>();
  private tick = 0;
  private readonly late: Map<string, number>;

  constructor(
    members: { host: string; replSetName: string | null }[],
    private readonly behaviour: FakeBehaviour = {},
  ) {
    for (const member of members) this.members.set(member.host, { ...member });
    this.late = new Map(Object.entries(behaviour.lateCalls ?? {}));
  }

  /** Marks a set as initiated already (e.g. a previous `up`), with the given users. */
  preInitiate(setName: string, config: ReplSetInitiateConfig, users: Record<string, string> = {}): void {
    this.configs.set(setName, structuredClone(config));
    this.initiatedAt.set(setName, -1_000_000);
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

  /** The host-side driver admin view. */
  readonly network: MongoAdmin = {
    command: (target, db, cmd, options) => this.handle('network', target, db, cmd, options?.credentials),
    close: async () => undefined,
  };

  /** The in-container loopback view: sees the localhost exception. */
  readonly loopback: MongoCommandChannel = {
    command: (target, db, cmd) => this.handle('loopback', target, db, cmd, undefined),
  };

  /** Names of the commands seen, optionally only those sent via one channel. */
  names(via?: 'network' | 'loopback'): string[] {
    return this.seen.filter((seen) => via === undefined || seen.via === via).map((seen) => seen.name);
  }

  private async handle(via: 'network' | 'loopback', target: MongoTarget, _db: string, cmd: Document, credentials: Credentials | undefined): Promise<Document> {
    this.tick++;
    const name = Object.keys(cmd)[0] ?? '';
    this.seen.push({ via, host: target.host, name, user: credentials?.username ?? null, cmd });
    const member = this.members.get(target.host);
    if (member === undefined || this.isDown(target.host)) throw new MongoUnreachableError(target.host, `connect ECONNREFUSED ${target.host}`);
    const late = this.late.get(target.host) ?? 0;
    if (late > 0) {
      this.late.set(target.host, late - 1);
      throw new MongoUnreachableError(target.host, `connect ECONNREFUSED ${target.host}`);
    }
    const scope = member.replSetName ?? member.host;
    if (credentials !== undefined) {
      const user = this.usersOf(scope).get(credentials.username);
      if (user === undefined || user.pwd !== credentials.password) throw new MongoCommandError(18, 'AuthenticationFailed', 'Authentication failed.');
    }
    const authenticated = credentials !== undefined;
    const localhostException = via === 'loopback' && this.usersOf(scope).size === 0;
    const requireAuth = (): void => {
      if (!authenticated) throw new MongoCommandError(13, 'Unauthorized', `Command ${name} requires authentication`);
    };

    switch (name) {
      case 'hello':
        return this.hello(member);
      case 'ping':
        return { ok: 1 };
      case 'replSetInitiate': {
        if (!authenticated && !localhostException) requireAuth();
        if (member.replSetName === null) throw new MongoCommandError(76, 'NoReplicationEnabled', 'This node was not started with replication enabled.');
        if (this.configs.has(member.replSetName)) throw new MongoCommandError(23, 'AlreadyInitialized', 'already initialized');
        const config = cmd.replSetInitiate as ReplSetInitiateConfig;
        if (config._id !== member.replSetName) {
          throw new MongoCommandError(93, 'InvalidReplicaSetConfig', `Attempting to initiate a replica set with name ${config._id}, but command line reports ${member.replSetName}; rejecting`);
        }
        const missing = config.members.filter((m) => this.isDown(m.host) || (this.late.get(m.host) ?? 0) > 0).map((m) => m.host);
        if (missing.length > 0) {
          throw new MongoCommandError(74, 'NodeNotFound', `replSetInitiate quorum check failed because not all proposed set members responded affirmatively: ${missing.map((h) => `${h} failed with Connection refused`).join(', ')}`);
        }
        this.configs.set(member.replSetName, structuredClone(config));
        this.initiatedAt.set(member.replSetName, this.tick);
        return { ok: 1 };
      }
      case 'replSetGetStatus': {
        requireAuth();
        if (member.replSetName === null) throw new MongoCommandError(76, 'NoReplicationEnabled', 'not running with --replSet');
        const config = this.configs.get(member.replSetName);
        if (config === undefined) throw new MongoCommandError(94, 'NotYetInitialized', 'no replset config has been received');
        const now = Date.now();
        return {
          set: member.replSetName,
          ok: 1,
          members: config.members.map((m) => {
            const state = this.stateOf(member.replSetName ?? '', m.host);
            const down = this.isDown(m.host);
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
        if (!authenticated) {
          if (!localhostException) requireAuth();
          if (member.replSetName !== null && this.stateOf(member.replSetName, member.host) !== 'PRIMARY') throw new MongoCommandError(10107, 'NotWritablePrimary', 'not primary');
        }
        const users = this.usersOf(scope);
        if (users.has(String(cmd.createUser))) throw new MongoCommandError(51003, 'UserAlreadyExists', `User "${String(cmd.createUser)}@admin" already exists`);
        users.set(String(cmd.createUser), { pwd: String(cmd.pwd), roles: structuredClone(cmd.roles as FakeUser['roles']) });
        return { ok: 1 };
      }
      case 'updateUser': {
        requireAuth();
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

  private isDown(host: string): boolean {
    return (this.behaviour.down ?? []).includes(host);
  }

  /** PRIMARY for the highest-priority member once elected, SECONDARY for the others once synced, STARTUP2 before. */
  private stateOf(setName: string, host: string): string {
    const config = this.configs.get(setName);
    const initiatedAt = this.initiatedAt.get(setName);
    if (config === undefined || initiatedAt === undefined) return 'STARTUP';
    const preferred = [...config.members].sort((a, b) => b.priority - a.priority)[0]?.host;
    const age = this.tick - initiatedAt;
    if (host === preferred) return age >= (this.behaviour.electAfter ?? 2) ? 'PRIMARY' : 'SECONDARY';
    return age >= (this.behaviour.syncAfter ?? 12) ? 'SECONDARY' : 'STARTUP2';
  }

  private hello(member: FakeMember): Document {
    if (member.replSetName === null) return { isWritablePrimary: true, maxWireVersion: 21, ok: 1 };
    const config = this.configs.get(member.replSetName);
    if (config === undefined) {
      return { isWritablePrimary: false, secondary: false, info: 'Does not have a valid replica set config', isreplicaset: true, maxWireVersion: 21, ok: 1 };
    }
    const state = this.stateOf(member.replSetName, member.host);
    const primary = config.members.find((m) => this.stateOf(member.replSetName ?? '', m.host) === 'PRIMARY' && !this.isDown(m.host));
    return {
      setName: config._id,
      hosts: config.members.map((m) => m.host),
      isWritablePrimary: state === 'PRIMARY',
      secondary: state === 'SECONDARY',
      ...(primary === undefined ? {} : { primary: primary.host }),
      me: member.host,
      maxWireVersion: 21,
      ok: 1,
    };
  }
}
