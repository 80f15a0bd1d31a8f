import { describe, expect, it } from 'vitest';
import { describeAction, incusCallsFor, instanceDefinition } from '../../../src/plan/calls.js';
import { planDown, planUp } from '../../../src/plan/index.js';
import { parse } from 'yaml';
import { convergedState, emptyIncus, ownedNetwork, referenceDesired, runningInstance } from './fixtures.js';

const desired = referenceDesired();
// The reference topology builds its image (image: { build: debian/bookworm }); containers start from its alias.
const IMAGE = desired.containers[0]!.image;

describe('planUp', () => {
  it('creates everything, in dependency order, on an empty Incus', () => {
    const plan = planUp(desired, emptyIncus);
    expect(plan.conflicts).toEqual([]);
    expect(plan.actions.map(describeAction)).toEqual([
      '+ project distctl',
      '+ network incusbr0 (bridge 10.10.10.1/24, NAT on)',
      `+ container auth-server (image ${IMAGE}, eth0 10.10.10.10 on incusbr0)`,
      `+ container web-server (image ${IMAGE}, eth0 10.10.10.11 on incusbr0)`,
      `+ container db1 (image ${IMAGE}, eth0 10.10.10.12 on incusbr0)`,
      `+ container db2 (image ${IMAGE}, eth0 10.10.10.13 on incusbr0)`,
      `+ container db3 (image ${IMAGE}, eth0 10.10.10.14 on incusbr0)`,
      '~ container auth-server: eth0 static 10.10.10.10/24 via 10.10.10.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf)',
      '~ container web-server: eth0 static 10.10.10.11/24 via 10.10.10.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf)',
      '~ container db1: eth0 static 10.10.10.12/24 via 10.10.10.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf)',
      '~ container db2: eth0 static 10.10.10.13/24 via 10.10.10.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf)',
      '~ container db3: eth0 static 10.10.10.14/24 via 10.10.10.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf)',
      '~ container auth-server: start',
      '~ container web-server: start',
      '~ container db1: start',
      '~ container db2: start',
      '~ container db3: start',
      '+ proxy tcp:127.0.0.1:3000 on the host → web-server tcp:127.0.0.1:3000',
    ]);
  });

  it('plans nothing when Incus matches, ignoring server-computed keys', () => {
    expect(planUp(desired, convergedState(desired))).toEqual({
      project: 'distctl',
      remote: null,
      actions: [],
      conflicts: [],
      notices: [],
    });
  });

  it('writes the static address into a running container that has no record of it, and restarts it', () => {
    const observed = convergedState(desired);
    const instances = observed.instances.map((instance) => {
      if (instance.name !== 'db2') return instance;
      const { 'user.distctl.static-ipv4': _record, 'raw.lxc': _raw, ...config } = instance.config;
      return { ...instance, config };
    });
    const plan = planUp(desired, { ...observed, instances });
    expect(plan.actions.map(describeAction)).toEqual([
      '~ container db2: eth0 static 10.10.10.13/24 via 10.10.10.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf)',
      '~ container db2: restart (take its new static address)',
    ]);
    expect(incusCallsFor(plan.actions[0]!, 'distctl')).toEqual([
      {
        args: ['file', 'push', '--create-dirs', '--mode', '0644', '--', '-', 'db2/etc/network/interfaces'],
        project: 'distctl',
        input: expect.stringContaining('\nauto eth0\niface eth0 inet manual\n'),
      },
      {
        args: ['file', 'push', '--create-dirs', '--mode', '0644', '--', '-', 'db2/etc/resolv.conf'],
        project: 'distctl',
        input: "# Written by distctl: the bridge's DNS.\nnameserver 10.10.10.1\n",
      },
      {
        args: [
          'config',
          'set',
          '--',
          'db2',
          'raw.lxc=lxc.net.0.ipv4.address = 10.10.10.13/24 10.10.10.255\nlxc.net.0.ipv4.gateway = 10.10.10.1\n',
          'user.distctl.static-ipv4=10.10.10.13/24 via 10.10.10.1',
        ],
        project: 'distctl',
      },
    ]);
  });

  it('writes the address again when raw.lxc was changed or removed, though the record is right', () => {
    const observed = convergedState(desired);
    const instances = observed.instances.map((instance) => {
      if (instance.name === 'db1') return { ...instance, config: { ...instance.config, 'raw.lxc': '' } };
      if (instance.name !== 'db2') return instance;
      const { 'raw.lxc': _raw, ...config } = instance.config;
      return { ...instance, config };
    });
    expect(planUp(desired, { ...observed, instances }).actions.map(describeAction)).toEqual([
      '~ container db1: eth0 static 10.10.10.12/24 via 10.10.10.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf) ' +
        '(was 10.10.10.12/24 via 10.10.10.1, with a different raw.lxc)',
      '~ container db2: eth0 static 10.10.10.13/24 via 10.10.10.1 (raw.lxc, /etc/network/interfaces, /etc/resolv.conf) ' +
        '(was 10.10.10.13/24 via 10.10.10.1, with a different raw.lxc)',
      '~ container db1: restart (take its new static address)',
      '~ container db2: restart (take its new static address)',
    ]);
  });

  it('writes the static address on the remote the deployment addresses', () => {
    const write = planUp(desired, emptyIncus).actions.find((action) => action.kind === 'write-address');
    if (write === undefined) throw new Error('no write-address action');
    const [push, resolver, record] = incusCallsFor(write, { project: 'distctl', remote: 'lab' });
    expect(push?.args.at(-1)).toBe('lab:auth-server/etc/network/interfaces');
    expect(resolver?.args.at(-1)).toBe('lab:auth-server/etc/resolv.conf');
    expect(record?.args.slice(0, 4)).toEqual(['config', 'set', '--', 'lab:auth-server']);
  });

  it('starts a stopped container and resumes a frozen one', () => {
    const observed = convergedState(desired);
    const instances = observed.instances.map((instance) =>
      instance.name === 'db2'
        ? { ...instance, status: 'Stopped', state: null }
        : instance.name === 'db3'
          ? { ...instance, status: 'Frozen' }
          : instance,
    );
    expect(planUp(desired, { ...observed, instances }).actions.map(describeAction)).toEqual([
      '~ container db2: start',
      '~ container db3: resume (frozen)',
    ]);
  });

  it('puts back a drifted reservation and restarts the container to renew its lease', () => {
    const observed = convergedState(desired);
    const drifted = runningInstance(desired, 'db1');
    const instances = observed.instances.map((instance) =>
      instance.name === 'db1'
        ? {
            ...drifted,
            devices: { ...drifted.devices, eth0: { ...drifted.devices.eth0, 'ipv4.address': '10.10.10.99' } },
          }
        : instance,
    );
    const plan = planUp(desired, { ...observed, instances });
    expect(plan.actions.map(describeAction)).toEqual([
      '~ container db1: eth0 10.10.10.99 → 10.10.10.12 on incusbr0',
      '~ container db1: restart (renew its DHCP lease for the new address)',
    ]);
    expect(incusCallsFor(plan.actions[0]!, 'distctl')).toEqual([
      { args: ['config', 'device', 'set', '--', 'db1', 'eth0', 'ipv4.address=10.10.10.12'], project: 'distctl' },
    ]);
  });

  it('restarts a running container that holds a stale address, but not one still waiting for its first lease', () => {
    const observed = convergedState(desired);
    const holding = (address: string | null) =>
      runningInstance(desired, 'db1', {
        state: {
          status: 'Running',
          network: {
            eth0: { addresses: address === null ? [] : [{ family: 'inet', address, netmask: '24', scope: 'global' }] },
          },
        },
      });
    const stale = planUp(desired, {
      ...observed,
      instances: observed.instances.map((instance) => (instance.name === 'db1' ? holding('10.10.9.200') : instance)),
    });
    expect(stale.actions).toEqual([
      { kind: 'restart-instance', container: 'db1', reason: 'renew its DHCP lease: it holds 10.10.9.200' },
    ]);
    expect(incusCallsFor(stale.actions[0]!, 'distctl')).toEqual([
      { args: ['restart', '--', 'db1'], project: 'distctl' },
    ]);
    const waiting = planUp(desired, {
      ...observed,
      instances: observed.instances.map((instance) => (instance.name === 'db1' ? holding(null) : instance)),
    });
    expect(waiting.actions).toEqual([]);
  });

  it('moves a NIC on another network back with a remove and an add, and adds a missing one', () => {
    const observed = convergedState(desired);
    const db1 = runningInstance(desired, 'db1');
    const moved = { ...db1, devices: { ...db1.devices, eth0: { type: 'nic', name: 'eth0', network: 'otherbr0' } } };
    const { eth0: _eth0, ...withoutNic } = db1.devices;
    const plan = planUp(desired, {
      ...observed,
      instances: observed.instances.map((instance) =>
        instance.name === 'db1' ? moved : instance.name === 'db2' ? { ...instance, devices: withoutNic } : instance,
      ),
    });
    expect(plan.actions.map(describeAction)).toEqual([
      '~ container db1: eth0 on otherbr0 → 10.10.10.12 on incusbr0',
      '~ container db2: eth0 missing → 10.10.10.13 on incusbr0',
      '~ container db1: restart (renew its DHCP lease for the new address)',
      '~ container db2: restart (renew its DHCP lease for the new address)',
    ]);
    expect(incusCallsFor(plan.actions[0]!, 'distctl').map((call) => call.args)).toEqual([
      ['config', 'device', 'remove', '--', 'db1', 'eth0'],
      [
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
    ]);
    expect(incusCallsFor(plan.actions[1]!, 'distctl').map((call) => call.args)).toEqual([
      [
        'config',
        'device',
        'add',
        '--',
        'db2',
        'eth0',
        'nic',
        'name=eth0',
        'network=incusbr0',
        'ipv4.address=10.10.10.13',
      ],
    ]);
  });

  it('sets a drifted proxy back in one call and removes an exposure that left the topology', () => {
    const observed = convergedState(desired);
    const web = runningInstance(desired, 'web-server');
    const drifted = {
      ...web,
      devices: {
        ...web.devices,
        'expose-3000': { type: 'proxy', listen: 'tcp:127.0.0.1:3999', connect: 'tcp:127.0.0.1:3000', bind: 'host' },
        'expose-4000': { type: 'proxy', listen: 'tcp:127.0.0.1:4000', connect: 'tcp:127.0.0.1:4000' },
      },
    };
    const plan = planUp(desired, {
      ...observed,
      instances: observed.instances.map((instance) => (instance.name === 'web-server' ? drifted : instance)),
    });
    expect(plan.actions.map(describeAction)).toEqual([
      '~ proxy web-server/expose-3000: was tcp:127.0.0.1:3999 → tcp:127.0.0.1:3000, now tcp:127.0.0.1:3000 → tcp:127.0.0.1:3000',
      '- proxy web-server/expose-4000',
    ]);
    expect(plan.actions.flatMap((action) => incusCallsFor(action, 'distctl')).map((call) => call.args)).toEqual([
      [
        'config',
        'device',
        'set',
        '--',
        'web-server',
        'expose-3000',
        'listen=tcp:127.0.0.1:3000',
        'connect=tcp:127.0.0.1:3000',
      ],
      ['config', 'device', 'remove', '--', 'web-server', 'expose-4000'],
    ]);
  });

  it('fixes network settings distctl owns, and only those', () => {
    const observed = convergedState(desired);
    const plan = planUp(desired, {
      ...observed,
      networks: [ownedNetwork(desired, { 'ipv4.nat': 'false', 'dns.domain': 'custom' })],
    });
    expect(plan.actions.map(describeAction)).toEqual(['~ network incusbr0: ipv4.nat=true']);
  });

  it('reports a container that left the topology, and deletes it only with prune', () => {
    const observed = convergedState(desired);
    const extra = runningInstance(desired, 'db3', { name: 'db4' });
    const withExtra = { ...observed, instances: [...observed.instances, extra] };
    const kept = planUp(desired, withExtra);
    expect(kept.actions).toEqual([]);
    expect(kept.notices.map((notice) => notice.code)).toEqual(['extra-instance']);
    expect(planUp(desired, withExtra, { prune: true }).actions.map(describeAction)).toEqual([
      '- container db4 (not in the topology (--prune))',
    ]);
  });

  it('refuses to adopt a project, network or container it does not own', () => {
    const observed = convergedState(desired);
    const foreign = {
      project: { ...observed.project!, config: {} },
      networks: [{ ...ownedNetwork(desired), config: { 'ipv4.address': '10.10.10.1/24' } }],
      instances: observed.instances.map((instance) =>
        instance.name === 'db1' ? { ...instance, config: {} } : instance,
      ),
    };
    expect(planUp(desired, foreign).conflicts.map((conflict) => conflict.code)).toEqual([
      'project-not-owned',
      'network-not-owned',
      'instance-not-owned',
    ]);
  });

  it('refuses a subnet another network already uses', () => {
    const other = {
      name: 'lxdbr9',
      type: 'bridge',
      managed: true,
      description: '',
      config: { 'ipv4.address': '10.10.0.1/16' },
      used_by: [],
    };
    const plan = planUp(desired, { ...emptyIncus, networks: [other] });
    expect(plan.conflicts).toEqual([
      expect.objectContaining({
        code: 'subnet-in-use',
        message: 'subnet 10.10.10.0/24 overlaps network "lxdbr9" (10.10.0.1/16)',
      }),
    ]);
  });

  it('creates a container with its owner marks and static address in one call', () => {
    const create = planUp(desired, emptyIncus).actions.find((action) => action.kind === 'create-instance')!;
    const [call] = incusCallsFor(create, 'distctl');
    expect(call?.args).toEqual(['create', '--', IMAGE, 'auth-server']);
    expect(call?.project).toBe('distctl');
    expect(parse(String(call?.input))).toEqual(parse(instanceDefinition(desired.containers[0]!, 'distctl')));
    expect(parse(String(call?.input))).toEqual({
      config: { 'user.distctl.owner': 'distctl', 'user.distctl.container': 'auth-server', 'user.distctl.image': IMAGE },
      devices: { eth0: { type: 'nic', name: 'eth0', network: 'incusbr0', 'ipv4.address': '10.10.10.10' } },
    });
  });
});

describe('planDown', () => {
  it('removes owned instances, then the network, then the project', () => {
    expect(planDown(desired, convergedState(desired)).actions.map(describeAction)).toEqual([
      '- container auth-server (distctl down)',
      '- container web-server (distctl down)',
      '- container db1 (distctl down)',
      '- container db2 (distctl down)',
      '- container db3 (distctl down)',
      '- network incusbr0',
      '- project distctl',
    ]);
  });

  it("keeps what is not distctl's, and the project holding it", () => {
    const observed = convergedState(desired);
    const stranger = { ...runningInstance(desired, 'db1'), name: 'stranger', config: {} };
    const plan = planDown(desired, {
      ...observed,
      instances: [...observed.instances, stranger],
      networks: [{ ...ownedNetwork(desired), config: {} }],
    });
    expect(plan.actions.map(describeAction)).not.toContain('- project distctl');
    expect(plan.actions.map(describeAction)).not.toContain('- network incusbr0');
    expect(plan.notices.map((notice) => notice.code)).toEqual(['foreign-instance', 'network-not-owned']);
  });

  it('has nothing to do when nothing exists', () => {
    expect(planDown(desired, emptyIncus).actions).toEqual([]);
  });
});
