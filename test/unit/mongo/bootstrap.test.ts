import { describe, expect, it } from 'vitest';
import { DistctlError } from '../../../src/errors/index.js';
import type { CommandResult, CommandSpec, Runner } from '../../../src/exec/runner.js';
import { IncusClient } from '../../../src/incus/client.js';
import { MongoUnreachableError, type MongoAdmin, type MongoTarget } from '../../../src/mongo/admin.js';
import { IncusProxyAccess } from '../../../src/mongo/bootstrap.js';

const target: MongoTarget = { container: 'db1', host: '10.10.10.12:27017', port: 27017 };
const ADD =
  'incus --project distctl config device add db1 distctl-bootstrap-27017 proxy bind=host listen=tcp:127.0.0.1:40123 connect=tcp:127.0.0.1:27017';
const REMOVE = 'incus --project distctl config device remove db1 distctl-bootstrap-27017';

/** Records every incus call; `fail` scripts refusals by command line. */
class Incus implements Runner {
  readonly calls: string[] = [];
  constructor(private readonly fail: (line: string, count: number) => string | undefined = () => undefined) {}
  async run(cmd: CommandSpec): Promise<CommandResult> {
    const line = [cmd.bin, ...cmd.args].join(' ');
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
  return new IncusProxyAccess(new IncusClient(incus), 'distctl', { adminFor: admin, freePort: async () => 40123 });
}

describe('IncusProxyAccess: the localhost exception through a proxy device that exists only for the bootstrap steps', () => {
  it('adds the device, sends the steps to 127.0.0.1 on the host, and removes the device afterwards', async () => {
    const incus = new Incus();
    const sent: string[] = [];
    const closed: string[] = [];
    const reply = await access(incus, recordingAdmin(sent, closed)).open(target, (channel, endpoint) => {
      expect(endpoint).toBe('127.0.0.1:40123');
      return channel.command(target, 'admin', { createUser: 'distctl-admin' });
    });

    expect(reply).toEqual({ ok: 1 });
    expect(sent).toEqual(['127.0.0.1:40123 createUser']);
    expect(incus.calls).toEqual([ADD, REMOVE]);
    expect(closed).toEqual(['closed']);
  });

  it('removes the device when the steps fail, and rethrows their error', async () => {
    const incus = new Incus();
    const failure = new Error('steps failed');
    const error = await access(incus, recordingAdmin([], []))
      .open(target, async () => Promise.reject(failure))
      .catch((e: unknown) => e);

    expect(error).toBe(failure);
    expect(incus.calls).toEqual([ADD, REMOVE]);
  });

  it('names the member, not the proxy port, when mongod does not answer through the proxy', async () => {
    const incus = new Incus();
    const unreachable = recordingAdmin([], [], async () =>
      Promise.reject(
        new MongoUnreachableError('127.0.0.1:40123', '127.0.0.1:40123 did not answer: connect ECONNREFUSED'),
      ),
    );
    const error = await access(incus, unreachable)
      .open(target, (channel) => channel.command(target, 'admin', { ping: 1 }))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(MongoUnreachableError);
    expect(error).toMatchObject({ host: '10.10.10.12:27017' });
    expect((error as Error).message).toBe(
      'mongod 10.10.10.12:27017 (container db1) did not answer through the bootstrap proxy 127.0.0.1:40123 → ' +
        '127.0.0.1:27017: 127.0.0.1:40123 did not answer: connect ECONNREFUSED',
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

  it('says how to remove a device it could not remove, so nothing is left listening unnoticed', async () => {
    const incus = new Incus((line) => (line === REMOVE ? 'Error: Failed to remove device' : undefined));
    const error = (await access(incus, recordingAdmin([], []))
      .open(target, async () => 'done')
      .catch((e: unknown) => e)) as DistctlError;

    expect(error).toBeInstanceOf(DistctlError);
    expect(error.code).toBe('MONGO_BOOTSTRAP_PROXY_LEFT');
    expect(error.message).toBe(
      'The bootstrap proxy distctl-bootstrap-27017 of container db1 could not be removed; it still forwards ' +
        '127.0.0.1:40123 on this host to mongod.',
    );
    expect(error.hint).toBe(`Remove it by hand: \`${REMOVE}\`, then rerun \`distctl up\`.`);
  });

  it('explains a device Incus refuses to add, and sends nothing', async () => {
    const incus = new Incus((line) => (line === ADD ? 'Error: Instance is not running' : undefined));
    const sent: string[] = [];
    const error = (await access(incus, recordingAdmin(sent, []))
      .open(target, async () => 'done')
      .catch((e: unknown) => e)) as DistctlError;

    expect(error.code).toBe('MONGO_BOOTSTRAP_PROXY_FAILED');
    expect(error.details).toEqual([ADD, 'Error: Instance is not running']);
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
