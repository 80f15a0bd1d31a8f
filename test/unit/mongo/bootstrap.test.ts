import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DistctlError } from '../../../src/errors/index.js';
import type { CommandResult, CommandSpec, Runner } from '../../../src/exec/runner.js';
import { IncusClient } from '../../../src/incus/client.js';
import { MongoUnreachableError, type MongoAdmin, type MongoTarget } from '../../../src/mongo/admin.js';
import { IncusProxyAccess } from '../../../src/mongo/bootstrap.js';

const target: MongoTarget = { container: 'db1', host: '10.10.10.12:27017', port: 27017 };
/** The parent of the socket directories in these tests. */
const TMP = mkdtempSync(join(tmpdir(), 'distctl-bootstrap-test-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));
const SOCKET = new RegExp(`^${TMP}/distctl-\\w{6}/mongod-27017\\.sock$`);
const IDS = `uid=${process.getuid?.()} gid=${process.getgid?.()}`;
const ADD =
  'incus --project distctl config device add db1 distctl-bootstrap-27017 proxy bind=host listen=unix:SOCKET ' +
  `connect=tcp:127.0.0.1:27017 mode=0600 ${IDS}`;
const REMOVE = 'incus --project distctl config device remove db1 distctl-bootstrap-27017';

/**
 * Records every incus call, the socket path of a proxy's `listen=unix:` shown as SOCKET (`sockets` keeps the
 * paths); `fail` scripts refusals by command line.
 */
class Incus implements Runner {
  readonly calls: string[] = [];
  readonly sockets: string[] = [];
  constructor(private readonly fail: (line: string, count: number) => string | undefined = () => undefined) {}
  async run(cmd: CommandSpec): Promise<CommandResult> {
    const line = [cmd.bin, ...cmd.args]
      .map((arg) => {
        if (!arg.startsWith('listen=unix:')) return arg;
        this.sockets.push(arg.slice('listen=unix:'.length));
        return 'listen=unix:SOCKET';
      })
      .join(' ');
    this.calls.push(line);
    const stderr = this.fail(line, this.calls.filter((call) => call === line).length);
    return stderr === undefined
      ? { exitCode: 0, stdout: '', stderr: '', timedOut: false }
      : { exitCode: 1, stdout: '', stderr, timedOut: false };
  }
}

/** The driver over the proxy, as seen from the host: it records where commands go. */
function recordingAdmin(
  sent: string[],
  closed: string[],
  answer: () => Promise<Record<string, unknown>> = async () => ({ ok: 1 }),
): () => MongoAdmin {
  return () => ({
    command: async (to, _db, cmd) => {
      sent.push(`${to.host} ${Object.keys(cmd)[0] ?? ''}`);
      return answer();
    },
    close: async () => void closed.push('closed'),
  });
}

function access(incus: Incus, admin: () => MongoAdmin): IncusProxyAccess {
  return new IncusProxyAccess(new IncusClient(incus), 'distctl', { adminFor: admin, tmpDir: TMP });
}

describe('IncusProxyAccess: the localhost exception through a proxy device that exists only for the bootstrap steps', () => {
  it('adds the device, sends the steps to its socket by URL-encoded path, and removes device and socket after', async () => {
    const incus = new Incus();
    const sent: string[] = [];
    const closed: string[] = [];
    let during = { endpoint: '', mode: 0, owner: -1 };
    const reply = await access(incus, recordingAdmin(sent, closed)).open(target, (channel, endpoint) => {
      const directory = statSync(join(endpoint, '..'));
      during = { endpoint, mode: directory.mode & 0o777, owner: directory.uid };
      return channel.command(target, 'admin', { createUser: 'distctl-admin' });
    });

    expect(reply).toEqual({ ok: 1 });
    expect(incus.calls).toEqual([ADD, REMOVE]);
    // The socket's directory existed before the device was added, private to this user, and is gone afterwards.
    expect(during.endpoint).toMatch(SOCKET);
    expect(incus.sockets).toEqual([during.endpoint]);
    expect(during.mode).toBe(0o700);
    expect(during.owner).toBe(process.getuid?.());
    expect(() => statSync(join(during.endpoint, '..'))).toThrow(/ENOENT/);
    expect(sent).toEqual([`${encodeURIComponent(during.endpoint)} createUser`]);
    expect(closed).toEqual(['closed']);
  });

  it('gives every opening a socket path of its own', async () => {
    const incus = new Incus();
    const proxy = access(incus, recordingAdmin([], []));
    await Promise.all([proxy.open(target, async () => 'one'), proxy.open(target, async () => 'two')]);

    expect(incus.sockets).toHaveLength(2);
    expect(new Set(incus.sockets).size).toBe(2);
  });

  it('refuses a temporary directory too long for a socket path, before adding anything', async () => {
    const incus = new Incus();
    const long = join(TMP, 'x'.repeat(80));
    const error = (await new IncusProxyAccess(new IncusClient(incus), 'distctl', {
      adminFor: recordingAdmin([], []),
      tmpDir: long,
    })
      .open(target, async () => 'done')
      .catch((e: unknown) => e)) as DistctlError;

    expect(error).toBeInstanceOf(DistctlError);
    expect(error.code).toBe('MONGO_BOOTSTRAP_PROXY_FAILED');
    expect(error.message).toBe(
      `The temporary directory ${long} is too long a path for the bootstrap socket of mongod 10.10.10.12:27017 ` +
        `(${long.length + 33} bytes; a Unix socket path holds at most 107).`,
    );
    expect(incus.calls).toEqual([]);
  });

  it('removes the device when the steps fail, and rethrows their error', async () => {
    const incus = new Incus();
    const failure = new Error('steps failed');
    const error = await access(incus, recordingAdmin([], []))
      .open(target, async () => Promise.reject(failure))
      .catch((e: unknown) => e);

    expect(error).toBe(failure);
    expect(incus.calls).toEqual([ADD, REMOVE]);
    expect(() => statSync(join(incus.sockets[0]!, '..'))).toThrow(/ENOENT/);
  });

  it('names the member, not the proxy port, when mongod does not answer through the proxy', async () => {
    const incus = new Incus();
    const unreachable = recordingAdmin([], [], async () =>
      Promise.reject(new MongoUnreachableError('the socket', 'the socket did not answer: connect ECONNREFUSED')),
    );
    const error = await access(incus, unreachable)
      .open(target, (channel) => channel.command(target, 'admin', { ping: 1 }))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MongoUnreachableError);
    expect(error).toMatchObject({ host: '10.10.10.12:27017' });
    expect((error as Error).message).toBe(
      `mongod 10.10.10.12:27017 (container db1) did not answer through the bootstrap proxy ${incus.sockets[0]} → ` +
        '127.0.0.1:27017: the socket did not answer: connect ECONNREFUSED',
    );
    expect(incus.calls).toEqual([ADD, REMOVE]);
  });

  it('replaces a device an interrupted earlier run left behind', async () => {
    const incus = new Incus((line, count) =>
      line === ADD && count === 1 ? 'Error: The device already exists' : undefined,
    );
    await access(incus, recordingAdmin([], [])).open(target, async () => 'done');

    expect(incus.calls).toEqual([ADD, REMOVE, ADD, REMOVE]);
  });

  it('says how to remove a device it could not remove, and still deletes its socket', async () => {
    const incus = new Incus((line) => (line === REMOVE ? 'Error: Failed to remove device' : undefined));
    const error = (await access(incus, recordingAdmin([], []))
      .open(target, async () => 'done')
      .catch((e: unknown) => e)) as DistctlError;

    expect(error).toBeInstanceOf(DistctlError);
    expect(error.code).toBe('MONGO_BOOTSTRAP_PROXY_LEFT');
    expect(error.message).toBe(
      `The bootstrap proxy distctl-bootstrap-27017 of container db1 could not be removed. Its socket ` +
        `${incus.sockets[0]} is deleted, so nothing reaches mongod through it, but the device stays in the ` +
        "container's configuration.",
    );
    expect(() => statSync(join(incus.sockets[0]!, '..'))).toThrow(/ENOENT/);
    expect(error.hint).toBe(`Remove it by hand: \`${REMOVE}\`, then rerun \`distctl up\`.`);
  });

  it('explains a device Incus refuses to add, and sends nothing', async () => {
    const incus = new Incus((line) => (line === ADD ? 'Error: Instance is not running' : undefined));
    const sent: string[] = [];
    const error = (await access(incus, recordingAdmin(sent, []))
      .open(target, async () => 'done')
      .catch((e: unknown) => e)) as DistctlError;

    expect(error.code).toBe('MONGO_BOOTSTRAP_PROXY_FAILED');
    expect(error.details).toEqual([ADD.replace('SOCKET', incus.sockets[0]!), 'Error: Instance is not running']);
    expect(() => statSync(join(incus.sockets[0]!, '..'))).toThrow(/ENOENT/);
    expect(sent).toEqual([]);
    expect(incus.calls).toEqual([ADD]);
  });

  it('refuses to carry a command meant for another member', async () => {
    const incus = new Incus();
    const other = { container: 'db1', host: '10.10.10.12:27018', port: 27018 };
    const error = await access(incus, recordingAdmin([], []))
      .open(target, (channel) => channel.command(other, 'admin', { ping: 1 }))
      .catch((e: unknown) => e);

    expect((error as Error).message).toBe('bootstrap channel of 10.10.10.12:27017 asked to reach 10.10.10.12:27018');
    expect(incus.calls).toEqual([ADD, REMOVE]);
  });
});
