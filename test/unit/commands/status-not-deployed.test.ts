import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createUi } from '../../../src/cli/ui.js';
import { EXIT_NOT_DEPLOYED, statusCommand } from '../../../src/commands/status.js';
import { IncusClient } from '../../../src/incus/client.js';
import { IncusContainerOps } from '../../../src/incus/container-ops.js';
import type { IncusInstance } from '../../../src/incus/types.js';
import type { MongoAdmin, MongoTarget } from '../../../src/mongo/admin.js';
import { observeDeployment } from '../../../src/observe/deployment.js';
import { ScriptedRunner } from '../support/scripted-runner.js';
import { convergedState, referenceDesired, runningInstance } from '../plan/fixtures.js';

const ui = createUi({ json: false, isTty: false, noColor: true, ci: true, columns: 0 });
const desired = referenceDesired();
const project = {
  name: desired.project,
  description: '',
  config: { 'user.distctl.owner': desired.project },
  used_by: [],
};

let root = '';
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'distctl-status-'));
});
afterEach(async () => {
  vi.unstubAllGlobals();
  await rm(root, { recursive: true, force: true });
});

/** incus answering the three reads from fixed data; anything else (exec, create...) fails the test. */
function incus(projects: unknown[], instances: IncusInstance[]): ScriptedRunner {
  return new ScriptedRunner((cmd) => {
    const line = [cmd.bin, ...cmd.args].join(' ');
    if (line === 'incus project list --format json') return { stdout: JSON.stringify(projects) };
    if (line === 'incus network list --format json') return { stdout: '[]' };
    if (line === `incus --project ${desired.project} list --format json`) return { stdout: JSON.stringify(instances) };
    return undefined;
  });
}

async function status(runner: ScriptedRunner) {
  const fetchSpy = vi.fn(() => Promise.reject(new Error('no traffic expected')));
  vi.stubGlobal('fetch', fetchSpy);
  const stateDir = join(root, 'state', desired.project);
  const result = await statusCommand({
    file: join(import.meta.dirname, '../../../topology.yaml'),
    client: new IncusClient(runner),
    ui,
    stateDirFor: () => stateDir,
    watchSeconds: null,
    write: () => undefined,
  });
  return { result, fetchSpy, stateDir };
}

describe('distctl status of a topology that is not deployed', () => {
  it('says "not deployed — run `distctl up`" with its own exit code, after three incus reads at once and no other traffic or write', async () => {
    const runner = incus([], []);
    const { result, fetchSpy, stateDir } = await status(runner);
    expect(result.exitCode).toBe(EXIT_NOT_DEPLOYED);
    expect(EXIT_NOT_DEPLOYED).toBe(3);
    expect(result.human).toBe(`project ${desired.project}: not deployed — run \`distctl up\``);
    expect(result.json).toMatchObject({ ok: false, deployed: false, project: desired.project });
    expect(runner.lines()).toEqual([
      'incus project list --format json',
      'incus network list --format json',
      `incus --project ${desired.project} list --format json`,
    ]);
    expect(fetchSpy).not.toHaveBeenCalled();
    // Read-only: neither the state directory nor the secret store is created.
    expect(existsSync(stateDir)).toBe(false);
    expect(existsSync(join(root, 'state'))).toBe(false);
  });

  it('a project whose containers are gone is deployed and differs: each missing thing said once, nothing probed', async () => {
    const runner = incus([project], []);
    const { result, fetchSpy } = await status(runner);
    expect(result.exitCode).toBe(1);
    expect((result.json as { differences: string[] }).differences).toEqual([
      'network incusbr0 does not exist',
      ...desired.containers.map((container) => `container ${container.name} is missing`),
    ]);
    expect(runner.lines()).toHaveLength(3);
    expect(fetchSpy).not.toHaveBeenCalled();
  });
});

describe('observeDeployment of a partial deployment', () => {
  it('probes only services and mongods in containers of ours that exist and run', async () => {
    // web-server runs; db1 runs; auth-server is stopped; db2 is someone else's; db3 is missing.
    const instances = [
      runningInstance(desired, 'web-server'),
      runningInstance(desired, 'db1'),
      runningInstance(desired, 'auth-server', { status: 'Stopped' }),
      runningInstance(desired, 'db2', { config: {} }),
    ];
    const runner = new ScriptedRunner((cmd) => (cmd.args.includes('exec') ? { stdout: '' } : undefined));
    const fetched: string[] = [];
    const fetchFake = ((url: string) => {
      fetched.push(url);
      return Promise.resolve(new Response('{"ok":true}', { status: 200 }));
    }) as unknown as typeof fetch;
    const asked: string[] = [];
    const mongo: MongoAdmin = {
      command: (target: MongoTarget) => {
        asked.push(target.host);
        return Promise.reject(new Error(`${target.host}: connection refused`));
      },
      close: () => Promise.resolve(),
    };
    const client = new IncusClient(runner);
    const observed = { ...convergedState(desired), instances };
    const result = await observeDeployment(desired, {
      client,
      ops: new IncusContainerOps(client, desired.project),
      mongo,
      observed,
      fetch: fetchFake,
    });

    const web = desired.services.find((service) => service.name === 'web-server')!;
    expect(fetched.sort()).toEqual([`${web.url}/health`, `${web.url}/ready`]);
    const db1 = desired.replicaSets.find((set) => set.name === 'rsA')!.members.map((member) => member.host);
    expect([...new Set(asked)].sort()).toEqual([...db1].sort());
    expect(result.services.find((service) => service.name === 'auth-server')?.health).toEqual({
      ok: false,
      status: null,
      error: 'container not running',
    });
    const rsB = result.databases.replicaSets.find((set) => set.name === 'rsB');
    expect(rsB).toMatchObject({ reachable: false });
    expect(rsB && !rsB.reachable ? rsB.error : '').toContain('container db2 is not running');
    // No incus call beyond one `systemctl show` per running container of ours with units.
    expect(runner.lines().every((line) => line.includes(' exec '))).toBe(true);
  });
});
