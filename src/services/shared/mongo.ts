/**
 * One MongoDB client per database URL, created once, connected lazily by the
 * driver on first use and reconnected by it after outages. Short timeouts so a
 * dead database answers a request with 503 in about two seconds, not thirty,
 * and a TCP handshake first (tcp-probe.ts) so one that refuses connections
 * answers in one round trip.
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
import { ConfigError, StoreUnavailableError } from './errors.js';
import { anyHostAccepts, databaseHosts, NoHostAcceptsError, tcpConnector, type Connector } from './tcp-probe.js';

/** Timeouts for every client the services create; tests shrink them. */
export interface MongoTimeouts {
  readonly serverSelectionTimeoutMS: number;
  readonly connectTimeoutMS: number;
  /** Bounds one operation on a connection that went silent (e.g. a member frozen mid-query). */
  readonly socketTimeoutMS: number;
}

/** The defaults: fail within ~2 s when nothing answers. */
export const DEFAULT_MONGO_TIMEOUTS: MongoTimeouts = {
  serverSelectionTimeoutMS: 2000,
  connectTimeoutMS: 2000,
  socketTimeoutMS: 10_000,
};

/**
 * A database named by a URL, connected on first use. The driver reconnects
 * by itself after an outage once it has connected, but a client whose very
 * first connect failed stays closed for good ("Topology is closed"), so a
 * failed connect discards its client and the next operation starts afresh.
 * That is what lets a service started before its database recover alone.
 */
export class MongoDatabase {
  /** Database name from the URL path. */
  readonly name: string;
  /** Whether the URL names a replica set, so writes wait for a majority. */
  readonly replicaSet: boolean;
  private readonly options: MongoClientOptions;
  private connecting: Promise<MongoClient> | null = null;

  constructor(
    private readonly url: string,
    private readonly timeouts: MongoTimeouts = DEFAULT_MONGO_TIMEOUTS,
    private readonly connector: Connector = tcpConnector,
  ) {
    const { name, replicaSet } = parseDatabaseUrl(url);
    this.name = name;
    this.replicaSet = replicaSet;
    this.options = {
      ...timeouts,
      appName: 'distctl-service',
      ...(replicaSet ? { writeConcern: { w: 'majority' } } : {}),
    };
  }

  /** The connected database; throws the driver's error if it cannot connect now. */
  async db(): Promise<Db> {
    this.connecting ??= this.connect();
    return (await this.connecting).db(this.name);
  }

  /**
   * Resolves once the database answers a ping. A database whose hosts all refuse the connection fails in one
   * TCP round trip, also when a client connected earlier: the driver would wait for server selection first.
   */
  async ping(): Promise<void> {
    // A first connect makes the same check by itself.
    if (this.connecting !== null) await this.reachable();
    await (await this.db()).command({ ping: 1 });
  }

  /** Closes the client, if one was connected. */
  async close(): Promise<void> {
    const pending = this.connecting;
    this.connecting = null;
    const client = await pending?.catch(() => null);
    await client?.close();
  }

  private async connect(): Promise<MongoClient> {
    const client = new MongoClient(this.url, this.options);
    try {
      await this.reachable();
      await client.connect();
      return client;
    } catch (err) {
      this.connecting = null;
      await client.close().catch(() => undefined);
      throw err;
    }
  }

  /** Rejects with NoHostAcceptsError unless a host of the URL accepts a TCP connection (mongodb+srv: no check). */
  private async reachable(): Promise<void> {
    const hosts = databaseHosts(this.url);
    if (hosts !== null) await anyHostAccepts(hosts, this.timeouts.connectTimeoutMS, this.connector);
  }
}

function parseDatabaseUrl(url: string): { name: string; replicaSet: boolean } {
  if (!/^mongodb(\+srv)?:\/\//.test(url)) {
    throw new ConfigError('database URL is not a mongodb:// URL', 'expected mongodb://host:port/dbname');
  }
  // Hosts lists (h1,h2,h3) are not valid URL hosts: parse path and query with a placeholder host.
  const parsed = new URL(url.replace(/^mongodb(\+srv)?:\/\/[^/?]*/, 'mongodb://host'));
  const name = decodeURIComponent(parsed.pathname.replace(/^\//, ''));
  if (name === '') {
    throw new ConfigError(
      'database URL must be mongodb://host:port/<database> (the database name is missing)',
      'e.g. mongodb://10.10.10.14:27017/auth_db',
    );
  }
  return { name, replicaSet: parsed.searchParams.has('replicaSet') };
}

/** Opens (lazily) the database named in the URL path; see MongoDatabase. */
export function openDatabase(
  url: string,
  timeouts: MongoTimeouts = DEFAULT_MONGO_TIMEOUTS,
  connector: Connector = tcpConnector,
): MongoDatabase {
  return new MongoDatabase(url, timeouts, connector);
}

/** Whether a driver error means "the database is not reachable right now" (as opposed to a bad query). */
export function isUnreachableError(err: unknown): boolean {
  return (
    err instanceof NoHostAcceptsError ||
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
