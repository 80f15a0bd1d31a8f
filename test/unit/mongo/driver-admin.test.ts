import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MongoNetworkError, MongoServerError, MongoServerSelectionError, MongoTopologyClosedError } from 'mongodb';
import { MongoCommandError, MongoUnreachableError } from '../../../src/mongo/admin.js';
import { acceptsConnections, DriverMongoAdmin, translateDriverError } from '../../../src/mongo/driver-admin.js';
import { refusedEndpoint } from '../services/helpers.js';

const host = '10.10.10.12:27017';

/**
 * A selection error as the driver raises it when a direct connection's handshake failed: the server description carries
 * the answer.
 */
function selectionError(serverError: Error | null): MongoServerSelectionError {
  const reason = { servers: new Map([[host, { error: serverError }]]) };
  return new MongoServerSelectionError(
    `Server selection timed out after 3000 ms`,
    reason as unknown as ConstructorParameters<typeof MongoServerSelectionError>[1],
  );
}

describe('translateDriverError: only two outcomes leave the driver adapter', () => {
  it('an ok:0 reply becomes MongoCommandError with its code, name and message', () => {
    const error = translateDriverError(
      host,
      new MongoServerError({
        ok: 0,
        code: 94,
        codeName: 'NotYetInitialized',
        errmsg: 'no replset config has been received',
      }),
    );
    expect(error).toBeInstanceOf(MongoCommandError);
    expect(error).toMatchObject({
      code: 94,
      codeName: 'NotYetInitialized',
      message: 'no replset config has been received',
    });
  });

  it('a handshake refused as AuthenticationFailed (18) surfaces as that code, which sends ensureAdminUser to the localhost exception', () => {
    const error = translateDriverError(
      host,
      selectionError(
        new MongoServerError({ ok: 0, code: 18, codeName: 'AuthenticationFailed', errmsg: 'Authentication failed.' }),
      ),
    );
    expect(error).toMatchObject({ name: 'MongoCommandError', code: 18, codeName: 'AuthenticationFailed' });
  });

  it('a selection timeout or network error without an answer is unreachable, without repeating the address', () => {
    expect(translateDriverError(host, selectionError(null))).toMatchObject({
      name: 'MongoUnreachableError',
      host,
      message: `${host} did not answer: Server selection timed out after 3000 ms`,
    });
    expect(translateDriverError(host, new MongoNetworkError(`connect ECONNREFUSED ${host}`))).toMatchObject({
      name: 'MongoUnreachableError',
      message: `${host} did not answer: connect ECONNREFUSED`,
    });
  });

  it('any other driver error is unreachable too, never a raw driver error', () => {
    const error = translateDriverError(host, new MongoTopologyClosedError());
    expect(error).toBeInstanceOf(MongoUnreachableError);
    expect((error as Error).message).toBe(`${host}: MongoTopologyClosedError: Topology is closed`);
  });

  it("leaves errors that are not the driver's alone (they are bugs)", () => {
    const bug = new TypeError('x is undefined');
    expect(translateDriverError(host, bug)).toBe(bug);
  });
});

describe('DriverMongoAdmin', () => {
  let admin: DriverMongoAdmin | undefined;
  afterEach(async () => {
    await admin?.close();
    admin = undefined;
  });

  it('reports a refused connection at once, not after server selection gives up (60 s here, the test allows 20)', async () => {
    const { address, port } = await refusedEndpoint();
    admin = new DriverMongoAdmin({ serverSelectionTimeoutMS: 60_000, connectTimeoutMS: 60_000 });
    const error = await admin
      .command({ container: 'db1', host: address, port }, 'admin', { ping: 1 })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MongoUnreachableError);
    expect((error as MongoUnreachableError).message).toBe(`${address} did not answer: connect ECONNREFUSED`);
  });

  it('lets a port that accepts connections through to the driver', async () => {
    const server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await expect(acceptsConnections(`127.0.0.1:${port}`, 1_000)).resolves.toBeUndefined();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('reports a port nobody listens on as unreachable, quickly', async () => {
    const { address, port } = await refusedEndpoint();
    admin = new DriverMongoAdmin({ serverSelectionTimeoutMS: 500, connectTimeoutMS: 500 });
    const error = await admin
      .command({ container: 'db1', host: address, port }, 'admin', { ping: 1 })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MongoUnreachableError);
    expect((error as MongoUnreachableError).host).toBe(address);
  });

  it('dials a Unix socket given as its URL-encoded path (the bootstrap proxy listens on one)', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'distctl-driver-test-'));
    const path = join(directory, 'mongod-27017.sock');
    let connections = 0;
    // A listener that hangs up at once: the driver must have come to this socket to be hung up on.
    const server = createServer((socket) => {
      connections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(path, resolve));
    try {
      admin = new DriverMongoAdmin({ serverSelectionTimeoutMS: 500, connectTimeoutMS: 500 });
      const host = encodeURIComponent(path);
      const error = await admin.command({ container: 'db1', host, port: 27017 }, 'admin', { ping: 1 }).catch((e) => e);

      expect(error).toBeInstanceOf(MongoUnreachableError);
      expect(connections).toBeGreaterThan(0);
    } finally {
      await new Promise((resolve) => server.close(resolve));
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
