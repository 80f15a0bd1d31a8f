import { createHash } from 'node:crypto';
import { connect } from 'node:net';
import { directlyReachable, unreachableReason } from '../exec/reach.js';
import {
  MongoClient,
  MongoError,
  MongoNetworkError,
  MongoServerError,
  MongoServerSelectionError,
  type Document,
} from 'mongodb';
import {
  MongoCommandError,
  MongoUnreachableError,
  commandErrorFromReply,
  type Credentials,
  type MongoAdmin,
  type MongoTarget,
} from './admin.js';

/** Timeouts for the host-side admin connections. Short by default: distctl polls and retries itself, bounded. */
export interface DriverAdminOptions {
  readonly connectTimeoutMS?: number;
  readonly serverSelectionTimeoutMS?: number;
  readonly socketTimeoutMS?: number;
}

/**
 * MongoAdmin over the official driver: one direct connection per (mongod,
 * user), so a command always lands on the member named and never on whatever
 * the driver would discover as primary.
 */
export class DriverMongoAdmin implements MongoAdmin {
  private readonly clients = new Map<string, Promise<MongoClient>>();
  private readonly options: Required<DriverAdminOptions>;

  constructor(options: DriverAdminOptions = {}) {
    this.options = {
      connectTimeoutMS: options.connectTimeoutMS ?? 3_000,
      serverSelectionTimeoutMS: options.serverSelectionTimeoutMS ?? 3_000,
      socketTimeoutMS: options.socketTimeoutMS ?? 30_000,
    };
  }

  async command(
    target: MongoTarget,
    db: string,
    cmd: Document,
    options: { credentials?: Credentials } = {},
  ): Promise<Document> {
    try {
      const client = await this.client(target.host, options.credentials);
      const reply = await client.db(db).command(cmd);
      if (reply.ok !== 1) throw commandErrorFromReply(reply);
      return reply;
    } catch (error) {
      throw translateDriverError(target.host, error);
    }
  }

  async close(): Promise<void> {
    const pending = [...this.clients.values()];
    this.clients.clear();
    await Promise.allSettled(pending.map(async (client) => (await client).close()));
  }

  private client(host: string, credentials: Credentials | undefined): Promise<MongoClient> {
    // The password takes part in the key only as a digest, so the key is safe to show in a debugger.
    const key =
      credentials === undefined
        ? host
        : [host, credentials.username, createHash('sha256').update(credentials.password).digest('hex')].join('\u0000');
    const existing = this.clients.get(key);
    if (existing !== undefined) return existing;
    const client = new MongoClient(`mongodb://${host}/`, {
      directConnection: true,
      appName: 'distctl',
      // Polling keeps the monitor to plain request/response; distctl needs no streaming topology updates.
      serverMonitoringMode: 'poll',
      maxPoolSize: 2,
      retryWrites: false,
      retryReads: false,
      ...this.options,
      ...(credentials === undefined
        ? {}
        : { auth: { username: credentials.username, password: credentials.password }, authSource: 'admin' }),
    });
    // The driver answers a refused connection only when server selection gives up; a plain TCP handshake first
    // makes a mongod that is not running cost a round-trip, not the selection timeout.
    const connected = acceptsConnections(host, this.options.connectTimeoutMS)
      .then(() => client.connect())
      .catch(async (error: unknown) => {
        this.clients.delete(key);
        await client.close().catch(() => undefined);
        throw error;
      });
    this.clients.set(key, connected);
    return connected;
  }
}

/**
 * Resolves once `host` (`address:port`, or a URL-encoded socket path) accepts a connection; rejects at
 * once when the connection is refused, or after `timeoutMs` without an answer.
 */
export function acceptsConnections(host: string, timeoutMs: number): Promise<void> {
  const separator = host.lastIndexOf(':');
  // A Unix socket comes URL-encoded, as the driver takes it (the bootstrap proxy listens on one).
  const path = decodeURIComponent(host);
  const target = path.startsWith('/')
    ? { path }
    : { host: host.slice(0, separator), port: Number(host.slice(separator + 1)) };
  if (!path.startsWith('/') && !directlyReachable(host)) {
    return Promise.reject(new MongoUnreachableError(host, unreachableReason(host)));
  }
  return new Promise<void>((resolve, reject) => {
    const socket = connect(target);
    socket.setTimeout(timeoutMs);
    socket.once('connect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new MongoUnreachableError(host, `${host} did not answer: no connection within ${timeoutMs} ms`));
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      reject(new MongoUnreachableError(host, `${host} did not answer: connect ${error.code ?? error.message}`));
    });
  });
}

/**
 * Maps driver errors onto the two outcomes the MongoDB tier distinguishes: a
 * server's answer (MongoCommandError with its code) or no answer
 * (MongoUnreachableError). No driver error class leaves this module.
 */
export function translateDriverError(host: string, error: unknown): unknown {
  if (error instanceof MongoCommandError || error instanceof MongoUnreachableError) return error;
  if (error instanceof MongoServerError)
    return new MongoCommandError(
      Number(error.code ?? 0),
      error.codeName ?? 'UnknownError',
      error.errmsg ?? error.message,
    );
  if (error instanceof MongoServerSelectionError) {
    // A direct connection that failed its handshake (e.g. AuthenticationFailed) surfaces as a selection error whose
    // server carries the real answer.
    for (const server of error.reason?.servers.values() ?? []) {
      if (server.error instanceof MongoServerError) return translateDriverError(host, server.error);
    }
    return new MongoUnreachableError(host, `${host} did not answer: ${withoutHost(error.message, host)}`);
  }
  if (error instanceof MongoNetworkError)
    return new MongoUnreachableError(host, `${host} did not answer: ${withoutHost(error.message, host)}`);
  // Any other driver error (a closed client, a lost topology) is no answer from the server either.
  if (error instanceof MongoError)
    return new MongoUnreachableError(host, `${host}: ${error.name}: ${withoutHost(error.message, host)}`);
  return error;
}

/**
 * The driver's message without the address it repeats (`connect ECONNREFUSED 10.0.0.1:27017` →
 * `connect ECONNREFUSED`): the message already starts with it.
 */
function withoutHost(message: string, host: string): string {
  return message.split(` ${host}`).join('').trim();
}
