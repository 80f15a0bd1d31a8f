// The provisioning engine against the live Incus daemon: plan on an empty
// project, up of a multi-container topology with static IPs, a second up with
// zero actions, drift repair, ownership conflicts, and a down that leaves no
// trace. Own project, bridges and subnets; everything removed in afterAll.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  distctl,
  incus,
  incusJson,
  integrationSkipReason,
  isContainerInterface,
  ofAnotherTestFile,
  removeTestResources,
  testImage,
} from './support.js';

const PROJECT = 'distctl-it-prov';
const BRIDGE = 'ditprov0';
const FOREIGN_BRIDGE = 'ditforeign0';
const SUBNET = '10.231.11';
const CONTAINERS = [
  { name: 'web', ip: `${SUBNET}.10` },
  { name: 'db-a', ip: `${SUBNET}.11` },
  { name: 'db-b', ip: `${SUBNET}.12` },
];

const skipReason = await integrationSkipReason('provisioning');
const dir = mkdtempSync(join(tmpdir(), 'distctl-it-prov-'));
const env = { DISTCTL_STATE_DIR: join(dir, 'state') };
const cli = (args: string[]) => distctl(args, env);

function topology(
  options: { project?: string; network?: string; subnet?: string; image?: string; containers?: typeof CONTAINERS } = {},
): string {
  const subnet = options.subnet ?? SUBNET;
  const containers = options.containers ?? CONTAINERS;
  const file = join(dir, `topology-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    [
      'version: 1',
      `project: ${options.project ?? PROJECT}`,
      `image: ${options.image ?? testImage}`,
      `network: { name: ${options.network ?? BRIDGE}, subnet: ${subnet}.0/24, gateway: ${subnet}.1 }`,
      'containers:',
      ...containers.map((container) => `  - { name: ${container.name}, ipv4: ${container.ip} }`),
      '',
    ].join('\n'),
  );
  return file;
}

interface Instance {
  name: string;
  status: string;
  config: Record<string, string>;
  state?: { network?: Record<string, { addresses: { family: string; address: string }[] }> | null } | null;
}

async function instances(): Promise<Map<string, { status: string; ipv4: string[]; owner: string | undefined }>> {
  const listed = await incusJson<Instance[]>('list', '--project', PROJECT);
  return new Map(
    listed.map((instance) => [
      instance.name,
      {
        status: instance.status,
        ipv4: (instance.state?.network?.eth0?.addresses ?? []).filter((a) => a.family === 'inet').map((a) => a.address),
        owner: instance.config['user.distctl.owner'],
      },
    ]),
  );
}

/** This file's projects and networks (the other integration files may run at the same time). */
const ours = (name: string) => name.startsWith(PROJECT) || name.startsWith('ditprov') || name === FOREIGN_BRIDGE;

/** Everything on the host except what the other integration files, running alongside, create and remove. */
async function inventory(): Promise<{ projects: string[]; networks: string[]; instances: string[] }> {
  const counted = (name: string) => !ofAnotherTestFile(name, ours);
  const projects = (await incusJson<{ name: string }[]>('project', 'list'))
    .map((project) => project.name)
    .filter(counted)
    .sort();
  const networks = (await incusJson<{ name: string; managed: boolean }[]>('network', 'list'))
    .filter((network) => counted(network.name) && !isContainerInterface(network))
    .map((network) => network.name)
    .sort();
  const all = (await incusJson<{ name: string; project: string }[]>('list', '--all-projects'))
    .filter((instance) => counted(instance.project))
    .map((instance) => `${instance.project}/${instance.name}`)
    .sort();
  return { projects, networks, instances: all };
}

describe.skipIf(skipReason !== undefined)('provisioning on a live Incus daemon', () => {
  const file = topology();
  let before: Awaited<ReturnType<typeof inventory>>;

  beforeAll(async () => {
    const leftovers = await removeTestResources(PROJECT, [BRIDGE, FOREIGN_BRIDGE]);
    expect(leftovers).toEqual([]);
    before = await inventory();
  });

  afterAll(async () => {
    const problems = await removeTestResources(PROJECT, [BRIDGE, FOREIGN_BRIDGE]);
    rmSync(dir, { recursive: true, force: true });
    expect(problems).toEqual([]);
  });

  it('plans the whole deployment on an empty project and changes nothing', async () => {
    const run = await cli(['plan', '-f', file, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const plan = run.json as { changes: number; actions: { kind: string }[]; conflicts: unknown[] };
    expect(plan.actions.map((action) => action.kind)).toEqual([
      'create-project',
      'create-network',
      'create-instance',
      'create-instance',
      'create-instance',
      'write-address',
      'write-address',
      'write-address',
      'start-instance',
      'start-instance',
      'start-instance',
    ]);
    expect(plan.conflicts).toEqual([]);
    expect(await inventory()).toEqual(before);
  });

  it('brings up three containers, each holding exactly its declared address', async () => {
    const run = await cli(['up', '-f', file, '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.events.some((event) => event.event === 'done')).toBe(true);
    const found = await instances();
    for (const container of CONTAINERS) {
      expect(found.get(container.name)).toEqual({ status: 'Running', ipv4: [container.ip], owner: PROJECT });
    }
    // raw.lxc put each address in place before the container's init ran: the first look after the starts found
    // them all, so no round of the address wait was needed.
    expect(run.events.filter((event) => String(event.message).startsWith('waiting for addresses:'))).toEqual([]);
    // ifupdown leaves that address alone (eth0 manual) and points the resolver at the bridge.
    for (const container of CONTAINERS) {
      const inside = (command: string) =>
        incus('exec', '--project', PROJECT, container.name, '--', 'sh', '-c', command).then((out) => out.trim());
      expect(await inside('cat /etc/resolv.conf')).toBe(
        `# Written by distctl: the bridge's DNS.\nnameserver ${SUBNET}.1`,
      );
      // Once booted, ifupdown has brought eth0 up without failing on the address already there.
      const booted = await inside(
        'systemctl is-system-running --wait >/dev/null || true; systemctl show -p ActiveState --value networking',
      );
      expect(booted).toBe('active');
    }
    const [network] = await incusJson<{ name: string; config: Record<string, string> }[]>('network', 'list').then(
      (networks) => networks.filter((n) => n.name === BRIDGE),
    );
    expect(network?.config).toMatchObject({
      'ipv4.address': `${SUBNET}.1/24`,
      'ipv4.nat': 'true',
      'user.distctl.owner': PROJECT,
    });
  });

  it('a second up plans zero actions and reads Incus in three calls', async () => {
    const run = await cli(['up', '-f', file, '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.json).toMatchObject({ ok: true, applied: 0, actions: [], incusCalls: 3 });
    const plan = await cli(['plan', '-f', file, '--json']);
    expect((plan.json as { changes: number }).changes).toBe(0);
  });

  it('repairs drift: a stopped container is started, a changed address is put back', async () => {
    await incus('stop', '--project', PROJECT, 'db-a');
    await incus('config', 'device', 'set', '--project', PROJECT, 'db-b', 'eth0', `ipv4.address=${SUBNET}.99`);
    const plan = await cli(['plan', '-f', file, '--json']);
    expect(
      (plan.json as { actions: { kind: string; description: string }[] }).actions.map((action) => action.description),
    ).toEqual([
      `~ container db-b: eth0 ${SUBNET}.99 → ${SUBNET}.12 on ${BRIDGE}`,
      '~ container db-a: start',
      '~ container db-b: restart (renew its DHCP lease for the new address)',
    ]);
    const run = await cli(['up', '-f', file, '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const found = await instances();
    expect(found.get('db-a')).toMatchObject({ status: 'Running', ipv4: [`${SUBNET}.11`] });
    expect(found.get('db-b')).toMatchObject({ status: 'Running', ipv4: [`${SUBNET}.12`] });
    expect((await cli(['plan', '-f', file, '--json'])).json).toMatchObject({ changes: 0 });
  });

  it('reports a distctl container that left the topology and removes it only with --prune', async () => {
    const smaller = topology({ containers: CONTAINERS.slice(0, 2) });
    const kept = await cli(['up', '-f', smaller, '--json']);
    expect(kept.code).toBe(0);
    expect(JSON.stringify(kept.events)).toContain(
      'container db-b was created by distctl but is no longer in the topology',
    );
    expect((await instances()).has('db-b')).toBe(true);
    const refused = await cli(['up', '-f', smaller, '--prune']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('Pass --yes');
    expect((await instances()).has('db-b')).toBe(true);
    const pruned = await cli(['up', '-f', smaller, '--prune', '--yes', '--json']);
    expect(pruned.code, pruned.stdout).toBe(0);
    expect((await instances()).has('db-b')).toBe(false);
    expect((await cli(['up', '-f', file, '--json'])).code).toBe(0);
  });

  it('never touches what it does not own', async () => {
    await incus('create', testImage, 'stranger', '--project', PROJECT);
    const named = topology({ containers: [...CONTAINERS, { name: 'stranger', ip: `${SUBNET}.20` }] });
    const run = await cli(['up', '-f', named]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(
      'container "stranger" exists in project distctl-it-prov but was not created by distctl',
    );
    expect(run.stderr).not.toMatch(/\n\s+at /);
    const noticed = await cli(['plan', '-f', file, '--json']);
    expect(JSON.stringify((noticed.json as { notices: unknown[] }).notices)).toContain('stranger');
    await incus('delete', '--force', '--project', PROJECT, 'stranger');
  });

  it("refuses a network name that exists but is not distctl's, and changes nothing", async () => {
    await incus('network', 'create', FOREIGN_BRIDGE, 'ipv4.address=10.231.12.1/24', 'ipv6.address=none');
    const other = topology({
      project: 'distctl-it-prov-b',
      network: FOREIGN_BRIDGE,
      subnet: '10.231.12',
      containers: [{ name: 'x', ip: '10.231.12.10' }],
    });
    const run = await cli(['up', '-f', other]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`network "${FOREIGN_BRIDGE}" exists but was not created by distctl`);
    expect((await inventory()).projects).not.toContain('distctl-it-prov-b');
    const overlapping = topology({
      project: 'distctl-it-prov-b',
      network: 'ditprovb0',
      subnet: '10.231.12',
      containers: [{ name: 'x', ip: '10.231.12.10' }],
    });
    const clash = await cli(['up', '-f', overlapping]);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toContain(`subnet 10.231.12.0/24 overlaps network "${FOREIGN_BRIDGE}"`);
    await incus('network', 'delete', FOREIGN_BRIDGE);
  });

  it('names the image and the fix when the image alias does not exist', async () => {
    const missing = topology({
      containers: [...CONTAINERS, { name: 'ghost', ip: `${SUBNET}.30` }],
      image: 'no-such-image-alias',
    });
    const run = await cli(['up', '-f', missing]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/container ghost: image not available/);
    expect(run.stderr).toContain('distctl image build');
    expect((await instances()).has('ghost')).toBe(false);
  });

  it('down removes exactly what distctl created', async () => {
    const refused = await cli(['down', '-f', file]);
    expect(refused.code).toBe(1);
    expect(existsSync(join(env.DISTCTL_STATE_DIR, PROJECT))).toBe(true);
    const run = await cli(['down', '-f', file, '--yes', '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(await inventory()).toEqual(before);
    expect(existsSync(join(env.DISTCTL_STATE_DIR, PROJECT))).toBe(false);
  });
});
