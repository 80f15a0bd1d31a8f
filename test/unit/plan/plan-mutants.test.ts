// Exact plans, calls and words of the plan stage: each test pins one decision of src/plan that a
// mutation would change (see bench/RESULTS-mutation.md). The reference topology is the fixture.
import { describe, expect, it } from 'vitest';
import type { IncusInstance } from '../../../src/incus/types.js';
import { actionSubject, describeAction, incusCallsFor } from '../../../src/plan/calls.js';
import { desiredNetworkConfig, planDown, planUp, type Action } from '../../../src/plan/index.js';
import { convergedState, emptyIncus, ownedNetwork, referenceDesired, runningInstance } from './fixtures.js';

const desired = referenceDesired();
/** The image the reference topology names: the one distctl builds (`image: { build: debian/bookworm }`). */
const IMAGE = desired.containers[0]!.image;
const db1 = desired.containers.find((container) => container.name === 'db1')!;
const proxy = desired.proxies[0]!;
const network = desired.network;

/** The converged state with one instance replaced. */
function withInstance(name: string, change: (instance: IncusInstance) => IncusInstance) {
  const observed = convergedState(desired);
  return {
    ...observed,
    instances: observed.instances.map((instance) => (instance.name === name ? change(instance) : instance)),
  };
}

describe('desiredNetworkConfig', () => {
  it('is exactly the keys distctl sets on its bridge', () => {
    expect(desiredNetworkConfig(desired)).toEqual({
      'ipv4.address': '10.10.10.1/24',
      'ipv4.nat': 'true',
      'ipv4.dhcp': 'true',
      'ipv6.address': 'none',
      'user.distctl.owner': 'distctl',
    });
    expect(desiredNetworkConfig({ ...desired, network: { ...network, nat: false } })['ipv4.nat']).toBe('false');
  });
});

describe('incusCallsFor, actionSubject and describeAction for every kind of action', () => {
  const cases: { action: Action; calls: unknown; subject: string; line: string }[] = [
    {
      action: { kind: 'create-project', project: 'p1' },
      calls: [
        {
          args: [
            'project',
            'create',
            '-c',
            'features.images=false',
            '-c',
            'features.profiles=false',
            '-c',
            'features.networks=false',
            '-c',
            'user.distctl.owner=p1',
            '--',
            'p1',
          ],
        },
      ],
      subject: 'project p1',
      line: '+ project p1',
    },
    {
      action: { kind: 'create-network', network, config: { a: '1', b: '2' }, members: [] },
      calls: [{ args: ['network', 'create', '--type', 'bridge', '--', 'incusbr0', 'a=1', 'b=2'] }],
      subject: 'network incusbr0',
      line: '+ network incusbr0 (bridge 10.10.10.1/24, NAT on)',
    },
    {
      action: { kind: 'create-network', network: { ...network, nat: false }, config: {}, members: [] },
      calls: [{ args: ['network', 'create', '--type', 'bridge', '--', 'incusbr0'] }],
      subject: 'network incusbr0',
      line: '+ network incusbr0 (bridge 10.10.10.1/24, NAT off)',
    },
    {
      action: { kind: 'update-network', network: 'incusbr0', set: { 'ipv4.nat': 'true', 'ipv4.dhcp': 'true' } },
      calls: [{ args: ['network', 'set', '--', 'incusbr0', 'ipv4.nat=true', 'ipv4.dhcp=true'] }],
      subject: 'network incusbr0',
      line: '~ network incusbr0: ipv4.nat=true, ipv4.dhcp=true',
    },
    {
      action: { kind: 'set-nic', container: db1, replace: false, from: 'missing' },
      calls: [
        {
          args: [
            'config',
            'device',
            'add',
            '--',
            'db1',
            'eth0',
            'nic',
            'name=eth0',
            'network=incusbr0',
            'ipv4.address=10.10.10.12',
          ],
          project: 'p1',
        },
      ],
      subject: 'container db1',
      line: '~ container db1: eth0 missing → 10.10.10.12 on incusbr0',
    },
    {
      action: { kind: 'set-nic', container: db1, replace: true, from: 'on other' },
      calls: [
        { args: ['config', 'device', 'remove', '--', 'db1', 'eth0'], project: 'p1' },
        {
          args: [
            'config',
            'device',
            'add',
            '--',
            'db1',
            'eth0',
            'nic',
            'name=eth0',
            'network=incusbr0',
            'ipv4.address=10.10.10.12',
          ],
          project: 'p1',
        },
      ],
      subject: 'container db1',
      line: '~ container db1: eth0 on other → 10.10.10.12 on incusbr0',
    },
    {
      action: { kind: 'set-nic', container: db1, replace: false, from: '10.10.10.99' },
      calls: [{ args: ['config', 'device', 'set', '--', 'db1', 'eth0', 'ipv4.address=10.10.10.12'], project: 'p1' }],
      subject: 'container db1',
      line: '~ container db1: eth0 10.10.10.99 → 10.10.10.12 on incusbr0',
    },
    {
      action: { kind: 'start-instance', container: 'db1', resume: false },
      calls: [{ args: ['start', '--', 'db1'], project: 'p1' }],
      subject: 'container db1',
      line: '~ container db1: start',
    },
    {
      action: { kind: 'start-instance', container: 'db1', resume: true },
      calls: [{ args: ['resume', '--', 'db1'], project: 'p1' }],
      subject: 'container db1',
      line: '~ container db1: resume (frozen)',
    },
    {
      action: { kind: 'restart-instance', container: 'db1', reason: 'why' },
      calls: [{ args: ['restart', '--', 'db1'], project: 'p1' }],
      subject: 'container db1',
      line: '~ container db1: restart (why)',
    },
    {
      action: { kind: 'add-proxy', proxy },
      calls: [
        {
          args: [
            'config',
            'device',
            'add',
            '--',
            'web-server',
            'expose-3000',
            'proxy',
            'listen=tcp:127.0.0.1:3000',
            'connect=tcp:127.0.0.1:3000',
            'bind=host',
          ],
          project: 'p1',
        },
      ],
      subject: 'container web-server',
      line: '+ proxy tcp:127.0.0.1:3000 on the host → web-server tcp:127.0.0.1:3000',
    },
    {
      action: { kind: 'set-proxy', proxy, from: 'a → b' },
      calls: [
        {
          args: [
            'config',
            'device',
            'set',
            '--',
            'web-server',
            'expose-3000',
            'listen=tcp:127.0.0.1:3000',
            'connect=tcp:127.0.0.1:3000',
          ],
          project: 'p1',
        },
      ],
      subject: 'container web-server',
      line: '~ proxy web-server/expose-3000: was a → b, now tcp:127.0.0.1:3000 → tcp:127.0.0.1:3000',
    },
    {
      action: { kind: 'remove-proxy', container: 'web-server', device: 'expose-9' },
      calls: [{ args: ['config', 'device', 'remove', '--', 'web-server', 'expose-9'], project: 'p1' }],
      subject: 'container web-server',
      line: '- proxy web-server/expose-9',
    },
    {
      action: { kind: 'delete-instance', container: 'db4', reason: 'why' },
      calls: [{ args: ['delete', '--force', '--', 'db4'], project: 'p1' }],
      subject: 'container db4',
      line: '- container db4 (why)',
    },
    {
      action: { kind: 'delete-network', network: 'incusbr0' },
      calls: [{ args: ['network', 'delete', '--', 'incusbr0'] }],
      subject: 'network incusbr0',
      line: '- network incusbr0',
    },
    {
      action: { kind: 'delete-project', project: 'p1' },
      calls: [{ args: ['project', 'delete', '--', 'p1'] }],
      subject: 'project p1',
      line: '- project p1',
    },
  ];
  it.each(cases.map((c) => [c.line, c] as const))('%s', (_line, { action, calls, subject, line }) => {
    expect(incusCallsFor(action, 'p1')).toEqual(calls);
    expect(actionSubject(action)).toBe(subject);
    expect(describeAction(action)).toBe(line);
  });

  it('create-instance: one call with the target only when one is set', () => {
    expect(
      incusCallsFor({ kind: 'create-instance', container: db1, member: null }, 'p1').map((call) => [
        call.args,
        call.project,
      ]),
    ).toEqual([[['create', '--', IMAGE, 'db1'], 'p1']]);
    expect(incusCallsFor({ kind: 'create-instance', container: db1, member: 'node2' }, 'p1')[0]?.args).toEqual([
      'create',
      '--target',
      'node2',
      '--',
      IMAGE,
      'db1',
    ]);
    expect(actionSubject({ kind: 'create-instance', container: db1, member: null })).toBe('container db1');
  });
});

describe('planUp: exact plans for each kind of drift', () => {
  it('a NIC missing, on another network, of another type, or bridged by parent', () => {
    const noNic = planUp(
      desired,
      withInstance('db1', (i) => ({ ...i, devices: {} })),
    );
    expect(noNic.actions).toEqual([
      { kind: 'set-nic', container: db1, replace: false, from: 'missing' },
      { kind: 'restart-instance', container: 'db1', reason: 'renew its DHCP lease for the new address' },
    ]);
    const other = planUp(
      desired,
      withInstance('db1', (i) => ({ ...i, devices: { ...i.devices, eth0: { ...i.devices.eth0, network: 'lxdbr0' } } })),
    );
    expect(other.actions[0]).toEqual({ kind: 'set-nic', container: db1, replace: true, from: 'on lxdbr0' });
    const parent = planUp(
      desired,
      withInstance('db1', (i) => ({
        ...i,
        devices: { ...i.devices, eth0: { type: 'nic', nictype: 'bridged', parent: 'br9' } },
      })),
    );
    expect(parent.actions[0]).toEqual({ kind: 'set-nic', container: db1, replace: true, from: 'on br9' });
    const disk = planUp(
      desired,
      withInstance('db1', (i) => ({
        ...i,
        devices: { ...i.devices, eth0: { type: 'disk', network: 'incusbr0', 'ipv4.address': '10.10.10.12' } },
      })),
    );
    expect(disk.actions[0]).toEqual({ kind: 'set-nic', container: db1, replace: true, from: 'on incusbr0' });
    const bare = planUp(
      desired,
      withInstance('db1', (i) => ({ ...i, devices: { ...i.devices, eth0: { type: 'unix-char' } } })),
    );
    expect(bare.actions[0]).toEqual({ kind: 'set-nic', container: db1, replace: true, from: 'on unix-char' });
    const noReservation = planUp(
      desired,
      withInstance('db1', (i) => ({ ...i, devices: { ...i.devices, eth0: { type: 'nic', network: 'incusbr0' } } })),
    );
    expect(noReservation.actions[0]).toEqual({
      kind: 'set-nic',
      container: db1,
      replace: false,
      from: 'no reserved address',
    });
  });

  it('a NIC fixed on a stopped container starts it (no restart)', () => {
    const plan = planUp(
      desired,
      withInstance('db1', (i) => ({
        ...i,
        status: 'Stopped',
        devices: { ...i.devices, eth0: { ...i.devices.eth0, network: 'lxdbr0' } },
      })),
    );
    expect(plan.actions).toEqual([
      { kind: 'set-nic', container: db1, replace: true, from: 'on lxdbr0' },
      { kind: 'start-instance', container: 'db1', resume: false },
    ]);
  });

  it('a proxy removed, a proxy with another listen or connect, an expose- proxy no longer declared', () => {
    const removed = planUp(
      desired,
      withInstance('web-server', (i) => ({ ...i, devices: { eth0: i.devices.eth0! } })),
    );
    expect(removed.actions).toEqual([{ kind: 'add-proxy', proxy }]);
    const listen = planUp(
      desired,
      withInstance('web-server', (i) => ({
        ...i,
        devices: { ...i.devices, 'expose-3000': { type: 'proxy', listen: 'tcp:0.0.0.0:3000', connect: proxy.connect } },
      })),
    );
    expect(listen.actions).toEqual([{ kind: 'set-proxy', proxy, from: 'tcp:0.0.0.0:3000 → tcp:127.0.0.1:3000' }]);
    const unknown = planUp(
      desired,
      withInstance('web-server', (i) => ({ ...i, devices: { ...i.devices, 'expose-3000': { type: 'proxy' } } })),
    );
    expect(unknown.actions).toEqual([{ kind: 'set-proxy', proxy, from: '? → ?' }]);
    const stale = planUp(
      desired,
      withInstance('db1', (i) => ({
        ...i,
        devices: {
          ...i.devices,
          'expose-9': { type: 'proxy', listen: 'tcp:127.0.0.1:9', connect: 'tcp:127.0.0.1:9' },
          'mine-9': { type: 'proxy' },
          'expose-disk': { type: 'disk' },
        },
      })),
    );
    expect(stale.actions).toEqual([{ kind: 'remove-proxy', container: 'db1', device: 'expose-9' }]);
  });

  it('a proxy is added to a container being created, never to a foreign one, and foreign proxies are left alone', () => {
    const observed = convergedState(desired);
    const foreign = planUp(desired, {
      ...observed,
      instances: observed.instances.map((i) =>
        i.name === 'web-server'
          ? { ...i, config: {}, devices: { eth0: i.devices.eth0!, 'expose-7': { type: 'proxy' } } }
          : i,
      ),
    });
    expect(foreign.actions).toEqual([]);
    expect(foreign.conflicts.map((c) => c.code)).toEqual(['instance-not-owned']);
    const missing = planUp(desired, {
      ...observed,
      instances: observed.instances.filter((i) => i.name !== 'web-server'),
    });
    expect(missing.actions.map(describeAction)).toEqual([
      `+ container web-server (image ${IMAGE}, eth0 10.10.10.11 on incusbr0)`,
      '~ container web-server: eth0 static 10.10.10.11/24 via 10.10.10.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf)',
      '~ container web-server: start',
      '+ proxy tcp:127.0.0.1:3000 on the host → web-server tcp:127.0.0.1:3000',
    ]);
  });

  it('an instance created from another image: a notice, no action', () => {
    const plan = planUp(
      desired,
      withInstance('db1', (i) => ({ ...i, config: { ...i.config, 'user.distctl.image': 'images:debian/12' } })),
    );
    expect(plan).toEqual({
      project: 'distctl',
      remote: null,
      actions: [],
      conflicts: [],
      notices: [
        {
          code: 'image-changed',
          subject: 'container db1',
          message: `was created from images:debian/12, topology now names ${IMAGE}; distctl does not recreate containers (delete it with \`incus delete\` to rebuild)`,
        },
      ],
    });
    expect(
      planUp(
        desired,
        withInstance('db1', (i) => ({ ...i, config: { 'user.distctl.owner': 'distctl' } })),
      ).notices,
    ).toEqual([]);
  });

  it('extra instances: a foreign one is left alone, an owned one is reported, or deleted with prune', () => {
    const observed = convergedState(desired);
    const extra = { ...runningInstance(desired, 'db3'), name: 'db4' };
    const stranger = { ...runningInstance(desired, 'db3'), name: 'stranger', config: {} };
    const state = { ...observed, instances: [...observed.instances, extra, stranger] };
    expect(planUp(desired, state)).toEqual({
      project: 'distctl',
      remote: null,
      actions: [],
      conflicts: [],
      notices: [
        {
          code: 'extra-instance',
          subject: 'container db4',
          message: 'was created by distctl but is no longer in the topology; `distctl up --prune` removes it',
        },
        {
          code: 'foreign-instance',
          subject: 'container stranger',
          message: "is in the project but not distctl's; left alone",
        },
      ],
    });
    expect(planUp(desired, state, { prune: true }).actions).toEqual([
      { kind: 'delete-instance', container: 'db4', reason: 'not in the topology (--prune)' },
    ]);
    expect(planUp(desired, state, { prune: false }).actions).toEqual([]);
  });

  it('conflicts carry their exact message and hint', () => {
    const observed = convergedState(desired);
    const plan = planUp(desired, {
      project: { ...observed.project!, config: { 'user.distctl.owner': 'other' } },
      networks: [{ ...ownedNetwork(desired), config: { 'user.distctl.owner': 'other' } }],
      instances: observed.instances.map((i) =>
        i.name === 'db1' ? { ...i, config: { 'user.distctl.owner': 'other' } } : i,
      ),
    });
    expect(plan.conflicts).toEqual([
      {
        code: 'project-not-owned',
        subject: 'project distctl',
        message: 'Incus project "distctl" exists but was not created by distctl',
        hint: 'distctl never touches what it does not own. Set `project:` in topology.yaml to a new name, or remove the project yourself if it is unused.',
      },
      {
        code: 'network-not-owned',
        subject: 'network incusbr0',
        message: 'network "incusbr0" belongs to distctl project "other"',
        hint: 'Give network.name in topology.yaml a name no other network uses (e.g. distbr0).',
      },
      {
        code: 'instance-not-owned',
        subject: 'container db1',
        message: 'container "db1" exists in project distctl but was not created by distctl',
        hint: 'Rename the container in topology.yaml, or move/delete the existing one yourself.',
      },
    ]);
    expect(plan.actions.some((action) => action.kind === 'update-network')).toBe(false);
    const unmarked = planUp(desired, { ...observed, networks: [{ ...ownedNetwork(desired), config: {} }] });
    expect(unmarked.conflicts.map((c) => c.message)).toEqual([
      'network "incusbr0" exists but was not created by distctl',
    ]);
  });

  it('subnet overlap: checked against other networks with an address only, never against its own bridge', () => {
    const observed = convergedState(desired);
    const other = (name: string, address?: string) => ({
      name,
      type: 'bridge',
      managed: true,
      description: '',
      config: Object.fromEntries(address ? [['ipv4.address', address]] : []),
      used_by: [],
    });
    const disjoint = planUp(desired, {
      ...observed,
      networks: [...observed.networks, other('br1', '10.20.0.1/24'), other('br2')],
    });
    expect(disjoint.conflicts).toEqual([]);
    const overlapping = planUp(desired, {
      ...observed,
      networks: [...observed.networks, other('br3', '10.10.10.200/30')],
    });
    expect(overlapping.conflicts).toEqual([
      {
        code: 'subnet-in-use',
        subject: 'network incusbr0',
        message: 'subnet 10.10.10.0/24 overlaps network "br3" (10.10.10.200/30)',
        hint: 'Choose a free subnet for network.subnet in topology.yaml (and move the container addresses with it).',
      },
    ]);
    const unparsable = planUp(desired, { ...observed, networks: [...observed.networks, other('br4', 'none')] });
    expect(unparsable.conflicts).toEqual([]);
  });

  it('network: created with exactly the desired config; updated with only the keys that differ', () => {
    expect(planUp(desired, emptyIncus).actions[1]).toEqual({
      kind: 'create-network',
      network,
      config: desiredNetworkConfig(desired),
      members: [],
    });
    const observed = convergedState(desired);
    const drifted = planUp(desired, {
      ...observed,
      networks: [ownedNetwork(desired, { 'ipv4.dhcp': 'false', 'ipv6.address': 'fd00::1/64' })],
    });
    expect(drifted.actions).toEqual([
      { kind: 'update-network', network: 'incusbr0', set: { 'ipv4.dhcp': 'true', 'ipv6.address': 'none' } },
    ]);
  });
});

describe('planDown: exact plans', () => {
  it('a network still used by something else stays, with a notice naming the users; profiles and own instances do not count', () => {
    const observed = convergedState(desired);
    const used = {
      ...ownedNetwork(desired),
      used_by: [
        '/1.0/instances/db1?project=distctl',
        '/1.0/profiles/default',
        '/1.0/instances/other?project=elsewhere',
        '/1.0/instances/x?project=y',
      ],
    };
    expect(planDown(desired, { ...observed, networks: [used] })).toEqual({
      project: 'distctl',
      remote: null,
      actions: [
        ...desired.containers.map((c) => ({ kind: 'delete-instance', container: c.name, reason: 'distctl down' })),
        { kind: 'delete-project', project: 'distctl' },
      ],
      conflicts: [],
      notices: [
        {
          code: 'network-in-use',
          subject: 'network incusbr0',
          message: 'still used by /1.0/instances/other?project=elsewhere, /1.0/instances/x?project=y; left in place',
        },
      ],
    });
    const onlyOurs = { ...used, used_by: ['/1.0/instances/db1?project=distctl', '/1.0/profiles/default'] };
    expect(
      planDown(desired, { ...observed, networks: [onlyOurs] })
        .actions.map(describeAction)
        .slice(-2),
    ).toEqual(['- network incusbr0', '- project distctl']);
    const noUsers = { ...used, used_by: null };
    expect(
      planDown(desired, { ...observed, networks: [noUsers] })
        .actions.map(describeAction)
        .slice(-2),
    ).toEqual(['- network incusbr0', '- project distctl']);
  });

  it('a foreign instance keeps the project; a foreign project and network get notices', () => {
    const observed = convergedState(desired);
    const stranger = { ...runningInstance(desired, 'db1'), name: 'stranger', config: {} };
    const plan = planDown(desired, {
      project: { ...observed.project!, config: {} },
      networks: [{ ...ownedNetwork(desired), config: { 'user.distctl.owner': 'other' } }],
      instances: [stranger],
    });
    expect(plan).toEqual({
      project: 'distctl',
      remote: null,
      actions: [],
      conflicts: [],
      notices: [
        {
          code: 'foreign-instance',
          subject: 'container stranger',
          message: "is not distctl's; left in place (so the project stays too)",
        },
        {
          code: 'network-not-owned',
          subject: 'network incusbr0',
          message: 'was not created by distctl; left in place',
        },
        { code: 'project-not-owned', subject: 'project distctl', message: 'was not created by distctl; left in place' },
      ],
    });
    const ownedProject = planDown(desired, { ...observed, instances: [...observed.instances, stranger] });
    expect(ownedProject.actions.map(describeAction)).toEqual([
      ...desired.containers.map((c) => `- container ${c.name} (distctl down)`),
      '- network incusbr0',
    ]);
    expect(ownedProject.notices.map((n) => n.code)).toEqual(['foreign-instance']);
  });

  it('another network with the same name elsewhere is not looked at; a missing project asks nothing', () => {
    expect(
      planDown(desired, { project: null, networks: [{ ...ownedNetwork(desired), name: 'br9' }], instances: [] }),
    ).toEqual({ project: 'distctl', remote: null, actions: [], conflicts: [], notices: [] });
  });
});
