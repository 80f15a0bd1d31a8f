/**
 * UserStore on MongoDB: collection `users` in the database named by the URL,
 * unique index on `usernameKey` (the NFKC, lower-cased username), so
 * uniqueness holds in the database itself, whatever process writes.
 */
import { MongoServerError, type Collection } from 'mongodb';
import { DuplicateKeyError } from '../shared/errors.js';
import type { Role } from '../shared/jwt.js';
import { guard, once, type MongoDatabase } from '../shared/mongo.js';
import { usernameKey, type UserRecord, type UserStore } from './users.js';

interface UserDocument {
  _id: string;
  username: string;
  usernameKey: string;
  email: string;
  passwordHash: string;
  role: Role;
  createdAt: Date;
  /** Absent on users written before token versions existed: read as 0. */
  tokenVersion?: number;
}

/** The real users store; 503s name it by its database name. */
export class MongoUserStore implements UserStore {
  private readonly ensureIndexes: () => Promise<void>;

  constructor(private readonly database: MongoDatabase) {
    this.ensureIndexes = once(async () => {
      const users = await this.collection();
      // Users from before the normalised key: usernames were ASCII then, so lower-casing is their usernameKey.
      await users.updateMany({ usernameKey: { $exists: false } }, [
        { $set: { usernameKey: { $toLower: '$username' } } },
      ]);
      await users.createIndex({ usernameKey: 1 }, { unique: true, name: 'username_key_unique' });
    });
  }

  async prepare(): Promise<void> {
    await guard(this.database.name, () => this.ensureIndexes());
  }

  async create(user: UserRecord): Promise<void> {
    await this.run(async (users) => {
      try {
        await users.insertOne({
          _id: user.id,
          username: user.username,
          usernameKey: usernameKey(user.username),
          email: user.email,
          passwordHash: user.passwordHash,
          role: user.role,
          createdAt: user.createdAt,
          tokenVersion: user.tokenVersion,
        });
      } catch (err) {
        if (err instanceof MongoServerError && err.code === 11000)
          throw new DuplicateKeyError(`username ${user.username} is taken`);
        throw err;
      }
    });
  }

  async findByUsername(username: string): Promise<UserRecord | null> {
    const doc = await this.run((users) => users.findOne({ usernameKey: usernameKey(username) }));
    return doc ? toRecord(doc) : null;
  }

  async findById(id: string): Promise<UserRecord | null> {
    const doc = await this.run((users) => users.findOne({ _id: id }));
    return doc ? toRecord(doc) : null;
  }

  async list(): Promise<UserRecord[]> {
    const docs = await this.run((users) => users.find({}).sort({ username: 1 }).toArray());
    return docs.map(toRecord);
  }

  async countAdmins(): Promise<number> {
    return this.run((users) => users.countDocuments({ role: 'admin' }));
  }

  async delete(username: string): Promise<boolean> {
    const result = await this.run((users) => users.deleteOne({ usernameKey: usernameKey(username) }));
    return result.deletedCount === 1;
  }

  async setRole(username: string, role: Role): Promise<boolean> {
    const result = await this.run((users) =>
      users.updateOne({ usernameKey: usernameKey(username) }, { $set: { role }, $inc: { tokenVersion: 1 } }),
    );
    return result.matchedCount === 1;
  }

  async ping(): Promise<void> {
    // The database's own ping first: it answers in one round trip when every host refuses the connection.
    await guard(this.database.name, async () => {
      await this.database.ping();
      await this.ensureIndexes();
    });
  }

  /** Every operation first makes sure the unique index exists: uniqueness must not depend on startup order. */
  private run<T>(operation: (users: Collection<UserDocument>) => Promise<T>): Promise<T> {
    return guard(this.database.name, async () => {
      await this.ensureIndexes();
      return operation(await this.collection());
    });
  }

  private async collection(): Promise<Collection<UserDocument>> {
    return (await this.database.db()).collection<UserDocument>('users');
  }
}

function toRecord(doc: UserDocument): UserRecord {
  return {
    id: doc._id,
    username: doc.username,
    email: doc.email,
    passwordHash: doc.passwordHash,
    role: doc.role,
    createdAt: doc.createdAt,
    tokenVersion: doc.tokenVersion ?? 0,
  };
}
