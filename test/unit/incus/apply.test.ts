import { describe, expect, it } from 'vitest';
import { applyPlan, waitForAddresses } from '../../../src/apply/index.js';
import { DistctlError } from '../../../src/errors/index.js';
import { IncusClient } from '../../../src/incus/client.js';
import { IncusError } from '../../../src/incus/errors.js';
import { planUp } from '../../../src/plan/index.js';
import { ScriptedRunner } from '../support/scripted-runner.js';
import { emptyIncus, referenceDesired, runningInstance } from '../plan/fixtures.js';

const desired = referenceDesired();

describe('IncusClient', () => {
  it('puts --project before the subcommand so exec arguments stay the container\'s', async () => {
    const runner = new ScriptedRunner(() => ({ stdout: 'ok' }));
    const client = new IncusClient(runner);
    await client.run({ args: ['exec', 'db1', '--', 'echo', '--project'], project: 'p' });
    expect(runner.lines()).toEqual(['incus --project p exec db1 -- echo --project']);
    expect(client.calls).toBe(1);
  });

  it.each([
    ['Error: Get "http://unix.socket/1.0": dial unix /var/lib/incus/unix.socket: connect: permission denied', 'permission-denied', 'incus-admin'],
    ["Error: You don't have the needed permissions to talk to the incus daemon (socket path: /var/lib/incus/unix.socket)", 'permission-denied', 'incus-admin'],
    ['Error: Get "http://unix.socket/1.0": dial unix /var/lib/incus/unix.socket: connect: no such file or directory', 'daemon-down', 'waitready'],
    ['Error: Image "nope" not found', 'image-not-found', 'distctl image build'],
    ['Error: Failed creating instance record: Add instance info to the database: This "instances" entry already exists', 'already-exists', 'distctl plan'],
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
  it('runs phases in order and the containers of a phase concurrently', async () => {
    let inFlight = 0;
    let most = 0;
    const runner = new ScriptedRunner(async () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight -= 1;
      return {};
    });
    const plan = planUp(desired, emptyIncus);
    const result = await applyPlan(new IncusClient(runner), plan, { concurrency: 3 });
    expect(result.applied).toBe(plan.actions.length);
    const verbs = runner.calls.map((call) => call.args.find((arg) => !arg.startsWith('--') && arg !== 'distctl'));
    expect(verbs.slice(0, 2)).toEqual(['project', 'network']);
    expect(verbs.indexOf('start')).toBeGreaterThan(verbs.lastIndexOf('create'));
    expect(most).toBe(3);
  });

  it('stops after the failing phase, names the container and command, and keeps what succeeded', async () => {
    const runner = new ScriptedRunner((cmd) => (cmd.args.includes('db2') && cmd.args.includes('create') ? { exitCode: 1, stderr: 'Error: Failed instance creation: disk full' } : {}));
    const plan = planUp(desired, emptyIncus);
    const error = await applyPlan(new IncusClient(runner), plan).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).message).toContain(`container db2: \`incus --project distctl create ${desired.containers[0]!.image} db2\` failed (exit 1): Error: Failed instance creation: disk full`);
    expect((error as DistctlError).hint).toContain('run `distctl up` again to resume');
    expect(runner.lines().filter((line) => line.includes(' create distctl-debian-'))).toHaveLength(5);
    expect(runner.lines().some((line) => line.includes(' start '))).toBe(false);
  });
});

describe('waitForAddresses', () => {
  const containers = desired.containers.slice(0, 2);

  it('polls with one incus list per round until every container holds its address', async () => {
    let round = 0;
    const runner = new ScriptedRunner(() => {
      round += 1;
      const instances = containers.map((container) => (round < 3 ? runningInstance(desired, container.name, { state: { status: 'Running', network: { eth0: { addresses: [] } } } }) : runningInstance(desired, container.name)));
      return { stdout: JSON.stringify(instances) };
    });
    const seen: string[] = [];
    await waitForAddresses(new IncusClient(runner), 'distctl', containers, { sleep: async () => undefined, onProgress: (event) => seen.push(event.message) });
    expect(runner.calls).toHaveLength(3);
    expect(seen[0]).toContain('auth-server (Running, no IPv4 on eth0 yet)');
  });

  it('times out naming each container, what it wanted and what Incus reports', async () => {
    let now = 0;
    const runner = new ScriptedRunner(() => ({ stdout: JSON.stringify([runningInstance(desired, 'auth-server'), runningInstance(desired, 'web-server', { state: { status: 'Running', network: { eth0: { addresses: [{ family: 'inet', address: '10.10.10.200', netmask: '24', scope: 'global' }] } } } })]) }));
    const error = await waitForAddresses(new IncusClient(runner), 'distctl', containers, { timeoutMs: 5_000, now: () => now, sleep: async (ms) => void (now += ms) }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).message).toBe('web-server did not report the declared IPv4 address within 5 s');
    expect((error as DistctlError).details).toEqual(['web-server: want 10.10.10.11, Incus reports Running, eth0 10.10.10.200']);
  });
});
