// What status observes beyond unit states, on live containers: resource figures
// from the instance state of the one `incus list` call, and whether a declared
// port is really served (the listeners read in the same exec as the units).
// Own project; the containers have no network device at all, so nothing here
// sends a packet anywhere. Everything is removed in afterAll, also on failure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecaRunner } from '../../src/exec/runner.js';
import { IncusClient } from '../../src/incus/client.js';
import { IncusContainerOps } from '../../src/incus/container-ops.js';
import { instanceResources, portServed } from '../../src/observe/resources.js';
import { probeContainer } from '../../src/observe/units.js';
import { incus, integrationSkipReason, removeTestResources, testImage } from './support.js';

const PROJECT = 'distctl-it-observe';
const skip = await integrationSkipReason('observability');
const client = new IncusClient(new ExecaRunner());

async function waitForSystemd(container: string): Promise<void> {
  for (let attempt = 0; attempt < 60; attempt += 1) {
    const state = await new ExecaRunner().run({
      bin: 'incus',
      args: ['exec', container, '--project', PROJECT, '--', 'systemctl', 'is-system-running'],
      timeoutMs: 10_000,
    });
    if (/^(running|degraded)/.test(state.stdout.trim())) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`systemd in ${container} did not finish starting`);
}

describe.skipIf(skip !== undefined)('observability on live containers', () => {
  beforeAll(async () => {
    await removeTestResources(PROJECT, []);
    await incus('project', 'create', PROJECT, '-c', 'features.images=false', '-c', 'features.profiles=false');
    await incus('launch', testImage, 'obs-a', '--project', PROJECT, '-c', 'limits.memory=256MiB');
    await incus('init', testImage, 'obs-b', '--project', PROJECT);
    await waitForSystemd('obs-a');
    // web-server: a socket listening on all addresses; mongod-27017: active, but nothing listens on 27017.
    await incus(
      'exec',
      'obs-a',
      '--project',
      PROJECT,
      '--',
      'systemd-run',
      '--unit=web-server.service',
      'systemd-socket-activate',
      '-l',
      '0.0.0.0:3000',
      'cat',
    );
    await incus(
      'exec',
      'obs-a',
      '--project',
      PROJECT,
      '--',
      'systemd-run',
      '--unit=mongod-27017.service',
      'sleep',
      'infinity',
    );
  });

  afterAll(async () => {
    expect(await removeTestResources(PROJECT, [])).toEqual([]);
  });

  it('a running container reports CPU, memory against its limit and processes; a stopped one reports nothing', async () => {
    const instances = new Map((await client.listInstances(PROJECT)).map((instance) => [instance.name, instance]));
    const running = instanceResources(instances.get('obs-a'));
    expect(running).not.toBeNull();
    expect(running?.memoryLimitBytes).toBe(256 * 1024 * 1024);
    expect(running?.cpuSeconds).toBeGreaterThan(0);
    expect(running?.memoryBytes).toBeGreaterThan(1024 * 1024);
    expect(running?.memoryBytes).toBeLessThan(256 * 1024 * 1024);
    // systemd, journald, the two transient units and more: a container with only init would show 1.
    expect(running?.processes).toBeGreaterThan(3);
    expect(instanceResources(instances.get('obs-b'))).toBeNull();
  });

  it('one exec reads the units and tells a served port from an active unit that serves nothing', async () => {
    const probe = await probeContainer(new IncusContainerOps(client, PROJECT), 'obs-a', [
      'web-server.service',
      'mongod-27017.service',
    ]);
    expect(probe.units.map((unit) => [unit.name, unit.active])).toEqual([
      ['web-server.service', 'active'],
      ['mongod-27017.service', 'active'],
    ]);
    expect(probe.listeners).not.toBeNull();
    expect(portServed(probe.listeners ?? [], 3000, '10.0.0.2')).toBe(true);
    expect(portServed(probe.listeners ?? [], 27017, '10.0.0.2')).toBe(false);
  });
});
