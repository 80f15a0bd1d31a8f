import { afterEach, describe, expect, it } from 'vitest';
import { MongoCommandError, MongoUnreachableError } from '../../../src/mongo/admin.js';
import { LoopbackChannel, loopbackRelayArgv } from '../../../src/mongo/loopback.js';
import { FakeOps } from './fake-ops.js';
import { LocalOps } from './local-ops.js';
import { startWireServer, type WireServer } from './wire-server.js';

// The relay script runs for real here (bash, base64, head, od, timeout on this host) against a wire-protocol impostor on 127.0.0.1.
describe('LoopbackChannel', () => {
  let server: WireServer | undefined;
  afterEach(async () => server?.close());

  it('carries a command over bash /dev/tcp and returns the reply', async () => {
    server = await startWireServer((cmd) => ({ ok: 1, echoed: cmd.createUser, sawDb: cmd.$db }));
    const channel = new LoopbackChannel(new LocalOps(), { timeoutSeconds: 10 });
    const reply = await channel.command({ container: 'db1', host: '10.10.10.12:27017', port: server.port }, 'admin', { createUser: 'distctl-admin', pwd: 's3cret', roles: [] });

    expect(reply).toMatchObject({ ok: 1, echoed: 'distctl-admin', sawDb: 'admin' });
    expect(server.received[0]).toMatchObject({ createUser: 'distctl-admin', pwd: 's3cret' });
  });

  it('turns an ok:0 reply into MongoCommandError with its code', async () => {
    server = await startWireServer(() => ({ ok: 0, code: 13, codeName: 'Unauthorized', errmsg: 'command createUser requires authentication' }));
    const channel = new LoopbackChannel(new LocalOps(), { timeoutSeconds: 10 });
    const error = await channel.command({ container: 'db1', host: 'h:1', port: server.port }, 'admin', { createUser: 'x' }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MongoCommandError);
    expect(error).toMatchObject({ code: 13, codeName: 'Unauthorized' });
  });

  it('reports a closed port as unreachable', async () => {
    server = await startWireServer(() => ({ ok: 1 }));
    const port = server.port;
    await server.close();
    server = undefined;
    const error = await new LoopbackChannel(new LocalOps(), { timeoutSeconds: 5 }).command({ container: 'db1', host: '10.10.10.12:27017', port }, 'admin', { hello: 1 }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MongoUnreachableError);
    expect((error as Error).message).toContain(`127.0.0.1:${port} in container db1`);
  });

  it('keeps the command (and any password in it) off the command line', async () => {
    const ops = new FakeOps(() => ({ exitCode: 1, stderr: 'bash: connect: Connection refused' }));
    await new LoopbackChannel(ops).command({ container: 'db3', host: '10.10.10.14:27017', port: 27017 }, 'admin', { createUser: 'a', pwd: 'hunter2-password' }).catch(() => undefined);

    const call = ops.calls[0];
    expect(call?.kind === 'exec' && call.argv).toEqual(loopbackRelayArgv(27017, 30));
    expect(JSON.stringify(call)).not.toContain('hunter2-password');
    expect(call?.kind === 'exec' && Buffer.from(call.input ?? '', 'base64').includes('hunter2-password')).toBe(true);
  });
});
