// The in-memory Incus model against the answers recorded from the live daemon
// (test/fixtures/incus/): same shapes, same refusals. The integration tier
// re-records them (test/integration/incus-model.test.ts), so a model that
// drifts from Incus fails here, and fixtures that drift from Incus fail there.
import { describe, expect, it } from 'vitest';
import { testDeployment } from '../support/deployment.js';
import { IncusModel, IncusModelUnsupported, fixture } from '../support/incus-model.js';
import { runScenario, SCENARIO, shapeDifferences } from '../support/incus-scenario.js';

async function modelRecording() {
  const incus = new IncusModel({ images: [SCENARIO.image] });
  return runScenario({
    run: (args, input) => incus.run({ bin: 'incus', args, ...(input === undefined ? {} : { input }) }),
    settle: async () => undefined,
  });
}

describe('the Incus model', () => {
  it('answers every listing and query in the recorded shapes', async () => {
    const recording = await modelRecording();
    for (const [name, value] of Object.entries(recording.json))
      expect(shapeDifferences(fixture(name), value), name).toEqual([]);
  });

  it('refuses what the daemon refused, with its exit code and message', async () => {
    expect((await modelRecording()).refusals).toEqual(fixture('refusals'));
  });

  it('notices a key missing from an answer', () => {
    const running = fixture<Record<string, unknown>>('instance-running');
    const { state: _state, ...withoutState } = running;
    expect(shapeDifferences(running, withoutState)).toEqual(['$.state: missing']);
    expect(shapeDifferences(running, { ...running, status: 103 })).toEqual(['$.status: string expected, number found']);
  });

  it('throws on argv it does not model instead of guessing', async () => {
    const incus = new IncusModel();
    await expect(incus.run({ bin: 'incus', args: ['list'] })).rejects.toThrow(IncusModelUnsupported);
    await expect(incus.run({ bin: 'incus', args: ['network', 'create', 'br0', '--type', 'macvlan'] })).rejects.toThrow(
      'argv not modelled: incus network create br0 --type macvlan',
    );
    await expect(incus.run({ bin: 'lxc', args: ['list'] })).rejects.toThrow(IncusModelUnsupported);
  });

  it('hands out the reserved address at start, and keeps the old lease until a restart', async () => {
    const incus = new IncusModel({ images: ['img'] });
    await incus.incus(['project', 'create', 'p']);
    await incus.incus(['network', 'create', 'br0', '--type', 'bridge', 'ipv4.address=10.9.0.1/24']);
    await incus.incus(
      ['--project', 'p', 'create', 'img', 'c'],
      'devices:\n  eth0: {type: nic, name: eth0, network: br0, ipv4.address: 10.9.0.5}\n',
    );
    const inet = async () => {
      const [instance] = JSON.parse(await incus.incus(['--project', 'p', 'list', '--format', 'json'])) as {
        state: { network: { eth0: { addresses: { family: string; address: string }[] } } | null };
      }[];
      return (instance?.state.network?.eth0.addresses ?? [])
        .filter((address) => address.family === 'inet')
        .map((address) => address.address);
    };
    expect(await inet()).toEqual([]);
    await incus.incus(['--project', 'p', 'start', 'c']);
    expect(await inet()).toEqual(['10.9.0.5']);
    await incus.incus(['--project', 'p', 'config', 'device', 'set', 'c', 'eth0', 'ipv4.address=10.9.0.6']);
    expect(await inet()).toEqual(['10.9.0.5']);
    await incus.incus(['--project', 'p', 'restart', 'c']);
    expect(await inet()).toEqual(['10.9.0.6']);
    await incus.incus(['--project', 'p', 'config', 'device', 'set', 'c', 'eth0', 'ipv4.address=10.8.0.6']);
    await incus.incus(['--project', 'p', 'restart', 'c']);
    expect(await inet()).toEqual(['10.9.0.200']);
  });

  it('fails the calls it was told to fail, then recovers', async () => {
    const incus = new IncusModel();
    incus.failOn((argv) => argv[0] === 'project', 'Error: disk full');
    expect(await incus.run({ bin: 'incus', args: ['project', 'create', 'p'] })).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'Error: disk full\n',
      timedOut: false,
    });
    expect((await incus.run({ bin: 'incus', args: ['project', 'create', 'p'] })).exitCode).toBe(0);
    expect(incus.inventory().projects).toEqual(['default', 'p']);
  });
});

describe('the Incus model and the end of options', () => {
  it('takes the names after `--` as positional, and refuses a flag placed after it', async () => {
    const incus = new IncusModel();
    await incus.incus(['project', 'create', '--', 'p']);
    expect(incus.inventory().projects).toEqual(['default', 'p']);
    await expect(
      incus.run({ bin: 'incus', args: ['network', 'create', '--', 'br0', '--type', 'bridge'] }),
    ).rejects.toThrow(IncusModelUnsupported);
  });
});

describe('the test harness', () => {
  it("fails a test whose command swallowed the model's refusal to guess", async () => {
    const t = await testDeployment();
    await t
      .client()
      .run({ args: ['list'] })
      .catch(() => null);
    await expect(t.cleanup()).rejects.toThrow(
      'argv the Incus model does not know was run:\nIncusModel: argv not modelled: incus list',
    );
  });
});
