// `distctl drain`, `undrain` and `failover-test --kill-member` in-process: Incus is the in-memory model standing
// for a three-member cluster, MongoDB the fake sets, tied together so that a container stopping or starting
// stops or starts the mongods in it. Time is fake.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { applyPlan } from '../../../src/apply/index.js';
import { loadDeployment } from '../../../src/commands/context.js';
import { drainCommand, undrainCommand, type DrainOptions } from '../../../src/commands/drain.js';
import { failoverTestCommand } from '../../../src/commands/failover-test.js';
import type { DesiredState } from '../../../src/derive/types.js';
import { DistctlError } from '../../../src/errors/index.js';
import type { FailoverReport } from '../../../src/failover/index.js';
import { WORKLOAD_SERVER_SELECTION_TIMEOUT_MS } from '../../../src/failover/mongo-target.js';
import { IncusClient } from '../../../src/incus/client.js';
import type { MongoAdmin } from '../../../src/mongo/admin.js';
import { ADMIN_USERNAME, MongoSecretNames } from '../../../src/mongo/users.js';
import { observeIncus } from '../../../src/observe/incus.js';
import { planUp } from '../../../src/plan/index.js';
import { openSecretStore } from '../../../src/secrets/store.js';
import { secretsDir } from '../../../src/state/paths.js';
import { TimedReplicaSet, TimedWriteTarget } from '../failover/timed-set.js';
import { FakeMongo } from '../mongo/fake-mongo.js';
import { recordingUi } from '../support/deployment.js';
import { IncusModel } from '../support/incus-model.js';
import { runCli } from '../cli/run-cli.js';

// m1 runs a1 (rsA's preferred PRIMARY), b3 (an rsB SECONDARY) and the users standalone; m2 and m3 the rest.
const TOPOLOGY = `
version: 1
project: drain-unit
image: debian12-distctl
network: { name: ddrain0, subnet: 10.98.0.0/24, gateway: 10.98.0.1 }
containers:
  - { name: a1, ipv4: 10.98.0.11, target: m1 }
  - { name: a2, ipv4: 10.98.0.12, target: m2 }
  - { name: a3, ipv4: 10.98.0.13, target: m3 }
  - { name: b1, ipv4: 10.98.0.21, target: m2 }
  - { name: b2, ipv4: 10.98.0.22, target: m3 }
  - { name: b3, ipv4: 10.98.0.23, target: m1 }
  - { name: users, ipv4: 10.98.0.30, target: m1 }
mongodb:
  source: image
  replicaSets:
    - name: rsA
      database: products_db
      env: DB1_URL
      members:
        - { container: a1, port: 27017, priority: 3 }
        - { container: a2, port: 27017, priority: 2 }
        - { container: a3, port: 27017, priority: 1 }
    - name: rsB
      database: products_db
      env: DB2_URL
      members:
        - { container: b1, port: 27017, priority: 3 }
        - { container: b2, port: 27017, priority: 2 }
        - { container: b3, port: 27017, priority: 1 }
  standalones:
    - { name: users, container: users, port: 27017, database: auth_db, env: DB3_URL }
sharding:
  defaultShard: rsA
  ranges:
    - { from: A, to: M, replicaSet: rsA }
    - { from: N, to: Z, replicaSet: rsB }
`;

const A1 = '10.98.0.11:27017';
const A2 = '10.98.0.12:27017';
const A3 = '10.98.0.13:27017';
const B1 = '10.98.0.21:27017';
const B3 = '10.98.0.23:27017';
const USERS = '10.98.0.30:27017';

let dir: string;
let file: string;
let model: IncusModel;
let desired: DesiredState;
let password: string;
/** What happened, in order, across Incus and MongoDB: the order drain keeps is asserted on it. */
let events: string[];

/** The mongods in a container, by host. */
const mongodsIn = (container: string): string[] =>
  [
    ...desired.replicaSets.flatMap((set) => set.members.filter((one) => one.container === container)),
    ...desired.standalones.map((one) => one.process).filter((one) => one.container === container),
  ].map((one) => `${one.ip}:${one.port}`);

/** Read when the evacuation is asked for, its answer logged right after it. */
let atEvacuation: (() => string) | null = null;

/** A client over the model that logs the cluster calls and container stops and starts into `events`. */
function client(): IncusClient {
  return new IncusClient({
    run: (cmd) => {
      const args = cmd.args.filter((arg, index) => arg !== '--project' && cmd.args[index - 1] !== '--project');
      const line = args.join(' ');
      if (/^(cluster (evacuate|restore)|stop|start) /.test(line)) events.push(`incus ${line}`);
      if (line.startsWith('cluster evacuate') && atEvacuation !== null) events.push(atEvacuation());
      return model.run(cmd);
    },
  });
}

/** The fake MongoDB behind an admin that logs step-downs into `events`. */
function admin(mongo: FakeMongo): MongoAdmin {
  return {
    command: async (target, db, cmd, options) => {
      if ('replSetStepDown' in cmd) events.push(`replSetStepDown ${target.host}`);
      return mongo.network.command(target, db, cmd, options);
    },
    close: async () => undefined,
  };
}

function options(mongo: FakeMongo, member: string, extra: Partial<DrainOptions> = {}): DrainOptions {
  return {
    file,
    member,
    force: false,
    client: client(),
    ui: recordingUi(),
    stateDirFor: (project) => join(dir, 'state', project),
    admin: () => admin(mongo),
    ...extra,
  };
}

/** The fake sets as `up` leaves them, every mongod running; a container stopping or starting takes its mongods along. */
function fakeMongo(): FakeMongo {
  const mongo = new FakeMongo([
    ...desired.replicaSets.flatMap((set) => set.members.map((one) => ({ host: one.host, replSetName: set.name }))),
    { host: USERS, replSetName: null },
  ]);
  for (const set of desired.replicaSets)
    mongo.preInitiate(set.name, set.initiateConfig, { [ADMIN_USERNAME]: password });
  model.onPower = (name, running) => {
    for (const host of mongodsIn(name)) {
      if (running) mongo.start(host);
      else mongo.stop(host);
    }
  };
  return mongo;
}

/** Runs a command to its end on fake time: real file I/O (lock, secrets) gets its turns, timers fire in order. */
async function drive<T>(promise: Promise<T>): Promise<{ value?: T; error?: unknown }> {
  let outcome: { value?: T; error?: unknown } | undefined;
  promise.then(
    (value) => (outcome = { value }),
    (error: unknown) => (outcome = { error }),
  );
  while (outcome === undefined) {
    await new Promise((resolve) => setImmediate(resolve));
    if (vi.getTimerCount() > 0) await vi.advanceTimersToNextTimerAsync();
  }
  return outcome;
}

async function run<T>(promise: Promise<T>): Promise<T> {
  const { value, error } = await drive(promise);
  if (error !== undefined) throw error;
  return value as T;
}

beforeEach(async () => {
  vi.useFakeTimers({ now: Date.parse('2026-11-28T12:00:00.000Z'), toFake: ['setTimeout', 'clearTimeout', 'Date'] });
  dir = await mkdtemp(join(tmpdir(), 'distctl-drain-'));
  file = join(dir, 'topology.yaml');
  await writeFile(file, TOPOLOGY);
  model = new IncusModel({ images: ['debian12-distctl'], members: ['m1', 'm2', 'm3'] });
  desired = (await loadDeployment(file)).desired;
  const incus = new IncusClient(model);
  await applyPlan(incus, planUp(desired, await observeIncus(incus, desired)));
  password = await (
    await openSecretStore(secretsDir(join(dir, 'state', desired.project)))
  ).get(MongoSecretNames.adminPassword);
  events = [];
  atEvacuation = null;
});

afterEach(async () => {
  vi.useRealTimers();
  await rm(dir, { recursive: true, force: true });
  expect(model.unmodelled).toEqual([]);
});

const running = (): string[] =>
  desired.containers
    .map((container) => container.name)
    .filter((name) => model.instance(desired.project, name)?.status === 'Running')
    .sort();

describe('distctl drain', () => {
  it('steps down the PRIMARY on the member, waits for one elsewhere, then evacuates with --action stop', async () => {
    const mongo = fakeMongo();
    atEvacuation = () => `rsA: ${A2} is ${mongo.stateOf(A2)}`;
    const result = await run(drainCommand(options(mongo, 'm1')));
    expect(events).toEqual([
      `replSetStepDown ${A1}`,
      'incus cluster evacuate m1 --action stop --force',
      `rsA: ${A2} is PRIMARY`,
    ]);
    expect(result.exitCode).toBe(0);
    expect(result.json).toEqual({
      member: 'm1',
      alreadyDrained: false,
      replicaSets: [
        { replicaSet: 'rsA', primaryBefore: A1, steppedDown: [{ from: A1, to: A2 }], primaryAfter: A2 },
        { replicaSet: 'rsB', primaryBefore: B1, steppedDown: [], primaryAfter: B1 },
      ],
      stopped: ['a1', 'b3', 'users'],
    });
    expect(running()).toEqual(['a2', 'a3', 'b1', 'b2']);
    expect(result.human.split('\n')).toEqual([
      'drained m1',
      `  rsA: stepped down ${A1}; PRIMARY now ${A2}`,
      `  rsB: PRIMARY ${B1} is not on m1: nothing stepped down`,
      '  stopped (incus cluster evacuate --action stop): a1, b3, users',
    ]);
  });

  it('with --force, steps down again while the next PRIMARY is on the member too', async () => {
    // a2 moved next to a1 on m1: rsA's first two choices both run there.
    model.moveInstance(desired.project, 'a2', 'm1');
    const mongo = fakeMongo();
    const result = await run(drainCommand(options(mongo, 'm1', { force: true })));
    expect(events).toEqual([
      `replSetStepDown ${A1}`,
      `replSetStepDown ${A2}`,
      'incus cluster evacuate m1 --action stop --force',
    ]);
    expect((result.json as { replicaSets: unknown[] }).replicaSets[0]).toEqual({
      replicaSet: 'rsA',
      primaryBefore: A1,
      steppedDown: [
        { from: A1, to: A2 },
        { from: A2, to: A3 },
      ],
      primaryAfter: A3,
    });
    expect(result.human.split('\n')[1]).toBe(`  rsA: stepped down ${A1}, then ${A2}; PRIMARY now ${A3}`);
  });

  it('says so, and changes nothing, when the member is already evacuated', async () => {
    const mongo = fakeMongo();
    await run(drainCommand(options(mongo, 'm1')));
    events = [];
    const again = await run(drainCommand(options(mongo, 'm1')));
    expect(again.exitCode).toBe(0);
    expect(again.human).toBe('cluster member m1 is already evacuated (drained): nothing to do');
    expect(again.json).toMatchObject({ member: 'm1', alreadyDrained: true });
    expect(events).toEqual([]);
  });

  it('refuses a non-member, a lost majority and a server that is not a cluster, changing nothing', async () => {
    const mongo = fakeMongo();
    const refused = await drive(drainCommand(options(mongo, 'm9')));
    expect(refused.error).toBeInstanceOf(DistctlError);
    expect(refused.error).toMatchObject({
      code: 'CLUSTER_MEMBER_UNKNOWN',
      message: 'm9 is not a member of the cluster; nothing was changed',
      hint: "The cluster's members: m1, m2, m3.",
    });
    // rsA's a2 moved next to a1: draining m1 would stop two of rsA's three members.
    model.moveInstance(desired.project, 'a2', 'm1');
    const majority = await drive(drainCommand(options(mongo, 'm1')));
    expect(majority.error).toMatchObject({
      code: 'MEMBER_LOSS_NO_MAJORITY',
      message: 'draining m1 would leave replica set rsA without a majority; nothing was changed',
    });
    expect((majority.error as DistctlError).details[0]).toMatch(/so it would stay unwritable until `distctl undrain`$/);
    model = new IncusModel({ images: ['debian12-distctl'] });
    const lone = await drive(drainCommand(options(mongo, 'm1')));
    expect(lone.error).toMatchObject({ code: 'CLUSTER_REQUIRED' });
    expect(events).toEqual([]);
    expect(mongo.names()).not.toContain('replSetStepDown');
  });
});

describe('distctl undrain', () => {
  it('restores the member, then waits until every mongod on it is SECONDARY again', async () => {
    const mongo = fakeMongo();
    await run(drainCommand(options(mongo, 'm1')));
    events = [];
    const started = Date.now();
    /** When undrain asked each mongod (ms after it started), and what that mongod was then. */
    const asked: string[] = [];
    const result = await run(
      undrainCommand({
        ...options(mongo, 'm1'),
        admin: () => ({
          command: async (target, db, cmd, opts) => {
            asked.push(`${Date.now() - started} ${target.host} ${mongo.stateOf(target.host)}`);
            return mongo.network.command(target, db, cmd, opts);
          },
          close: async () => undefined,
        }),
      }),
    );
    expect(events).toEqual(['incus cluster restore m1 --force']);
    // mongod answers 1 s after its container starts, loads its config 0.5 s later and syncs for 3 s: SECONDARY at
    // 4.5 s. Undrain asks once a second until then, and no more.
    expect([...new Set(asked.map((line) => line.split(' ')[0]))]).toEqual([
      '0',
      '1000',
      '2000',
      '3000',
      '4000',
      '5000',
    ]);
    expect(asked.filter((line) => line.startsWith('5000 '))).toEqual([
      `5000 ${A1} SECONDARY`,
      `5000 ${B3} SECONDARY`,
      `5000 ${USERS} STARTUP`,
    ]);
    expect(result.exitCode).toBe(0);
    expect(result.json).toMatchObject({
      member: 'm1',
      restored: true,
      started: [],
      replicaSets: [
        { replicaSet: 'rsA', members: [{ host: A1, container: 'a1', state: 'SECONDARY', back: true }] },
        { replicaSet: 'rsB', members: [{ host: B3, container: 'b3', state: 'SECONDARY', back: true }] },
      ],
      ok: true,
      problems: [],
    });
    expect(running()).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'b3', 'users']);
  });

  it('exits 1 naming what is not back when the wait runs out', async () => {
    const mongo = fakeMongo();
    await run(drainCommand(options(mongo, 'm1')));
    // b3's container starts again, but its mongod does not (a unit that fails at boot).
    const original = model.onPower;
    model.onPower = (name, up) => (name === 'b3' && up ? undefined : original?.(name, up));
    const result = await run(undrainCommand(options(mongo, 'm1', { timings: { rejoinTimeoutMs: 20_000 } })));
    expect(result.exitCode).toBe(1);
    expect((result.json as { problems: string[] }).problems).toEqual([
      `${B3} in b3: not answering (connect ECONNREFUSED ${B3})`,
    ]);
    expect(result.human.split('\n').at(-1)).toBe('  not everything was back within 20 s');
  });
});

describe('failover-test --kill-member', () => {
  /** rsA and rsB with MongoDB's failover timing; the users standalone has no workload. */
  function timedSets(): { fakes: TimedReplicaSet[]; mongo: MongoAdmin; targets: TimedWriteTarget[] } {
    const credentials = { username: ADMIN_USERNAME, password };
    const fakes = desired.replicaSets.map((set) => new TimedReplicaSet(set, credentials));
    const owner = (host: string) => fakes.find((fake) => fake.set.members.some((one) => one.host === host))!;
    model.onPower = (name, up) => {
      for (const host of mongodsIn(name)) {
        if (host === USERS) continue;
        if (up) owner(host).powerOn(host);
        else owner(host).powerOff(host);
      }
    };
    return {
      fakes,
      mongo: {
        command: (target, db, cmd, opts) => owner(target.host).command(target, db, cmd, opts),
        close: async () => undefined,
      },
      targets: [],
    };
  }

  const killMember = (name: string, timed: ReturnType<typeof timedSets>, force = false) =>
    failoverTestCommand({
      file,
      sets: [],
      modes: ['crash'],
      timings: {},
      client: client(),
      ui: recordingUi(),
      stateDirFor: (project) => join(dir, 'state', project),
      killMember: name,
      force,
      mongo: {
        admin: () => timed.mongo,
        target: (set) => {
          const fake = timed.fakes.find((candidate) => candidate.set.name === set.name)!;
          timed.targets.push(new TimedWriteTarget(fake, WORKLOAD_SERVER_SELECTION_TIMEOUT_MS));
          return timed.targets.at(-1)!;
        },
      },
    });

  it('stops exactly the containers on the member, at once, and reports each set it hit', async () => {
    const timed = timedSets();
    const result = await run(killMember('m1', timed));
    expect(events).toEqual(['incus stop a1 b3 users --force', 'incus start a1 b3 users']);
    expect(result.exitCode).toBe(0);
    const reports = (result.json as { replicaSets: FailoverReport[] }).replicaSets;
    expect(
      reports.map((report) => [
        report.replicaSet,
        report.stoppedMember,
        report.stoppedMembers,
        report.newPrimary,
        report.electionSeconds,
        report.electionReason,
        report.writes.acknowledgedButLost,
        report.restart.rejoinedAs,
        report.primaryAtEnd,
      ]),
    ).toEqual([
      ['rsA', A1, [A1], A2, 10, 'electionTimeout', [], 'SECONDARY', A1],
      ['rsB', null, [B3], null, null, null, [], 'SECONDARY', B1],
    ]);
    expect(reports[0]?.writes).toMatchObject({ total: 62, acknowledged: 57, failed: 5 });
    expect(reports[1]?.writes.failed).toBe(0);
    expect(timed.targets.map((target) => target.closed)).toEqual([true, true]);
    expect(running()).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'b3', 'users']);
  });

  it('refuses a member whose loss takes a majority, naming the set, and one that runs nothing', async () => {
    // rsA's a2 moved next to a1 on m1: losing m1 leaves rsA one member of three.
    model.moveInstance(desired.project, 'a2', 'm1');
    const timed = timedSets();
    const refused = await drive(killMember('m1', timed));
    expect(refused.error).toMatchObject({
      code: 'MEMBER_LOSS_NO_MAJORITY',
      message: 'killing m1 would leave replica set rsA without a majority; nothing was changed',
    });
    expect((refused.error as DistctlError).details).toEqual([
      `rsA: 2 of its 3 voting members run on m1 (${A1} in a1, ${A2} in a2); the 1 left cannot elect a PRIMARY ` +
        'or acknowledge a w:"majority" write, so the test would show nothing but its writes failing until the ' +
        'member is back',
    ]);
    model.moveInstance(desired.project, 'a3', 'm2');
    model.moveInstance(desired.project, 'b2', 'm2');
    const empty = await drive(killMember('m3', timed));
    expect(empty.error).toMatchObject({ code: 'FAILOVER_MEMBER_EMPTY' });
    expect(events).toEqual([]);
    expect(timed.fakes.flatMap((fake) => fake.unitLog)).toEqual([]);
  });

  it('reports a stop that Incus refuses, and starts only what is stopped afterwards', async () => {
    const timed = timedSets();
    model.failOn((argv) => argv.includes('stop'), 'Error: Failed to stop instance "a1": device busy');
    const failed = await drive(killMember('m1', timed));
    expect(failed.error).toMatchObject({ code: 'INCUS_FAILED' });
    expect((failed.error as Error).message).toContain('device busy');
    // The stop was asked for once; nothing was stopped, so nothing is started.
    expect(events).toEqual(['incus stop a1 b3 users --force']);
    expect(running()).toEqual(['a1', 'a2', 'a3', 'b1', 'b2', 'b3', 'users']);
  });

  it('takes no --set or --mode', async () => {
    const refused = await drive(
      failoverTestCommand({
        file,
        sets: ['rsA'],
        modes: ['crash'],
        timings: {},
        client: client(),
        ui: recordingUi(),
        stateDirFor: (project) => join(dir, 'state', project),
        killMember: 'm1',
      }),
    );
    expect(refused.error).toMatchObject({ code: 'USAGE', message: '--kill-member takes no --set or --mode' });
    expect(events).toEqual([]);
  });
});

describe('the CLI', () => {
  it('registers drain and undrain with a MEMBER argument, and --kill-member on failover-test', async () => {
    const drain = await runCli(['drain', '--help']);
    expect(drain.code).toBe(0);
    expect(drain.stdout).toContain('Usage: distctl drain [options] <member>');
    expect(drain.stdout).toContain('--force');
    expect(drain.stdout).toContain('--timeout <seconds>');
    const undrain = await runCli(['undrain', '--help']);
    expect(undrain.stdout).toContain('Usage: distctl undrain [options] <member>');
    expect(undrain.stdout).not.toContain('--force');
    expect((await runCli(['failover-test', '--help'])).stdout).toContain('--kill-member <name>');
    const missing = await runCli(['drain', '--json']);
    expect(missing.code).toBe(2);
  });
});
