// Loopback ports for tests of every tier. A port is always owned by whoever listens on it: a test
// listens on port 0 and reads back the port the kernel chose, and keeps listening for as long as the
// port is in use. Nothing here binds a port, releases it and hopes it is still free a moment later.
import { createServer, type Server } from 'node:net';

/** Listens `server` on 127.0.0.1, port 0, and resolves with the port the kernel gave it. */
export async function listenOnLoopback(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (typeof address !== 'object' || address === null)
    throw new Error('a TCP server listening on 127.0.0.1 has no port');
  return address.port;
}

/** A peer that is down: it holds its port, and drops every connection the moment it arrives. */
export interface DeadPeer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * A stand-in for a server that is down (a stopped mongod, an unreachable auth-server). Unlike a
 * port that was free a moment ago, no other process can start answering on it during the test.
 */
export async function deadPeer(): Promise<DeadPeer> {
  const server = createServer((socket) => socket.destroy());
  const port = await listenOnLoopback(server);
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/**
 * The port a child process chose itself (it was started with port 0), read from the line it logs
 * once it listens: `… listening on http://127.0.0.1:PORT …`. Resolves as soon as the line appears.
 */
export function announcedPort(output: NodeJS.ReadableStream, timeoutMs = 10_000): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const timer = setTimeout(() => {
      output.off('data', onData);
      reject(new Error(`no "listening on http://127.0.0.1:PORT" line within ${timeoutMs} ms; output was:\n${seen}`));
    }, timeoutMs);
    const onData = (chunk: Buffer | string): void => {
      seen += chunk.toString();
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(seen);
      if (match?.[1] === undefined) return;
      clearTimeout(timer);
      output.off('data', onData);
      resolve(Number(match[1]));
    };
    output.on('data', onData);
  });
}

/**
 * A port for a server that cannot listen on port 0 and report the port back: mongod (its `--port`
 * has no "any free port", and a replica set's members must know each other's ports up front) and an
 * Incus proxy device (its `listen=` address is part of the declared topology). The port is free
 * when this returns and the caller starts its server on it at once; another process could take it
 * in between, which is why every server that can listen on 0 uses {@link listenOnLoopback} or
 * {@link announcedPort} instead.
 */
export async function portForServerWithoutPortZero(): Promise<number> {
  const server = createServer();
  const port = await listenOnLoopback(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
