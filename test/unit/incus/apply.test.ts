import { describe, expect, it } from 'vitest';
import { applyPlan, runRetryingHostRace, waitForAddresses } from '../../../src/apply/index.js';
import { DistctlError } from '../../../src/errors/index.js';
import { IncusClient } from '../../../src/incus/client.js';
import { IncusError } from '../../../src/incus/errors.js';
import { planUp } from '../../../src/plan/index.js';
import type { CommandSpec } from '../../../src/exec/runner.js';
import { observeIncus } from '../../../src/observe/incus.js';
import { IncusModel } from '../support/incus-model.js';
import { ScriptedRunner } from '../support/scripted-runner.js';
import { emptyIncus, referenceDesired, runningInstance } from '../plan/fixtures.js';

const desired = referenceDesired();
// The reference topology builds its image (image: { build: debian/bookworm }); containers start from its alias.
const IMAGE = desired.containers[0]!.image;

describe('IncusClient', () => {
  it("puts --project before the subcommand so exec arguments stay the container's", async () => {
    const runner = new ScriptedRunner(() => ({ stdout: 'ok' }));
    const client = new IncusClient(runner);
    await client.run({ args: ['exec', 'db1', '--', 'echo', '--project'], project: 'p' });
    expect(runner.lines()).toEqual(['incus --project p exec db1 -- echo --project']);
    expect(client.calls).toBe(1);
  });

  it.each([
    [
      'Error: Get "http://unix.socket/1.0": dial unix /var/lib/incus/unix.socket: connect: permission denied',
      'permission-denied',
      'incus-admin',
    ],
    [
      "Error: You don't have the needed permissions to talk to the incus daemon (socket path: /var/lib/incus/unix.socket)",
      'permission-denied',
      'incus-admin',
    ],
    [
      'Error: Get "http://unix.socket/1.0": dial unix /var/lib/incus/unix.socket: connect: no such file or directory',
      'daemon-down',
      'waitready',
    ],
    ['Error: Image "nope" not found', 'image-not-found', 'distctl image build'],
    [
      'Error: Failed creating instance record: Add instance info to the database: This "instances" entry already exists',
      'already-exists',
      'distctl plan',
    ],
  ])('classifies %s', async (stderr, kind, hint) => {
    const client = new IncusClient(new ScriptedRunner(() => ({ exitCode: 1, stderr })));
    const error = await client.run({ args: ['list'] }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(IncusError);
    expect((error as IncusError).kind).toBe(kind);
    expect((error as IncusError).hint).toContain(hint);
    expect((error as IncusError).command).toEqual(['incus', 'list']);
  });
});

describe('applyPlan', () => {
  /** The Incus model behind a runner that counts how many calls are in flight at once. */
  function modelRunner() {
    const model = new IncusModel({ images: [IMAGE] });
    const counted = {
      model,
      inFlight: 0,
      most: 0,
      run: async (cmd: CommandSpec) => {
        counted.inFlight += 1;
        counted.most = Math.max(counted.most, counted.inFlight);
        // Yield a few turns so calls overlap, as real processes do.
        for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
        counted.inFlight -= 1;
        return model.run(cmd);
      },
    };
    return counted;
  }
  const replan = async (model: IncusModel) =>
    planUp(desired, await observeIncus(new IncusClient(model), desired.project));
  /** The positional verb of an incus argv (`create`, `start`, ...), skipping `--project NAME`. */
  const verbOf = (argv: readonly string[]) =>
    argv.find((arg, index) => !arg.startsWith('--') && argv[index - 1] !== '--project');

  it('runs project, network, then one chain per container (create before start), the chains concurrently; the re-plan is empty', async () => {
    const runner = modelRunner();
    const plan = planUp(desired, emptyIncus);
    const result = await applyPlan(new IncusClient(runner), plan, { concurrency: 3 });
    expect(result.applied).toBe(plan.actions.length);
    const calls = runner.model.calls;
    const verbs = calls.map(verbOf);
    expect(verbs.slice(0, 2)).toEqual(['project', 'network']);
    for (const container of desired.containers) {
      const create = calls.findIndex((argv) => verbOf(argv) === 'create' && argv.includes(container.name));
      const start = calls.findIndex((argv) => verbOf(argv) === 'start' && argv.includes(container.name));
      const push = calls.findIndex((argv) => argv.includes(`${container.name}/etc/network/interfaces`));
      const record = calls.findIndex((argv) => verbOf(argv) === 'config' && argv.includes(container.name));
      expect(create).toBeGreaterThan(1);
      // The static address is written into the stopped container, then recorded, then it starts.
      expect([push > create, record > push, start > record]).toEqual([true, true, true]);
      expect(runner.model.instance('distctl', container.name)?.config['raw.lxc']).toBe(
        `lxc.net.0.ipv4.address = ${container.ipv4}/24 10.10.10.255\nlxc.net.0.ipv4.gateway = 10.10.10.1\n`,
      );
      expect(runner.model.instance('distctl', container.name)?.lease).toBe(container.ipv4);
    }
    // A container starts while others are still being created: no barrier between all creates and all starts.
    expect(verbs.indexOf('start')).toBeLessThan(verbs.lastIndexOf('create'));
    expect(runner.most).toBe(3);
    expect(await replan(runner.model)).toEqual({
      project: 'distctl',
      remote: null,
      actions: [],
      conflicts: [],
      notices: [],
    });
  });

  it('a failing container chain stops there, the other chains finish, and the next run completes it', async () => {
    const runner = modelRunner();
    runner.model.failOn(
      (argv) => argv.includes('create') && argv.includes('db2'),
      'Error: Failed instance creation: disk full',
    );
    const plan = planUp(desired, emptyIncus);
    const error = await applyPlan(new IncusClient(runner), plan).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).message).toBe(
      `container db2: \`incus --project distctl create -- ${IMAGE} db2\` failed (exit 1): Error: Failed instance creation: disk full`,
    );
    expect((error as DistctlError).hint).toContain('run `distctl up` again to resume');
    expect(runner.model.calls.filter((argv) => argv.includes('create') && argv.includes(IMAGE))).toHaveLength(5);
    const started = runner.model.calls.filter((argv) => verbOf(argv) === 'start').map((argv) => argv.at(-1) ?? '');
    expect(started.sort()).toEqual(['auth-server', 'db1', 'db3', 'web-server']);
    const rest = await replan(runner.model);
    expect(rest.actions.map((action) => action.kind)).toEqual(['create-instance', 'write-address', 'start-instance']);
    await applyPlan(new IncusClient(runner.model), rest);
    expect((await replan(runner.model)).actions).toEqual([]);
  });
});

describe('waitForAddresses', () => {
  const containers = desired.containers.slice(0, 2);

  it('polls with one incus list per round until every container holds its address', async () => {
    let round = 0;
    const runner = new ScriptedRunner(() => {
      round += 1;
      const instances = containers.map((container) =>
        round < 3
          ? runningInstance(desired, container.name, {
              state: { status: 'Running', network: { eth0: { addresses: [] } } },
            })
          : runningInstance(desired, container.name),
      );
      return { stdout: JSON.stringify(instances) };
    });
    const seen: string[] = [];
    await waitForAddresses(new IncusClient(runner), 'distctl', containers, {
      sleep: async () => undefined,
      onProgress: (event) => seen.push(event.message),
    });
    expect(runner.calls).toHaveLength(3);
    expect(seen[0]).toContain('auth-server (Running, no IPv4 on eth0 yet)');
  });

  it('times out naming each container, what it wanted and what Incus reports', async () => {
    let now = 0;
    const runner = new ScriptedRunner(() => ({
      stdout: JSON.stringify([
        runningInstance(desired, 'auth-server'),
        runningInstance(desired, 'web-server', {
          state: {
            status: 'Running',
            network: {
              eth0: { addresses: [{ family: 'inet', address: '10.10.10.200', netmask: '24', scope: 'global' }] },
            },
          },
        }),
      ]),
    }));
    const error = await waitForAddresses(new IncusClient(runner), 'distctl', containers, {
      timeoutMs: 5_000,
      now: () => now,
      sleep: async (ms) => void (now += ms),
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).message).toBe('web-server did not report the declared IPv4 address within 5 s');
    expect((error as DistctlError).details).toEqual([
      'web-server: want 10.10.10.11, Incus reports Running, eth0 10.10.10.200',
    ]);
  });
});

describe('a bridge create refused by a host race', () => {
  const race =
    'Error: Failed to delete bridge children interfaces: Failed to run: ip -d -j link show veth30677599: ' +
    'exit status 1 (Device "veth30677599" does not exist.)';
  const call = { args: ['network', 'create', '--type', 'bridge', '--', 'br9', 'ipv4.address=10.9.0.1/24'] };

  it('is tried again, a quarter second apart, until Incus creates the bridge', async () => {
    const model = new IncusModel();
    model.failOn((argv) => argv[0] === 'network' && argv[1] === 'create', race, 2);
    const pauses: number[] = [];
    await runRetryingHostRace(new IncusClient(model), call, async (ms) => void pauses.push(ms));
    expect(pauses).toEqual([250, 250]);
    expect(model.calls.filter((argv) => argv[1] === 'create')).toHaveLength(3);
    expect((await observeIncus(new IncusClient(model), 'p')).networks.map((network) => network.name)).toContain('br9');
  });

  it('gives up after three retries, and never retries another refusal or another call', async () => {
    const model = new IncusModel();
    model.failOn((argv) => argv[0] === 'network', race, 10);
    const pauses: number[] = [];
    const pause = async (ms: number) => void pauses.push(ms);
    await expect(runRetryingHostRace(new IncusClient(model), call, pause)).rejects.toBeInstanceOf(DistctlError);
    expect(pauses).toHaveLength(3);
    const other = new IncusModel();
    other.failOn(() => true, 'Error: The network already exists', 1);
    await expect(runRetryingHostRace(new IncusClient(other), call, pause)).rejects.toBeInstanceOf(DistctlError);
    const set = { args: ['network', 'set', '--', 'br9', 'ipv4.nat=false'] };
    const third = new IncusModel();
    third.failOn(() => true, race, 1);
    await expect(runRetryingHostRace(new IncusClient(third), set, pause)).rejects.toBeInstanceOf(DistctlError);
    expect(pauses).toHaveLength(3);
  });
});
