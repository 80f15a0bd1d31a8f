import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DesiredState } from '../../../src/derive/types.js';
import { DistctlError } from '../../../src/errors/index.js';
import { MongoCommandError, type MongoAdmin } from '../../../src/mongo/admin.js';
import { ensureMongoTier, type MongoTierDeps, type MongoTierResult } from '../../../src/mongo/up.js';
import type { SecretStore } from '../../../src/secrets/store.js';
import { desiredState, fakeMembers, memorySecrets } from './desired.js';
import { FakeMongo, settle } from './fake-mongo.js';
import { FakeOps, type Responder } from './fake-ops.js';
import { CHECK_SCRIPT } from '../../../src/mongo/check.js';
import { REACHABILITY_SCRIPT } from '../../../src/mongo/install.js';

const MONGOD_7 = '/usr/bin/mongod\ndb version v7.0.14\n';
const KEY = `pub:-:4096:1:160D26BB1785BA38:1:::::\nfpr:::::::::E58830201F7DD82CD808AA84160D26BB1785BA38:\n`;
const timing = {
  start: { intervalMs: 1_000, timeoutMs: 60_000 },
  reach: { intervalMs: 1_000, timeoutMs: 60_000 },
  health: { intervalMs: 1_000, timeoutMs: 120_000 },
};

/**
 * Containers whose systemd drives the fake mongods: `systemctl start/restart`
 * of a mongod unit starts or restarts that member, `is-active` tells whether
 * it runs. mongod appears once apt installs it; the mongodb user, directories
 * and enabled units exist once the commands that make them ran, and the
 * databases stage's one-exec check reports exactly that state.
 */
function containers(desired: DesiredState, mongo: FakeMongo, override: Responder = () => undefined): FakeOps {
  const installed = new Set<string>();
  const users = new Set<string>();
  const directories = new Set<string>();
  const enabled = new Set<string>();
  const hostOf = new Map(
    [...desired.replicaSets.flatMap((set) => set.members), ...desired.standalones.map((s) => s.process)].map((p) => [
      `${p.container}:${p.unitName}`,
      p.host,
    ]),
  );
  const check = (container: string, argv: readonly string[]): string => {
    const args = argv.slice(4);
    const dirCount = Number(args[0]);
    const dirs = args.slice(1, 1 + dirCount);
    const fileCount = Number(args[1 + dirCount]);
    const files = args.slice(2 + dirCount, 2 + dirCount + fileCount);
    const units = args.slice(2 + dirCount + fileCount);
    return [
      '@ids',
      ...(users.has(container) ? ['999', '999'] : []),
      '@dirs',
      ...dirs.filter((d) => directories.has(`${container}:${d}`)).map((d) => `mongodb:mongodb:750 ${d}`),
      '@memory',
      'max',
      'MemTotal:        4194304 kB',
      '@digests',
      ...files.flatMap((path) => {
        const content = ops.files.get(`${container}:${path}`);
        return content === undefined ? [] : [`${createHash('sha256').update(content).digest('hex')}  ${path}`];
      }),
      '@mongod',
      ...(installed.has(container) ? MONGOD_7.trim().split('\n') : []),
      '@units',
      ...units.map((unit) => {
        const host = hostOf.get(`${container}:${unit}`) ?? '';
        const state = mongo.isRunning(host) ? 'active' : 'inactive';
        return `${unit} ${enabled.has(`${container}:${unit}`) ? 'enabled' : 'disabled'} ${state}`;
      }),
    ].join('\n');
  };
  const ops: FakeOps = new FakeOps((container, argv) => {
    const overridden = override(container, argv);
    if (overridden !== undefined) return overridden;
    if (argv[0] === 'sh' && argv[2] === CHECK_SCRIPT) return { stdout: check(container, argv) };
    if (argv[0] === 'sh' && argv[2] === REACHABILITY_SCRIPT)
      return {
        stdout: argv
          .slice(5)
          .map((host) => `ok ${host}`)
          .join('\n'),
      };
    if (argv[0] === 'sh' && (argv[2] ?? '').startsWith('command -v mongod'))
      return installed.has(container) ? { stdout: MONGOD_7 } : { exitCode: 127 };
    if (argv[0] === 'sh' && (argv[2] ?? '').includes('useradd')) {
      users.add(container);
      return { stdout: '999\n999\n' };
    }
    if (argv[0] === 'install' && argv[1] === '-d')
      for (const dir of argv.slice(8)) directories.add(`${container}:${dir}`);
    if (argv[0] === 'sh' && (argv[2] ?? '').includes('memory.max'))
      return { stdout: 'max\nMemTotal:        4194304 kB\n' };
    if (argv[0] === 'cat' && argv[1] === '/etc/os-release') return { stdout: 'ID=ubuntu\nVERSION_CODENAME=jammy\n' };
    if (argv[0] === 'gpg' && argv[1] === '--show-keys') return { stdout: KEY };
    if (argv.includes('mongodb-org-server')) installed.add(container);
    if (argv[0] === 'systemctl') {
      const host = hostOf.get(`${container}:${argv.at(-1) ?? ''}`);
      if (host === undefined) return undefined;
      if (argv[1] === 'is-active') return { exitCode: mongo.isRunning(host) ? 0 : 3 };
      if (argv[1] === 'enable') enabled.add(`${container}:${argv.at(-1) ?? ''}`);
      if (argv[1] === 'start') mongo.start(host);
      if (argv[1] === 'restart') mongo.restart(host);
    }
    return undefined;
  });
  return ops;
}

/** Orders rows by their text, for comparing calls whose order does not matter. */
const byText = (a: readonly unknown[], b: readonly unknown[]): number => a.join(' ').localeCompare(b.join(' '));

describe('ensureMongoTier', () => {
  let secrets: SecretStore;
  beforeEach(() => {
    secrets = memorySecrets();
    vi.useFakeTimers();
    vi.setSystemTime(0);
  });
  afterEach(() => vi.useRealTimers());

  /** A fresh tier: no mongod runs until its unit is started. */
  function fresh(
    desired: DesiredState = desiredState(),
    override?: Responder,
  ): {
    mongo: FakeMongo;
    ops: FakeOps;
    deps: MongoTierDeps;
    messages: string[];
  } {
    const mongo = new FakeMongo(fakeMembers(desired), { down: fakeMembers(desired).map((m) => m.host) });
    const ops = containers(desired, mongo, override);
    const messages: string[] = [];
    return {
      mongo,
      ops,
      messages,
      deps: {
        ops,
        admin: mongo.network,
        localhost: mongo.localhost,
        secrets,
        topologyDir: '/srv',
        timing,
        onProgress: (m: string) => messages.push(m),
      },
    };
  }

  async function up(desired: DesiredState, deps: MongoTierDeps): Promise<MongoTierResult> {
    const outcome = await settle(ensureMongoTier(desired, deps), vi);
    if (outcome.error !== undefined) throw outcome.error;
    return outcome.value as MongoTierResult;
  }

  it('brings up a fresh tier in order, and a second run changes nothing', async () => {
    const desired = desiredState();
    const { mongo, ops, deps, messages } = fresh(desired);

    const first = await up(desired, deps);
    expect(first.changed).toBe(true);
    expect(first.installs.map((i) => [i.container, i.changed])).toEqual([
      ['db1', true],
      ['db3', true],
    ]);
    expect(first.replicaSets.map((r) => [r.name, r.initiated, r.adminUser, r.status.primary])).toEqual([
      ['rsA', true, 'created', '10.10.10.12:27017'],
    ]);
    expect(first.standalones).toEqual([{ name: 'users', adminUser: 'created' }]);
    expect(first.usersChanged).toEqual(['auth-server@users', 'web-server@rsA']);
    // Fresh units are started, never restarted.
    expect(ops.execs().filter((argv) => argv[1] === 'restart')).toEqual([]);
    expect(
      ops
        .writes()
        .filter((w) => w.path === '/etc/mongodb-keyfile')
        .map((w) => w.container),
    ).toEqual(['db1']);
    expect(messages.some((m) => m.includes('rsA:'))).toBe(true);

    const second = await up(desired, deps);
    expect(second.changed).toBe(false);
    expect(second.replicaSets[0]?.initiated).toBe(false);
    // The first replSetInitiate met a member still loading its (empty) config, and was retried a second later.
    expect(mongo.names('localhost')).toEqual(['replSetInitiate', 'replSetInitiate', 'createUser', 'createUser']);
    expect(mongo.proxyEvents).toEqual([
      'open 10.10.10.12:27017',
      'close 10.10.10.12:27017',
      'open 10.10.10.12:27017',
      'close 10.10.10.12:27017',
      'open 10.10.10.14:27017',
      'close 10.10.10.14:27017',
    ]);
  });

  it('checks a converged tier with exactly one exec per database container, and runs nothing else in it', async () => {
    const desired = desiredState();
    const { ops, deps } = fresh(desired);
    await up(desired, deps);
    const before = ops.calls.length;

    const second = await up(desired, deps);

    expect(second.changed).toBe(false);
    const calls = ops.calls.slice(before);
    expect(
      calls.map((call) => [call.kind, call.container, call.kind === 'exec' ? call.argv[2] : '']).sort(byText),
    ).toEqual([
      ['exec', 'db1', CHECK_SCRIPT],
      ['exec', 'db3', CHECK_SCRIPT],
    ]);
    expect(second.installs.map((install) => [install.container, install.mongodBin, install.changed])).toEqual([
      ['db1', '/usr/bin/mongod', false],
      ['db3', '/usr/bin/mongod', false],
    ]);
  });

  it('converges a container whose unit was stopped, and only that one', async () => {
    const desired = desiredState();
    const { mongo, ops, deps } = fresh(desired);
    await up(desired, deps);
    mongo.stop('10.10.10.14:27017');
    const before = ops.calls.length;

    await up(desired, deps);

    const calls = ops.calls.slice(before).flatMap((call) => (call.kind === 'exec' ? [call] : []));
    expect(calls.filter((call) => call.container === 'db1').map((call) => call.argv[2])).toEqual([CHECK_SCRIPT]);
    expect(
      calls.filter((call) => call.argv[0] === 'systemctl' && call.argv[1] === 'start').map((c) => c.container),
    ).toEqual(['db3']);
    expect(mongo.isRunning('10.10.10.14:27017')).toBe(true);
    expect(calls.some((call) => call.argv.includes('apt-get'))).toBe(false);
  });

  it('finds an unreachable repository from one container before apt runs anywhere', async () => {
    const desired = desiredState();
    const mongo = new FakeMongo(fakeMembers(desired), { down: fakeMembers(desired).map((m) => m.host) });
    const ops = containers(desired, mongo, (_container, argv) =>
      argv[2] === REACHABILITY_SCRIPT
        ? {
            stdout: argv
              .slice(5)
              .map((host) => `unreachable ${host}`)
              .join('\n'),
          }
        : undefined,
    );
    const deps = { ops, admin: mongo.network, localhost: mongo.localhost, secrets, topologyDir: '/srv', timing };

    const outcome = await settle(ensureMongoTier(desired, deps), vi);

    expect(outcome.error).toMatchObject({
      code: 'MONGO_SOURCE_UNREACHABLE',
      message:
        "MongoDB's repository cannot be reached from container db1: no connection to repo.mongodb.org:443, " +
        'www.mongodb.org:443 within 3 s; apt was not run in any container.',
    });
    const execs = ops.calls.flatMap((call) => (call.kind === 'exec' ? [call] : []));
    expect(execs.filter((call) => call.argv[2] === REACHABILITY_SCRIPT).map((call) => call.container)).toEqual(['db1']);
    expect(execs.some((call) => call.argv.includes('apt-get'))).toBe(false);
  });

  it('retries a tier whose image has no mongod with one exec per container', async () => {
    const desired = desiredState({ kind: 'image' });
    const { ops, deps } = fresh(desired);
    const first = await settle(ensureMongoTier(desired, deps), vi);
    expect(first.error).toMatchObject({ code: 'MONGOD_NOT_IN_IMAGE' });
    const before = ops.calls.length;

    const retry = await settle(ensureMongoTier(desired, deps), vi);

    expect(retry.error).toMatchObject({ code: 'MONGOD_NOT_IN_IMAGE' });
    expect(
      ops.calls
        .slice(before)
        .map((call) => [call.kind, call.container])
        .sort(byText),
    ).toEqual([
      ['exec', 'db1'],
      ['exec', 'db3'],
    ]);
  });

  it('restarts changed members one at a time: secondaries first, each back as SECONDARY, then the primary after a stepdown', async () => {
    const desired = desiredState();
    const { mongo, ops, deps } = fresh(desired);
    await up(desired, deps);
    mongo.maxUnavailable.clear();
    const before = ops.calls.length;
    const stepDownsBefore = mongo.seen.length;

    const changed = { ...desired, mongodb: { ...desired.mongodb, cacheSizeGB: 1.25 } };
    const result = await up(changed, deps);

    const systemctl = ops.calls
      .slice(before)
      .flatMap((c) =>
        c.kind === 'exec' && c.argv[0] === 'systemctl' && c.argv[1] === 'restart'
          ? [`${c.container} ${c.argv[2]}`]
          : [],
      );
    expect(systemctl.filter((unit) => unit.startsWith('db1'))).toEqual([
      'db1 mongod-27019.service',
      'db1 mongod-27018.service',
      'db1 mongod-27017.service',
    ]);
    expect(systemctl.filter((unit) => unit.startsWith('db3'))).toEqual(['db3 mongod-27017.service']);
    expect(result.units.map((u) => u.unitsRestarted)).toEqual([
      ['db1:mongod-27019.service', 'db1:mongod-27018.service', 'db1:mongod-27017.service'],
      ['db3:mongod-27017.service'],
    ]);
    // The set never had more than one member away from PRIMARY/SECONDARY.
    expect(mongo.maxUnavailable.get('rsA')).toBe(1);
    const later = mongo.seen.slice(stepDownsBefore);
    expect(later.filter((s) => s.name === 'replSetStepDown').map((s) => s.host)).toEqual(['10.10.10.12:27017']);
    expect(result.replicaSets[0]?.status.members.map((m) => m.state).sort()).toEqual([
      'PRIMARY',
      'SECONDARY',
      'SECONDARY',
    ]);
  });

  it('never puts a secret on a command line', async () => {
    const desired = desiredState();
    const { ops, deps } = fresh(desired);
    await up(desired, deps);

    const values = await Promise.all(
      ['mongodb-keyfile', 'mongodb-admin-password', 'mongodb-user-web-server', 'mongodb-user-auth-server'].map((name) =>
        secrets.get(name),
      ),
    );
    const argvText = JSON.stringify(ops.execs());
    for (const value of values) expect(argvText).not.toContain(value.trim());
  });

  it('reports an unexpected server answer as a DistctlError, never as an internal error', async () => {
    const desired = desiredState();
    const { mongo, deps } = fresh(desired);
    const refusing: MongoAdmin = {
      command: async (target, db, cmd, options) => {
        if ('usersInfo' in cmd) throw new MongoCommandError(8000, 'AtlasError', 'quota exceeded');
        return mongo.network.command(target, db, cmd, options);
      },
      close: async () => undefined,
    };
    const outcome = await settle(ensureMongoTier(desired, { ...deps, admin: refusing }), vi);

    expect(outcome.error).toBeInstanceOf(DistctlError);
    expect(outcome.error).toMatchObject({
      code: 'MONGO_COMMAND_FAILED',
      message: 'MongoDB answered unexpectedly while converging the databases: AtlasError (8000): quota exceeded.',
    });
  });

  it('names every container whose install fails, one cause said once for all the containers it hit', async () => {
    const desired = desiredState();
    const trixie = (_container: string, argv: readonly string[]) =>
      argv[0] === 'cat' && argv[1] === '/etc/os-release'
        ? { stdout: 'ID=debian\nVERSION_CODENAME=trixie\n' }
        : undefined;
    const { deps } = fresh(desired, trixie);

    const outcome = await settle(ensureMongoTier(desired, deps), vi);

    expect(outcome.error).toBeInstanceOf(DistctlError);
    expect(outcome.error).toMatchObject({
      code: 'MONGO_DISTRIBUTION_UNSUPPORTED',
      message:
        "containers db1, db3: MongoDB's apt repository is used for Ubuntu jammy and Debian bookworm; " +
        'this container runs debian trixie.',
      details: [],
    });
  });

  it('names every failing container with its own cause when their causes differ', async () => {
    const desired = desiredState();
    const broken = (container: string, argv: readonly string[]) => {
      if (argv[0] !== 'cat' || argv[1] !== '/etc/os-release') return undefined;
      return container === 'db1'
        ? { stdout: 'ID=debian\nVERSION_CODENAME=trixie\n' }
        : { exitCode: 1, stderr: 'cat: /etc/os-release: No such file or directory' };
    };
    const { deps } = fresh(desired, broken);

    const outcome = await settle(ensureMongoTier(desired, deps), vi);

    expect(outcome.error).toMatchObject({
      code: 'MONGO_DISTRIBUTION_UNSUPPORTED',
      message:
        "container db1: MongoDB's apt repository is used for Ubuntu jammy and Debian bookworm; " +
        'this container runs debian trixie.',
      details: ['also failed: Could not read /etc/os-release in container db3.'],
    });
  });

  it('names every mongod that does not start, not only the first', async () => {
    const desired = desiredState();
    // Neither db1's third member nor db3's standalone ever starts: their `systemctl start` does nothing.
    const stuck = (container: string, argv: readonly string[]) =>
      argv[0] === 'systemctl' &&
      argv[1] === 'start' &&
      `${container} ${argv[2]}` in { 'db1 mongod-27019.service': 1, 'db3 mongod-27017.service': 1 }
        ? {}
        : undefined;
    const { deps } = fresh(desired, stuck);

    const outcome = await settle(ensureMongoTier(desired, deps), vi);

    expect(outcome.error).toMatchObject({
      code: 'MONGOD_START_FAILED',
      message: expect.stringMatching(/^mongod on port 27019 in container db1 did not start: /),
    });
    const also = (outcome.error as DistctlError).details.filter((line) => line.startsWith('also failed: '));
    expect(also).toEqual([
      expect.stringMatching(/^also failed: mongod on port 27017 in container db3 did not start: /),
    ]);
  });

  it('does nothing without MongoDB in the topology', async () => {
    const desired = { ...desiredState(), replicaSets: [], standalones: [], services: [] };
    const { ops, deps } = fresh(desired);
    const result = await up(desired, deps);
    expect(result.changed).toBe(false);
    expect(ops.calls).toEqual([]);
  });
});
