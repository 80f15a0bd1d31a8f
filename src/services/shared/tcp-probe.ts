/**
 * A TCP handshake with a database's hosts before the MongoDB driver is asked.
 * The driver reports a refused connection only when server selection gives up
 * (serverSelectionTimeoutMS), so a mongod that is not running would cost every
 * readiness check that timeout; a plain connect learns it in one round trip.
 */
import { connect } from 'node:net';

/** One host of a mongodb:// URL: an address and port, or a Unix socket path. */
export type ProbeTarget = { readonly host: string; readonly port: number } | { readonly path: string };

/**
 * Opens a connection to `target` and closes it at once. Resolves when the target accepts; rejects with the
 * socket's error (its `code`: ECONNREFUSED, EHOSTUNREACH, …) as soon as there is one, or after `timeoutMs`
 * without an answer. Tests inject their own in place of `tcpConnector`.
 */
export type Connector = (target: ProbeTarget, timeoutMs: number) => Promise<void>;

/** The real Connector, over node:net. */
export const tcpConnector: Connector = (target, timeoutMs) =>
  new Promise<void>((resolve, reject) => {
    const socket = connect(target);
    // A timer rather than socket.setTimeout, whose clock is the socket's activity and not the attempt's start.
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    });
  });

/** No host of a database accepted a TCP connection: the message gives each host's reason. */
export class NoHostAcceptsError extends Error {
  constructor(readonly reasons: readonly string[]) {
    super(`no connection: ${reasons.join('; ')}`);
    this.name = 'NoHostAcceptsError';
  }
}

const DEFAULT_PORT = 27017;

/**
 * The hosts a mongodb:// URL names, or null for mongodb+srv:// (its hosts come from DNS, which the driver
 * resolves). Credentials are skipped; a host without a port gets 27017; a URL-encoded host starting with `/`
 * is a Unix socket.
 */
export function databaseHosts(url: string): ProbeTarget[] | null {
  if (url.startsWith('mongodb+srv://')) return null;
  const authority = /^mongodb:\/\/([^/?]*)/.exec(url)?.[1] ?? '';
  const hosts = authority.slice(authority.lastIndexOf('@') + 1);
  return hosts.split(',').map((entry): ProbeTarget => {
    const path = decodeURIComponent(entry);
    if (path.startsWith('/')) return { path };
    const match = /^(\[[^\]]*\]|[^:]*)(?::(\d+))?$/.exec(entry);
    const host = (match?.[1] ?? entry).replace(/^\[(.*)\]$/, '$1');
    return { host, port: match?.[2] === undefined ? DEFAULT_PORT : Number(match[2]) };
  });
}

/**
 * Resolves as soon as one of `targets` accepts a connection; rejects with NoHostAcceptsError once every one
 * has refused or stayed silent for `timeoutMs`. A replica set with one member up is let through: whether
 * that member can serve is the driver's to find out, within its own bounded wait.
 */
export async function anyHostAccepts(
  targets: readonly ProbeTarget[],
  timeoutMs: number,
  connector: Connector = tcpConnector,
): Promise<void> {
  const attempts = targets.map((target) =>
    connector(target, timeoutMs).catch((error: unknown) => {
      throw new Error(`${shown(target)} ${reasonOf(error)}`);
    }),
  );
  try {
    await Promise.any(attempts);
  } catch (error) {
    const reasons = error instanceof AggregateError ? error.errors.map((e: Error) => e.message) : [String(error)];
    throw new NoHostAcceptsError(reasons);
  }
}

function shown(target: ProbeTarget): string {
  if ('path' in target) return target.path;
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

function reasonOf(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.message : String(error);
}
