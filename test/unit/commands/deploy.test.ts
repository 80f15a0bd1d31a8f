// `distctl deploy` in-process: Incus is the in-memory model, and what runs
// inside the containers is the strict container fake behind it, reached
// through the same `incus exec` / `incus file push` argv the real run uses.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyPlan } from '../../../src/apply/index.js';
import { deployCommand } from '../../../src/commands/deploy.js';
import { hostNode } from '../../../src/deploy/node-runtime.js';
import { IncusClient } from '../../../src/incus/client.js';
import { observeIncus } from '../../../src/observe/incus.js';
import { planUp } from '../../../src/plan/index.js';
import { FakeContainers } from '../deploy/fake-container.js';
import { testDeployment, type TestDeployment } from '../support/deployment.js';
import { servicesTopology } from '../support/topologies.js';

const TOPOLOGY = servicesTopology({ project: 'model-deploy', bridge: 'dmodeldp0', subnet: '10.97.2' });

let nodeSha: string;
let t: TestDeployment;
let inside: FakeContainers;
const healthy: typeof fetch = async () => new Response('{"status":"ok"}', { status: 200 });

const deploy = (services: string[] = []) =>
  deployCommand({
    file: t.file,
    services,
    client: t.client(),
    ui: t.ui,
    stateDirFor: t.stateDirFor,
    servicesSource: join(t.dir, 'services'),
    healthTimeoutMs: 5_000,
    healthSettleMs: 0,
    fetch: healthy,
  });

/** The containers as `up` leaves them (the Incus part only). */
async function provision(): Promise<void> {
  const desired = await t.desired();
  const client = new IncusClient(t.model);
  await applyPlan(client, planUp(desired, await observeIncus(client, desired.project)));
}

beforeAll(async () => {
  nodeSha = (await hostNode()).sha256;
});

beforeEach(async () => {
  t = await testDeployment(TOPOLOGY);
  inside = new FakeContainers(() => nodeSha);
  t.model.inside = inside;
  for (const [kind, message] of [
    ['auth', 'auth service'],
    ['web', 'web service'],
  ] as const) {
    await mkdir(join(t.dir, 'services', kind), { recursive: true });
    await writeFile(join(t.dir, 'services', kind, 'main.ts'), `console.log(${JSON.stringify(message)});\n`);
  }
});

afterEach(async () => {
  await t.cleanup();
});

describe('deploy', () => {
  it('refuses before touching anything when the containers do not exist, and says to run up', async () => {
    await expect(deploy()).rejects.toMatchObject({
      code: 'CONTAINERS_NOT_READY',
      details: [
        'auth: does not exist (project model-deploy does not exist)',
        'web: does not exist (project model-deploy does not exist)',
      ],
      hint: 'Run `distctl up` first: it creates and starts the containers (and deploys the services itself).',
    });
    expect(inside.calls).toEqual([]);
  });

  it("refuses when a service's container is stopped, naming it", async () => {
    await provision();
    await t.incus('stop', 'web');
    await expect(deploy()).rejects.toMatchObject({ code: 'CONTAINERS_NOT_READY', details: ['web: stopped'] });
    expect(inside.calls).toEqual([]);
  });

  it('deploys both services through incus exec and file push; a second deploy changes nothing', async () => {
    await provision();
    const provisioned = t.model.calls.length;
    const first = await deploy();
    expect(first.exitCode).toBe(0);
    expect((first.json as { changed: string[] }).changed).toEqual(['auth-server', 'web-server']);
    expect(inside.unit('web', 'web-server.service')).toMatchObject({ active: 'active', enabled: true, starts: 1 });
    expect(inside.files.get('web:/etc/systemd/system/web-server.service')).toContain('ExecStart=');
    const pushes = t.model.calls
      .slice(provisioned)
      .filter((argv) => argv.includes('push'))
      .map((argv) => argv.join(' '));
    expect(pushes).toEqual([
      `--project model-deploy file push --create-dirs --mode 0755 -- ${process.execPath} auth/usr/local/bin/node.distctl-new`,
      `--project model-deploy file push --create-dirs --mode 0755 -- ${process.execPath} web/usr/local/bin/node.distctl-new`,
    ]);
    const again = await deploy();
    expect((again.json as { changed: string[] }).changed).toEqual([]);
    expect(inside.unit('web', 'web-server.service').starts).toBe(1);
  });

  it('deploys only the named service', async () => {
    await provision();
    const result = await deploy(['web-server']);
    expect((result.json as { changed: string[] }).changed).toEqual(['web-server']);
    expect(inside.units.has('auth:auth-server.service')).toBe(false);
  });

  it('a unit that keeps crashing fails the deploy with the container named', async () => {
    await provision();
    inside.crashing.add('web-server.service');
    await expect(deploy(['web-server'])).rejects.toMatchObject({
      code: 'SERVICE_UNHEALTHY',
      message:
        'service web-server in container web is not healthy: its process exited and systemd restarted it 1 time (unit active/running)',
      details: [
        'last journal lines of web-server.service:',
        '  Nov 28 01:00:00 web node[1]: line from web-server.service',
      ],
    });
  });
});
