/**
 * The users store behind auth-server: an interface, and the in-memory
 * implementation used by tests and the bench. `mongo-users.ts` is the real one;
 * both pass the same contract suite.
 */
import { DuplicateKeyError } from '../shared/errors.js';
import type { Role } from '../shared/jwt.js';

/** A stored user; the password is only ever kept as a bcrypt hash. */
export interface UserRecord {
  readonly id: string;
  readonly username: string;
  readonly email: string;
  readonly passwordHash: string;
  readonly role: Role;
  readonly createdAt: Date;
  /**
   * Bumped by every role change and carried in each token as `ver`: a token
   * whose `ver` differs (or whose user is gone) is refused, which is how a
   * demotion or deletion revokes the tokens already issued.
   */
  readonly tokenVersion: number;
}

/**
 * The key usernames are unique by: NFKC (full-width `Ａｎａ` is `Ana`) and
 * lower-cased, so `Ana`, `ana` and `ANA` are one account. Stores look users
 * up by it and MongoDB enforces it with a unique index.
 */
export function usernameKey(username: string): string {
  return username.normalize('NFKC').toLowerCase();
}

/** Persistence auth-server needs. Implementations throw StoreUnavailableError when the database is down. */
export interface UserStore {
  /** Creates indexes; called at startup, and again lazily by operations until it succeeds. */
  prepare(): Promise<void>;
  /** Inserts a user; DuplicateKeyError if the username (by usernameKey) is taken. */
  create(user: UserRecord): Promise<void>;
  /** The user whose usernameKey equals that of `username`. */
  findByUsername(username: string): Promise<UserRecord | null>;
  findById(id: string): Promise<UserRecord | null>;
  /** All users, ordered by username. */
  list(): Promise<UserRecord[]>;
  /** How many users have the admin role. */
  countAdmins(): Promise<number>;
  /** Removes a user; false if there was none. */
  delete(username: string): Promise<boolean>;
  /** Changes a user's role and bumps its tokenVersion (revoking its tokens); false if there was none. */
  setRole(username: string, role: Role): Promise<boolean>;
  /** Throws StoreUnavailableError unless the database answers. */
  ping(): Promise<void>;
}

/** UserStore kept in a Map by usernameKey: for tests, the bench, and nothing in production. */
export class MemoryUserStore implements UserStore {
  private readonly users = new Map<string, UserRecord>();

  async prepare(): Promise<void> {}

  async create(user: UserRecord): Promise<void> {
    const key = usernameKey(user.username);
    if (this.users.has(key)) throw new DuplicateKeyError(`username ${user.username} is taken`);
    this.users.set(key, { ...user });
  }

  async findByUsername(username: string): Promise<UserRecord | null> {
    const user = this.users.get(usernameKey(username));
    return user ? { ...user } : null;
  }

  async findById(id: string): Promise<UserRecord | null> {
    for (const user of this.users.values()) if (user.id === id) return { ...user };
    return null;
  }

  async list(): Promise<UserRecord[]> {
    return [...this.users.values()]
      .sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0))
      .map((u) => ({ ...u }));
  }

  async countAdmins(): Promise<number> {
    return [...this.users.values()].filter((u) => u.role === 'admin').length;
  }

  async delete(username: string): Promise<boolean> {
    return this.users.delete(usernameKey(username));
  }

  async setRole(username: string, role: Role): Promise<boolean> {
    const key = usernameKey(username);
    const user = this.users.get(key);
    if (!user) return false;
    this.users.set(key, { ...user, role, tokenVersion: user.tokenVersion + 1 });
    return true;
  }

  async ping(): Promise<void> {}
}
