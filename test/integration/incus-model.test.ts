// The unit tier's Incus model against the live daemon: the same session of
// incus calls runs on both, and the model must answer in the daemon's shapes
// (keys and JSON types) and refuse with the daemon's words. The recordings
// the model copies (test/fixtures/incus/) are re-checked against a fresh
// recording too, so neither can drift from Incus unnoticed.
// DISTCTL_RECORD_INCUS=1 rewrites the fixtures from this run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExecaRunner } from '../../src/exec/runner.js';
import { IncusModel, FIXTURE_DIR, fixture } from '../unit/support/incus-model.js';
import { runScenario, SCENARIO, shapeDifferences, type ScenarioRecording } from '../unit/support/incus-scenario.js';
import { incusJson, integrationSkipReason, removeTestResources, testImage } from './support.js';

const skipReason = await integrationSkipReason('incus model');
const runner = new ExecaRunner();

async function settleLive(project: string, name: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  for (;;) {
    const listed = await incusJson<
      { name: string; state?: { network?: Record<string, { addresses: { family: string }[] }> | null } }[]
    >('list', '--project', project);
    const addresses = listed.find((instance) => instance.name === name)?.state?.network?.eth0?.addresses ?? [];
    if (addresses.some((address) => address.family === 'inet')) return;
    if (Date.now() > deadline) throw new Error(`${name} got no IPv4 address within 90 s`);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

describe.skipIf(skipReason !== undefined || testImage !== SCENARIO.image)(
  'the Incus model answers like the live daemon',
  () => {
    let live: ScenarioRecording;
    let model: ScenarioRecording;

    beforeAll(async () => {
      expect(await removeTestResources(SCENARIO.project, [SCENARIO.bridge])).toEqual([]);
      live = await runScenario({
        run: (args, input) =>
          runner.run({ bin: 'incus', args, ...(input === undefined ? {} : { input }), timeoutMs: 120_000 }),
        settle: settleLive,
      });
      if (process.env.DISTCTL_RECORD_INCUS === '1') {
        mkdirSync(FIXTURE_DIR, { recursive: true });
        for (const [name, value] of Object.entries(live.json))
          writeFileSync(join(FIXTURE_DIR, `${name}.json`), `${JSON.stringify(value, null, 2)}\n`);
        writeFileSync(join(FIXTURE_DIR, 'refusals.json'), `${JSON.stringify(live.refusals, null, 2)}\n`);
      }
      const incus = new IncusModel({ images: [SCENARIO.image] });
      model = await runScenario({
        run: (args, input) => incus.run({ bin: 'incus', args, ...(input === undefined ? {} : { input }) }),
        settle: async () => undefined,
      });
    });

    afterAll(async () => {
      expect(await removeTestResources(SCENARIO.project, [SCENARIO.bridge])).toEqual([]);
    });

    it('the recorded fixtures still have the shapes the daemon answers with', () => {
      for (const [name, value] of Object.entries(live.json))
        expect(shapeDifferences(value, fixture(name)), name).toEqual([]);
    });

    it("the model answers every listing and query in the daemon's shapes", () => {
      expect(Object.keys(model.json).sort()).toEqual(Object.keys(live.json).sort());
      for (const [name, value] of Object.entries(live.json))
        expect(shapeDifferences(value, model.json[name]), name).toEqual([]);
    });

    it('the model refuses what the daemon refuses, with its exit code and message', () => {
      expect(model.refusals).toEqual(live.refusals);
    });

    it('the model reports the values distctl reads as the daemon does', () => {
      const read = (recording: ScenarioRecording, name: string) => {
        const instance = recording.json[name] as {
          status: string;
          config: Record<string, string>;
          devices: unknown;
          state: {
            status: string;
            network: Record<string, { addresses: { family: string; address: string }[] }> | null;
          };
        };
        return {
          status: instance.status,
          owner: instance.config['user.distctl.owner'],
          rawLxc: instance.config['raw.lxc'],
          staticRecord: instance.config['user.distctl.static-ipv4'],
          devices: instance.devices,
          state: instance.state.status,
          inet: (instance.state.network?.eth0?.addresses ?? [])
            .filter((address) => address.family === 'inet')
            .map((address) => address.address),
        };
      };
      for (const name of ['instance-stopped', 'instance-running', 'instance-frozen', 'instance-renewed'])
        expect(read(model, name), name).toEqual(read(live, name));
      const network = (recording: ScenarioRecording) => {
        const found = recording.json['network-bridge'] as {
          config: Record<string, string>;
          used_by: string[];
          managed: boolean;
          type: string;
        };
        return { config: found.config, used_by: found.used_by, managed: found.managed, type: found.type };
      };
      expect(network(model)).toEqual(network(live));
      const project = (recording: ScenarioRecording) =>
        recording.json['project-owned'] as { config: Record<string, string>; used_by: string[] };
      expect(project(model)).toEqual(project(live));
    });
  },
);
