/**
 * One MongoDB client per database URL, created once, connected lazily by the
 * driver on first use and reconnected by it after outages. Short timeouts so a
 * dead database answers a request with 503 in about two seconds, not thirty.
 */
import {
  MongoClient,
  MongoNetworkError,
  MongoNotConnectedError,
  MongoServerSelectionError,
  MongoTopologyClosedError,
  MongoWriteConcernError,
  type Db,
  type MongoClientOptions,
} from 'mongodb';
import { DistctlError } from '../../errors/index.js';
import { StoreUnavailableError } from './errors.js';

/** Timeouts for every client the services create; tests shrink them. */
export interface MongoTimeouts {
  readonly serverSelectionTimeoutMS: number;
  readonly connectTimeoutMS: number;
  /** Bounds one operation on a connection that went silent (e.g. a member frozen mid-query). */
  readonly socketTimeoutMS: number;
}

/** The defaults: fail within ~2 s when nothing answers. */
export const DEFAULT_MONGO_TIMEOUTS: MongoTimeouts = { serverSelectionTimeoutMS: 2000, connectTimeoutMS: 2000, socketTimeoutMS: 10_000 };

/** A database handle plus the client that owns it. */
export interface MongoDatabase {
  readonly db: Db;
  readonly client: MongoClient;
  /** Whether the URL names a replica set, so writes wait for a majority. */
  readonly replicaSet: boolean;
}

/**
 * Opens (lazily) the database named in the URL path. Replica-set URLs get
 * `w: "majority"` so an acknowledged write survives a failover.
 */
export function openDatabase(url: string, timeouts: MongoTimeouts = DEFAULT_MONGO_TIMEOUTS): MongoDatabase {
  let parsed: URL;
  try {
    parsed = new URL(url.replace(/^mongodb(\+srv)?:\/\/[^/]*/, 'mongodb://host'));
  } catch {
    throw new DistctlError('SERVICE_CONFIG', `database URL is not a mongodb:// URL`, { hint: 'expected mongodb://host:port/dbname' });
  }
  const dbName = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (!/^mongodb(\+srv)?:\/\//.test(url) || dbName === '') {
    throw new DistctlError('SERVICE_CONFIG', `database URL must be mongodb://host:port/<database> (the database name is missing)`, {
      hint: 'e.g. mongodb://10.10.10.14:27017/auth_db',
    });
  }
  const replicaSet = parsed.searchParams.has('replicaSet');
  const options: MongoClientOptions = {
    ...timeouts,
    appName: 'distctl-service',
    ...(replicaSet ? { writeConcern: { w: 'majority' } } : {}),
  };
  const client = new MongoClient(url, options);
  return { db: client.db(dbName), client, replicaSet };
}

/** Whether a driver error means "the database is not reachable right now" (as opposed to a bad query). */
export function isUnreachableError(err: unknown): boolean {
  return (
    err instanceof MongoServerSelectionError ||
    err instanceof MongoNetworkError ||
    err instanceof MongoNotConnectedError ||
    err instanceof MongoTopologyClosedError ||
    err instanceof MongoWriteConcernError
  );
}

/** Runs a driver operation, rethrowing reachability failures as StoreUnavailableError(store). */
export async function guard<T>(store: string, operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    if (isUnreachableError(err)) throw new StoreUnavailableError(store, err);
    throw err;
  }
}

/**
 * Creates indexes once per process; a failure (database down) is forgotten so
 * the next operation tries again instead of running without the index.
 */
export function once(task: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | null = null;
  return () => {
    done ??= task().catch((err: unknown) => {
      done = null;
      throw err;
    });
    return done;
  };
}
