import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyPlan } from '../../../src/apply/index.js';
import { upCommand } from '../../../src/commands/up.js';
import { DistctlError } from '../../../src/errors/index.js';
import { callArgv } from '../../../src/incus/client.js';
import { observeIncus } from '../../../src/observe/incus.js';
import { incusCallsFor } from '../../../src/plan/calls.js';
import { planDown, planUp } from '../../../src/plan/index.js';
import { testDeployment, type TestDeployment } from '../support/deployment.js';

const CLUSTER = readFileSync(join(import.meta.dirname, '../../../topology.cluster.yaml'), 'utf8');
const MEMBERS = ['m1', 'm2', 'm3'];

let t: TestDeployment | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

async function cluster(topology = CLUSTER, incus: { remote?: string; members?: string[] } = {}) {
  t = await testDeployment(topology, { remote: 'distcl', members: MEMBERS, ...incus });
  return t;
}

/** Plans, applies and returns the plan (which must have no conflicts). */
async function up(deployment: TestDeployment) {
  const plan = await deployment.replan();
  expect(plan.conflicts).toEqual([]);
  await applyPlan(deployment.client(), plan);
  return plan;
}

describe('plan on a three-member cluster remote', () => {
  it('addresses every call to the remote, defines the bridge on each member first, and spreads both sets', async () => {
    const d = await cluster();
    const client = d.client();
    const desired = await d.desired();
    const observed = await observeIncus(client, desired);
    // O(1) observation, all at once: projects, networks, cluster members, one instance list (refused: no project).
    expect(d.model.calls).toEqual([
      ['project', 'list', 'distcl:', '--format', 'json'],
      ['network', 'list', 'distcl:', '--format', 'json'],
      ['cluster', 'list', 'distcl:', '--format', 'json'],
      ['--project', 'distctl', 'list', 'distcl:', '--format', 'json'],
    ]);
    const plan = planUp(desired, observed);
    expect(plan.conflicts).toEqual([]);
    const created = plan.actions.flatMap((action) =>
      action.kind === 'create-instance' ? [[action.container.name, action.member]] : [],
    );
    expect(created).toEqual([
      ['auth-server', null],
      ['web-server', null],
      ['rsa-1', 'm1'],
      ['rsa-2', 'm2'],
      ['rsa-3', 'm3'],
      ['rsb-1', 'm1'],
      ['rsb-2', 'm2'],
      ['rsb-3', 'm3'],
      ['users-db', null],
    ]);
    const argv = plan.actions
      .slice(0, 3)
      .flatMap((action) => incusCallsFor(action, plan).map((call) => callArgv(call)));
    expect(argv).toEqual([
      [
        'incus',
        'project',
        'create',
        '-c',
        'features.images=false',
        '-c',
        'features.profiles=false',
        '-c',
        'features.networks=false',
        '-c',
        'user.distctl.owner=distctl',
        '--',
        'distcl:distctl',
      ],
      ['incus', 'network', 'create', '--type', 'bridge', '--target', 'm1', '--', 'distcl:distclbr0'],
      ['incus', 'network', 'create', '--type', 'bridge', '--target', 'm2', '--', 'distcl:distclbr0'],
      ['incus', 'network', 'create', '--type', 'bridge', '--target', 'm3', '--', 'distcl:distclbr0'],
      [
        'incus',
        'network',
        'create',
        '--type',
        'bridge',
        '--',
        'distcl:distclbr0',
        'ipv4.address=10.213.47.1/24',
        'ipv4.nat=true',
        'ipv4.dhcp=true',
        'ipv6.address=none',
        'tunnel.vx.protocol=vxlan',
        'tunnel.vx.id=4247',
        'tunnel.vx.group=239.0.0.47',
        'bridge.hwaddr=02:d1:' + (argvMac(plan) ?? ''),
        'user.distctl.owner=distctl',
      ],
      ['incus', '--project', 'distctl', 'create', '--', 'distcl:debian12-distctl', 'distcl:auth-server'],
    ]);
    const rsa2 = plan.actions.find((action) => action.kind === 'create-instance' && action.container.name === 'rsa-2');
    expect(rsa2 && incusCallsFor(rsa2, plan).map((call) => callArgv(call))).toEqual([
      ['incus', '--project', 'distctl', 'create', '--target', 'm2', '--', 'distcl:debian12-distctl', 'distcl:rsa-2'],
    ]);
    const proxy = plan.actions.find((action) => action.kind === 'add-proxy');
    expect(proxy && incusCallsFor(proxy, plan).map((call) => callArgv(call))).toEqual([
      [
        'incus',
        '--project',
        'distctl',
        'config',
        'device',
        'add',
        '--',
        'distcl:web-server',
        'expose-3000',
        'proxy',
        'listen=tcp:127.0.0.1:3000',
        'connect=tcp:127.0.0.1:3000',
        'bind=host',
      ],
    ]);
  });

  it('applies on the model cluster: sets on three members each, three containers per member, re-plan empty', async () => {
    const d = await cluster();
    await up(d);
    const where = (name: string) => d.model.instance('distctl', name)?.location;
    expect(['rsa-1', 'rsa-2', 'rsa-3', 'rsb-1', 'rsb-2', 'rsb-3'].map(where)).toEqual([
      'm1',
      'm2',
      'm3',
      'm1',
      'm2',
      'm3',
    ]);
    const perMember = MEMBERS.map(
      (member) => d.model.inventory().instances.filter((key) => where(key.split('/')[1] ?? '') === member).length,
    );
    expect(perMember).toEqual([3, 3, 3]);
    expect(d.model.instance('distctl', 'rsa-2')?.config['user.distctl.member']).toBe('m2');
    expect(d.model.instance('distctl', 'users-db')?.config['user.distctl.member']).toBeUndefined();
    expect(await d.replan()).toEqual({ project: 'distctl', remote: 'distcl', actions: [], conflicts: [], notices: [] });
  });

  it('reports the container that was moved to another member as placement drift, and plans no move', async () => {
    const d = await cluster();
    await up(d);
    d.model.moveInstance('distctl', 'rsa-1', 'm2');
    const plan = await d.replan();
    expect(plan.actions).toEqual([]);
    expect(plan.conflicts).toEqual([]);
    expect(plan.notices).toEqual([
      {
        code: 'placement-drift',
        subject: 'container rsa-1',
        message:
          'runs on member m2, but belongs on m1 (spread of rsA); distctl does not move containers: ' +
          '`distctl undrain m1` after a drain, or `incus stop distcl:rsa-1 --project distctl && ' +
          'incus move distcl:rsa-1 --target m1 --project distctl && incus start distcl:rsa-1 --project distctl`',
      },
    ]);
  });

  it('reports drift from an explicit target', async () => {
    const d = await cluster(
      CLUSTER.replace('{ name: users-db, ipv4: 10.213.47.40 }', '{ name: users-db, ipv4: 10.213.47.40, target: m3 }'),
    );
    await up(d);
    expect(d.model.instance('distctl', 'users-db')?.location).toBe('m3');
    d.model.moveInstance('distctl', 'users-db', 'm1');
    expect((await d.replan()).notices.map((notice) => [notice.subject, notice.message.split(';')[0]])).toEqual([
      ['container users-db', 'runs on member m1, but belongs on m3 (target: m3)'],
    ]);
  });

  it('leaves the containers of an offline member alone, with a notice each, and changes nothing', async () => {
    const d = await cluster();
    await up(d);
    d.model.setMemberStatus('m2', 'Offline');
    const plan = await d.replan();
    expect(plan.actions).toEqual([]);
    expect(plan.conflicts).toEqual([]);
    const onM2 = d.model
      .inventory()
      .instances.map((key) => key.split('/')[1] ?? '')
      .filter((name) => d.model.instance('distctl', name)?.location === 'm2');
    expect(onM2).toHaveLength(3);
    expect(plan.notices).toEqual(
      onM2
        .sort((a, b) => order(a) - order(b))
        .map((name) => ({
          code: 'member-unavailable',
          subject: `container ${name}`,
          message: 'is on cluster member m2, which is Offline: left as it is until the member is back',
        })),
    );
    // A drained member: its stopped containers are not started behind the drain's back; the notice says how.
    d.model.setMemberStatus('m2', 'Evacuated');
    const drained = await d.replan();
    expect(drained.actions).toEqual([]);
    expect(drained.notices.map((notice) => notice.message)).toEqual(
      onM2.map(
        () =>
          'is on cluster member m2, which is Evacuated (drained): left stopped until `distctl undrain m2` brings ' +
          'the member back',
      ),
    );
    // down keeps what it cannot reach (and so the project), and deletes the rest.
    const down = planDown(await d.desired(), await observeIncus(d.client(), await d.desired()));
    expect(down.actions.filter((action) => action.kind === 'delete-project')).toEqual([]);
    expect(down.actions.filter((action) => action.kind === 'delete-instance')).toHaveLength(9 - onM2.length);
  });
});

describe('placement errors stop the plan before any change', () => {
  it('too few online members for a spread set', async () => {
    const d = await cluster(CLUSTER, { members: ['m1', 'm2', 'm3'] });
    d.model.setMemberStatus('m3', 'Offline');
    const plan = await d.replan();
    expect(plan.conflicts.map((conflict) => [conflict.code, conflict.subject, conflict.message])).toEqual([
      [
        'spread-too-few-members',
        'replica set rsA',
        'spread needs 3 cluster members for containers rsa-1, rsa-2, rsa-3, but remote distcl has 2 online (m1, m2)',
      ],
      [
        'spread-too-few-members',
        'replica set rsB',
        'spread needs 3 cluster members for containers rsb-1, rsb-2, rsb-3, but remote distcl has 2 online (m1, m2)',
      ],
    ]);
    // `up` stops on them before any change.
    const error = await upCommand({
      file: d.file,
      prune: false,
      client: d.client(),
      ui: d.ui,
      confirm: async () => true,
      addressTimeoutMs: 0,
      concurrency: 4,
      stateDirFor: d.stateDirFor,
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DistctlError);
    expect((error as DistctlError).message).toBe(
      'cannot proceed: 2 conflicts with what exists in Incus; nothing was changed',
    );
    expect(d.model.inventory()).toEqual({ projects: ['default'], networks: [], instances: [] });
    expect(d.model.calls.filter((argv) => !argv.includes('--format'))).toEqual([]);
  });

  it('a target that is no member, and one that is offline', async () => {
    const d = await cluster(
      CLUSTER.replace(
        '{ name: users-db, ipv4: 10.213.47.40 }',
        '{ name: users-db, ipv4: 10.213.47.40, target: m9 }',
      ).replace('{ name: web-server, ipv4: 10.213.47.11 }', '{ name: web-server, ipv4: 10.213.47.11, target: m2 }'),
    );
    d.model.setMemberStatus('m2', 'Evacuated');
    const plan = await d.replan();
    expect(plan.conflicts.map((conflict) => [conflict.code, conflict.subject, conflict.message])).toEqual([
      ['member-not-online', 'container web-server', 'target m2 is Evacuated, so the container cannot be created there'],
      ['unknown-member', 'container users-db', 'target m9 is not a member of remote distcl (members: m1, m2, m3)'],
      [
        'spread-too-few-members',
        'replica set rsA',
        'spread needs 3 cluster members for containers rsa-1, rsa-2, rsa-3, but remote distcl has 2 online (m1, m3)',
      ],
      [
        'spread-too-few-members',
        'replica set rsB',
        'spread needs 3 cluster members for containers rsb-1, rsb-2, rsb-3, but remote distcl has 2 online (m1, m3)',
      ],
    ]);
  });

  it('a remote that is not a cluster while target/spread are used', async () => {
    const d = await cluster(CLUSTER, { members: undefined });
    const plan = await d.replan();
    expect(plan.conflicts).toEqual([
      {
        code: 'not-a-cluster',
        subject: 'remote distcl',
        message:
          'remote distcl is not an Incus cluster, but replica set rsA (spread), replica set rsB (spread) need cluster members',
        hint:
          'Set `incus: { remote: NAME }` to a cluster (`incus remote list`), or remove `target:` and `spread:` to ' +
          'run on one server.',
      },
    ]);
  });

  it('a remote that is one server works without placement: every call addresses it, re-plan empty', async () => {
    const single = CLUSTER.replaceAll('      spread: true\n', '').replace(/ {2}tunnel: .*\n/, '');
    const d = await cluster(single, { members: undefined });
    const plan = await up(d);
    expect(plan.actions.filter((action) => action.kind === 'create-network')).toEqual([
      expect.objectContaining({ members: [] }),
    ]);
    expect(d.model.instance('distctl', 'rsa-1')?.location).toBe('none');
    expect((await d.replan()).actions).toEqual([]);
  });
});

/** A container's position in topology.cluster.yaml (the order plans report in). */
function order(name: string): number {
  return CLUSTER.indexOf(`name: ${name},`);
}

/** The host part of the bridge MAC the plan derived (stable per network name). */
function argvMac(plan: { actions: readonly { kind: string; config?: Readonly<Record<string, string>> }[] }) {
  const network = plan.actions.find((action) => action.kind === 'create-network');
  return network?.config?.['bridge.hwaddr']?.slice('02:d1:'.length);
}
