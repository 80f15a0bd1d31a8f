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
}

/** Persistence auth-server needs. Implementations throw StoreUnavailableError when the database is down. */
export interface UserStore {
  /** Inserts a user; DuplicateKeyError if the username is taken. */
  create(user: UserRecord): Promise<void>;
  findByUsername(username: string): Promise<UserRecord | null>;
  /** All users, ordered by username. */
  list(): Promise<UserRecord[]>;
  /** Removes a user; false if there was none. */
  delete(username: string): Promise<boolean>;
  /** Changes a user's role; false if there was none. */
  setRole(username: string, role: Role): Promise<boolean>;
  /** Throws StoreUnavailableError unless the database answers. */
  ping(): Promise<void>;
}

/** UserStore kept in a Map: for tests, the bench, and nothing in production. */
export class MemoryUserStore implements UserStore {
  private readonly users = new Map<string, UserRecord>();

  async create(user: UserRecord): Promise<void> {
    if (this.users.has(user.username)) throw new DuplicateKeyError(`username ${user.username} is taken`);
    this.users.set(user.username, { ...user });
  }

  async findByUsername(username: string): Promise<UserRecord | null> {
    const user = this.users.get(username);
    return user ? { ...user } : null;
  }

  async list(): Promise<UserRecord[]> {
    return [...this.users.values()].sort((a, b) => (a.username < b.username ? -1 : a.username > b.username ? 1 : 0)).map((u) => ({ ...u }));
  }

  async delete(username: string): Promise<boolean> {
    return this.users.delete(username);
  }

  async setRole(username: string, role: Role): Promise<boolean> {
    const user = this.users.get(username);
    if (!user) return false;
    this.users.set(username, { ...user, role });
    return true;
  }

  async ping(): Promise<void> {}
}
