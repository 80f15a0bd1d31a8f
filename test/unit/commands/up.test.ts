// `distctl up` in-process on the in-memory Incus model: every run ends with
// observe → plan, which must be empty, and each kind of drift `up` claims to
// repair (or report) is made by hand with incus argv first.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { upCommand } from '../../../src/commands/up.js';
import { DistctlError } from '../../../src/errors/index.js';
import { describeAction } from '../../../src/plan/calls.js';
import { PROVISION_TOPOLOGY, testDeployment, type TestDeployment } from '../support/deployment.js';

let t: TestDeployment;

beforeEach(async () => {
  t = await testDeployment();
});

afterEach(async () => {
  await t.cleanup();
});

const up = (options: { prune?: boolean; confirm?: boolean; addressTimeoutMs?: number } = {}) =>
  upCommand({
    file: t.file,
    prune: options.prune ?? false,
    client: t.client(),
    ui: t.ui,
    confirm: async () => options.confirm ?? true,
    addressTimeoutMs: options.addressTimeoutMs ?? 0,
    concurrency: 4,
    stateDirFor: t.stateDirFor,
  });

/** What `up` reported it changed. */
const actions = (result: Awaited<ReturnType<typeof up>>) => (result.json as { actions: string[] }).actions;

/** The calls since `from` that change something (everything but the three reads). */
const writesSince = (from: number) =>
  t.model.calls
    .slice(from)
    .filter((argv) => !argv.includes('--format'))
    .map((argv) => argv.join(' '));

/** The eth0 addresses a container holds now. */
async function inet(name: string): Promise<string[]> {
  const listed = JSON.parse(await t.incus('list', '--format', 'json')) as {
    name: string;
    state: { network: Record<string, { addresses: { family: string; address: string }[] }> | null };
  }[];
  return (listed.find((instance) => instance.name === name)?.state.network?.eth0?.addresses ?? [])
    .filter((a) => a.family === 'inet')
    .map((a) => a.address);
}

/** Brings the deployment up once and checks it converged; the drift tests start from here. */
async function converged(): Promise<void> {
  const result = await up();
  expect(result.exitCode).toBe(0);
  expect((await t.replan()).actions).toEqual([]);
}

describe('up on an empty Incus', () => {
  it('creates everything, reports each stage, and a re-plan is empty', async () => {
    const result = await up();
    expect(result.exitCode).toBe(0);
    expect((result.json as { stages: unknown[] }).stages).toEqual([
      { stage: 'containers', status: 'ok', summary: '3 running with their declared addresses (12 changes)' },
      { stage: 'databases', status: 'skipped', summary: 'nothing declared' },
      { stage: 'services', status: 'skipped', summary: 'nothing declared' },
    ]);
    expect(await t.replan()).toEqual({ project: 'model-unit', remote: null, actions: [], conflicts: [], notices: [] });
    expect(t.model.inventory()).toEqual({
      projects: ['default', 'model-unit'],
      networks: ['dmodel0'],
      instances: ['model-unit/db-a', 'model-unit/db-b', 'model-unit/web'],
    });
    expect(await inet('db-b')).toEqual(['10.97.0.12']);
    expect(t.model.instance('model-unit', 'web')?.devices['expose-3000']).toEqual({
      type: 'proxy',
      listen: 'tcp:127.0.0.1:3000',
      connect: 'tcp:127.0.0.1:3000',
      bind: 'host',
    });
  });

  it('a second up changes nothing: three reads, no write', async () => {
    await converged();
    const from = t.model.calls.length;
    const again = await up();
    expect(again.exitCode).toBe(0);
    expect(actions(again)).toEqual([]);
    expect(t.model.calls.slice(from).map((argv) => argv.join(' '))).toEqual([
      'project list --format json',
      'network list --format json',
      '--project model-unit list --format json',
    ]);
  });
});

describe('up repairs each kind of drift, and the re-plan after it is empty', () => {
  beforeEach(converged);

  it.each([
    ['listen', 'listen=tcp:127.0.0.1:3999', 'tcp:127.0.0.1:3999 → tcp:127.0.0.1:3000'],
    ['connect', 'connect=tcp:127.0.0.1:8080', 'tcp:127.0.0.1:3000 → tcp:127.0.0.1:8080'],
  ])('a proxy whose %s drifted is set back', async (_what, drift, from) => {
    await t.incus('config', 'device', 'set', 'web', 'expose-3000', drift);
    const result = await up();
    expect(actions(result)).toEqual([
      `~ proxy web/expose-3000: was ${from}, now tcp:127.0.0.1:3000 → tcp:127.0.0.1:3000`,
    ]);
    expect(t.model.instance('model-unit', 'web')?.devices['expose-3000']).toEqual({
      type: 'proxy',
      listen: 'tcp:127.0.0.1:3000',
      connect: 'tcp:127.0.0.1:3000',
      bind: 'host',
    });
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a removed proxy is added again', async () => {
    await t.incus('config', 'device', 'remove', 'web', 'expose-3000');
    expect(actions(await up())).toEqual(['+ proxy tcp:127.0.0.1:3000 on the host → web tcp:127.0.0.1:3000']);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a NIC moved to another network is put back on the bridge, and the container gets its address again', async () => {
    t.model.flushing.add('debian12-distctl'); // its DHCP client, not raw.lxc, decides the address
    await t.model.incus(['network', 'create', 'dother0', '--type', 'bridge', 'ipv4.address=10.96.0.1/24']);
    await t.incus('config', 'device', 'remove', 'db-a', 'eth0');
    await t.incus('config', 'device', 'add', 'db-a', 'eth0', 'nic', 'network=dother0', 'name=eth0');
    await t.incus('restart', 'db-a');
    expect(await inet('db-a')).toEqual(['10.96.0.201']);
    const result = await up();
    expect(actions(result)).toEqual([
      '~ container db-a: eth0 on dother0 → 10.97.0.11 on dmodel0',
      '~ container db-a: restart (renew its DHCP lease for the new address)',
    ]);
    expect(t.model.instance('model-unit', 'db-a')?.devices.eth0).toEqual({
      type: 'nic',
      name: 'eth0',
      network: 'dmodel0',
      'ipv4.address': '10.97.0.11',
    });
    expect(await inet('db-a')).toEqual(['10.97.0.11']);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a changed reservation is put back and the lease renewed', async () => {
    t.model.flushing.add('debian12-distctl');
    await t.incus('config', 'device', 'set', 'db-a', 'eth0', 'ipv4.address=10.97.0.50');
    await t.incus('restart', 'db-a');
    expect(await inet('db-a')).toEqual(['10.97.0.50']);
    expect(actions(await up())).toEqual([
      '~ container db-a: eth0 10.97.0.50 → 10.97.0.11 on dmodel0',
      '~ container db-a: restart (renew its DHCP lease for the new address)',
    ]);
    expect(await inet('db-a')).toEqual(['10.97.0.11']);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a stopped container is started and a frozen one resumed', async () => {
    await t.incus('stop', 'db-a');
    await t.incus('pause', 'db-b');
    expect(actions(await up())).toEqual(['~ container db-a: start', '~ container db-b: resume (frozen)']);
    expect([t.model.instance('model-unit', 'db-a')?.status, t.model.instance('model-unit', 'db-b')?.status]).toEqual([
      'Running',
      'Running',
    ]);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a deleted container is created again, with its proxy', async () => {
    await t.incus('delete', '--force', 'web');
    expect(actions(await up())).toEqual([
      '+ container web (image debian12-distctl, eth0 10.97.0.10 on dmodel0)',
      '~ container web: eth0 static 10.97.0.10/24 via 10.97.0.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf)',
      '~ container web: start',
      '+ proxy tcp:127.0.0.1:3000 on the host → web tcp:127.0.0.1:3000',
    ]);
    expect(await inet('web')).toEqual(['10.97.0.10']);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('an owned network key set by hand is set back; keys distctl does not own are left alone', async () => {
    await t.model.incus(['network', 'set', 'dmodel0', 'ipv4.nat=false', 'dns.domain=example']);
    expect(actions(await up())).toEqual(['~ network dmodel0: ipv4.nat=true']);
    expect(t.model.networkConfig('dmodel0')).toMatchObject({ 'ipv4.nat': 'true', 'dns.domain': 'example' });
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a bridge address changed by hand is set back, and containers holding stale leases renew them', async () => {
    t.model.flushing.add('debian12-distctl');
    await t.model.incus(['network', 'set', 'dmodel0', 'ipv4.address=10.95.0.1/24']);
    await t.incus('restart', 'db-a');
    expect(await inet('db-a')).toEqual(['10.95.0.201']);
    const result = await up();
    expect(result.exitCode).toBe(0);
    expect(actions(result)).toEqual([
      '~ network dmodel0: ipv4.address=10.97.0.1/24',
      '~ container db-a: restart (renew its DHCP lease: it holds 10.95.0.201)',
    ]);
    expect(await inet('db-a')).toEqual(['10.97.0.11']);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a changed image is reported, not acted on', async () => {
    t.model.images.add('debian12-other');
    await t.write(PROVISION_TOPOLOGY.replace('image: debian12-distctl', 'image: debian12-other'));
    const from = t.model.calls.length;
    const result = await up();
    expect(result.exitCode).toBe(0);
    expect(actions(result)).toEqual([]);
    expect(writesSince(from)).toEqual([]);
    expect(t.ui.events.filter((event) => event.event === 'info').map((event) => event.message)).toContain(
      'container web was created from debian12-distctl, topology now names debian12-other; distctl does not recreate containers (delete it with `incus delete` to rebuild)',
    );
    expect((await t.replan()).notices.map((notice) => notice.code)).toEqual([
      'image-changed',
      'image-changed',
      'image-changed',
    ]);
  });

  it('a container dropped from the topology is kept, and removed only with --prune after confirmation', async () => {
    await t.write(PROVISION_TOPOLOGY.replace('  - { name: db-b, ipv4: 10.97.0.12 }\n', ''));
    expect(actions(await up())).toEqual([]);
    expect(t.model.instance('model-unit', 'db-b')?.status).toBe('Running');
    await expect(up({ prune: true, confirm: false })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(t.model.instance('model-unit', 'db-b')?.status).toBe('Running');
    expect(actions(await up({ prune: true }))).toEqual(['- container db-b (not in the topology (--prune))']);
    expect(t.model.instance('model-unit', 'db-b')).toBeUndefined();
    expect(await t.replan({ prune: true })).toMatchObject({ actions: [], notices: [] });
  });
});

describe('up refuses to touch what it does not own, and changes nothing', () => {
  it.each([
    [
      'a network of the same name',
      ['network', 'create', 'dmodel0', '--type', 'bridge', 'ipv4.address=10.97.0.1/24'],
      'network "dmodel0" exists but was not created by distctl',
    ],
    [
      'a project of the same name',
      ['project', 'create', 'model-unit'],
      'Incus project "model-unit" exists but was not created by distctl',
    ],
  ])('%s', async (_what, foreign, message) => {
    await t.model.incus(foreign);
    const before = t.model.inventory();
    const from = t.model.calls.length;
    const error = await up().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).code).toBe('PLAN_CONFLICT');
    expect((error as DistctlError).details[0]).toContain(message);
    expect(writesSince(from)).toEqual([]);
    expect(t.model.inventory()).toEqual(before);
  });

  it('a container of the same name in the project', async () => {
    await converged();
    await t.incus('delete', '--force', 'db-a');
    await t.model.incus(
      ['--project', 'model-unit', 'create', 'debian12-distctl', 'db-a'],
      'devices:\n  eth0: {type: nic, name: eth0, network: dmodel0}\n',
    );
    const from = t.model.calls.length;
    await expect(up()).rejects.toMatchObject({
      code: 'PLAN_CONFLICT',
      details: [
        'container "db-a" exists in project model-unit but was not created by distctl — Rename the container in topology.yaml, or move/delete the existing one yourself.',
      ],
    });
    expect(writesSince(from)).toEqual([]);
    expect(t.model.instance('model-unit', 'db-a')?.status).toBe('Stopped');
  });
});

describe('up after a failure', () => {
  it('stops the failed container chain, completes the others, and the next up resumes to an empty re-plan', async () => {
    t.model.failOn(
      (argv) => argv.includes('create') && argv.includes('db-b'),
      'Error: Failed instance creation: No space left on device',
    );
    const error = await up().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).code).toBe('APPLY_FAILED');
    expect((error as DistctlError).message).toBe(
      'container db-b: `incus --project model-unit create -- debian12-distctl db-b` failed (exit 1): Error: Failed instance creation: No space left on device',
    );
    expect(t.model.inventory().instances).toEqual(['model-unit/db-a', 'model-unit/web']);
    // web and db-a went on to start (and web got its proxy) while db-b's chain stopped at its create.
    expect(t.model.instance('model-unit', 'web')?.status).toBe('Running');
    expect((await t.replan()).actions.map(describeAction)).toEqual([
      '+ container db-b (image debian12-distctl, eth0 10.97.0.12 on dmodel0)',
      '~ container db-b: eth0 static 10.97.0.12/24 via 10.97.0.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf)',
      '~ container db-b: start',
    ]);
    const resumed = await up();
    expect(resumed.exitCode).toBe(0);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('names each container that did not get its address, and keeps them for the next up', async () => {
    // An image that drops the address raw.lxc set, and has no DHCP client of its own.
    t.model.flushing.add('debian12-distctl');
    t.model.dhcpless.add('debian12-distctl');
    await expect(up()).rejects.toMatchObject({
      code: 'ADDRESS_TIMEOUT',
      details: [
        'web: want 10.97.0.10, Incus reports Running, no IPv4 on eth0 yet',
        'db-a: want 10.97.0.11, Incus reports Running, no IPv4 on eth0 yet',
        'db-b: want 10.97.0.12, Incus reports Running, no IPv4 on eth0 yet',
      ],
    });
    expect(t.model.inventory().instances).toHaveLength(3);
    expect((await t.replan()).actions).toEqual([]);
  });

  it('a failed later stage makes the exit code 1, names the stage, and the containers stay converged', async () => {
    await t.write(`${PROVISION_TOPOLOGY}
mongodb:
  source: image
  standalones:
    - { name: users, container: db-a, port: 27017, database: auth_db, env: DB3_URL }
`);
    t.model.failOn(
      (argv) => argv.includes('exec'),
      'sh: 1: cannot create /var/lib/mongo1: No space left on device',
      Infinity,
    );
    const result = await up();
    expect(result.exitCode).toBe(1);
    const json = result.json as {
      ok: boolean;
      failedStages: string[];
      stages: { stage: string; status: string; error?: { code: string } }[];
    };
    expect(json.ok).toBe(false);
    expect(json.failedStages).toEqual(['databases']);
    expect(json.stages.map((stage) => [stage.stage, stage.status, stage.error?.code])).toEqual([
      ['containers', 'ok', undefined],
      ['databases', 'failed', 'CONTAINER_COMMAND_FAILED'],
      ['services', 'skipped', undefined],
    ]);
    expect(result.human).toContain('up: 1 stage failed: databases');
    expect((await t.replan()).actions).toEqual([]);
  });
});
