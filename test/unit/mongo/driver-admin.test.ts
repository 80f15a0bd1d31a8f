import { afterEach, describe, expect, it } from 'vitest';
import { MongoCommandError, MongoUnreachableError } from '../../../src/mongo/admin.js';
import { DriverMongoAdmin } from '../../../src/mongo/driver-admin.js';
import { startWireServer, withHandshake, type WireServer } from './wire-server.js';

// The real driver against a wire-protocol impostor on 127.0.0.1: checks direct connection and how its errors are translated.
describe('DriverMongoAdmin', () => {
  let server: WireServer | undefined;
  let admin: DriverMongoAdmin | undefined;
  afterEach(async () => {
    await admin?.close();
    await server?.close();
    admin = undefined;
    server = undefined;
  });

  it('runs a command on exactly the named mongod and returns the reply', async () => {
    server = await startWireServer(withHandshake((cmd) => (cmd.replSetGetStatus !== undefined ? { ok: 1, set: 'rsA', members: [] } : { ok: 1 })));
    admin = new DriverMongoAdmin({ serverSelectionTimeoutMS: 2_000 });
    const reply = await admin.command({ container: 'db1', host: `127.0.0.1:${server.port}`, port: server.port }, 'admin', { replSetGetStatus: 1 });

    expect(reply).toMatchObject({ ok: 1, set: 'rsA' });
    expect(server.received.some((cmd) => cmd.replSetGetStatus === 1 && cmd.$db === 'admin')).toBe(true);
  });

  it('translates an ok:0 reply into MongoCommandError with code and name', async () => {
    server = await startWireServer(withHandshake(() => ({ ok: 0, code: 94, codeName: 'NotYetInitialized', errmsg: 'no replset config has been received' })));
    admin = new DriverMongoAdmin({ serverSelectionTimeoutMS: 2_000 });
    const error = await admin.command({ container: 'db1', host: `127.0.0.1:${server.port}`, port: server.port }, 'admin', { replSetGetStatus: 1 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MongoCommandError);
    expect(error).toMatchObject({ code: 94, codeName: 'NotYetInitialized', message: 'no replset config has been received' });
  });

  it('surfaces failed authentication as AuthenticationFailed (18), which tells ensureAdminUser to try the localhost exception', async () => {
    server = await startWireServer(
      withHandshake((cmd) => (cmd.saslStart !== undefined ? { ok: 0, code: 18, codeName: 'AuthenticationFailed', errmsg: 'Authentication failed.' } : { ok: 1 })),
    );
    admin = new DriverMongoAdmin({ serverSelectionTimeoutMS: 2_000 });
    const error = await admin
      .command({ container: 'db1', host: `127.0.0.1:${server.port}`, port: server.port }, 'admin', { ping: 1 }, { credentials: { username: 'distctl-admin', password: 'pw' } })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MongoCommandError);
    expect(error).toMatchObject({ code: 18, codeName: 'AuthenticationFailed' });
    expect(server.received.some((cmd) => cmd.saslStart !== undefined)).toBe(true);
  });

  it('reports a port nobody listens on as unreachable, quickly', async () => {
    server = await startWireServer(() => ({ ok: 1 }));
    const port = server.port;
    await server.close();
    server = undefined;
    admin = new DriverMongoAdmin({ serverSelectionTimeoutMS: 500, connectTimeoutMS: 500 });
    const started = Date.now();
    const error = await admin.command({ container: 'db1', host: `127.0.0.1:${port}`, port }, 'admin', { ping: 1 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MongoUnreachableError);
    expect((error as MongoUnreachableError).host).toBe(`127.0.0.1:${port}`);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
