// The in-memory Incus model as a remote and as a cluster refuses what incus refuses, so cluster tests cannot
// pass on argv a real cluster would reject.
import { describe, expect, it } from 'vitest';
import { IncusModel } from '../support/incus-model.js';

const run = async (model: IncusModel, ...args: string[]) => {
  const result = await model.run({ bin: 'incus', args });
  return result.exitCode === 0 ? result.stdout : `exit ${result.exitCode}: ${result.stderr.trim()}`;
};

describe('the Incus model as a cluster remote', () => {
  it('refuses a call that does not address the remote it stands for', async () => {
    const model = new IncusModel({ remote: 'cl', members: ['m1'] });
    await expect(run(model, 'list', '--format', 'json')).rejects.toThrow(
      'IncusModel: `incus list --format json` does not address remote cl:',
    );
    await expect(run(model, 'network', 'create', '--type', 'bridge', '--', 'br0')).rejects.toThrow('does not address');
    expect(await run(model, 'list', 'cl:', '--format', 'json')).toBe('[]\n');
  });

  it('creates a bridge only after every member has its definition, as incus does', async () => {
    const model = new IncusModel({ remote: 'cl', members: ['m1', 'm2', 'm3'] });
    const create = (...more: string[]) => run(model, 'network', 'create', '--type', 'bridge', ...more);
    expect(await create('--', 'cl:br0', 'ipv4.address=10.9.0.1/24')).toBe(
      'exit 1: Error: Network not pending on any node (use --target <node> first)',
    );
    expect(await create('--target', 'm1', '--', 'cl:br0')).toBe('Network br0 pending on member m1\n');
    expect(await create('--target', 'm1', '--', 'cl:br0')).toBe(
      'exit 1: Error: The network already defined on member "m1"',
    );
    expect(await create('--target', 'm2', '--', 'cl:br0', 'ipv4.address=10.9.0.1/24')).toBe(
      'exit 1: Error: Config key "ipv4.address" may not be used as member-specific key',
    );
    expect(await create('--target', 'm9', '--', 'cl:br0')).toBe('exit 1: Error: Member not found');
    expect(await create('--target', 'm2', '--', 'cl:br0')).toBe('Network br0 pending on member m2\n');
    const listed = JSON.parse(await run(model, 'network', 'list', 'cl:', '--format', 'json')) as {
      name: string;
      status: string;
      locations: string[];
    }[];
    expect(listed.filter((network) => network.name === 'br0').map((n) => [n.status, n.locations])).toEqual([
      ['Pending', ['m1', 'm2']],
    ]);
    expect(await create('--', 'cl:br0', 'ipv4.address=10.9.0.1/24')).toBe(
      'exit 1: Error: Network not defined on nodes: m3',
    );
    // An instance cannot use a pending network.
    await run(model, 'project', 'create', '--', 'cl:p');
    model.images.add('img');
    expect(
      await model
        .run({
          bin: 'incus',
          args: ['--project', 'p', 'create', '--', 'cl:img', 'cl:c1'],
          input: 'devices:\n  eth0: {type: nic, name: eth0, network: br0}\n',
        })
        .then((result) => result.stderr.includes('Network not found')),
    ).toBe(true);
    expect(await create('--target', 'm3', '--', 'cl:br0')).toBe('Network br0 pending on member m3\n');
    expect(await create('--', 'cl:br0', 'ipv4.address=10.9.0.1/24', 'tunnel.vx.protocol=vxlan', 'tunnel.vx.id=7')).toBe(
      'Network br0 created\n',
    );
  });

  it('refuses --target off a cluster, to an unknown member, and to a member that is not online', async () => {
    const single = new IncusModel({ images: ['img'] });
    await run(single, 'project', 'create', 'p');
    // The messages measured on Incus 6.0.4 (not clustered).
    expect(await run(single, '--project', 'p', 'create', '--target', 'm1', '--', 'img', 'c1')).toBe(
      'exit 1: Error: Target only allowed when clustered',
    );
    expect(await run(single, 'network', 'create', '--type', 'bridge', '--target', 'm1', '--', 'br0')).toBe(
      'exit 1: Error: Cluster member not found',
    );
    expect(await run(single, 'cluster', 'list', '--format', 'json')).toBe(
      "exit 1: Error: Server isn't part of a cluster",
    );
    const cluster = new IncusModel({ images: ['img'], members: ['m1', 'm2'] });
    await run(cluster, 'project', 'create', 'p');
    expect(await run(cluster, '--project', 'p', 'create', '--target', 'm9', '--', 'img', 'c1')).toBe(
      'exit 1: Error: Member not found',
    );
    cluster.setMemberStatus('m2', 'Evacuated');
    expect(await run(cluster, '--project', 'p', 'create', '--target', 'm2', '--', 'img', 'c1')).toBe(
      'exit 1: Error: Target cluster member "m2" is evacuated',
    );
    // Incus places an untargeted instance on an online member with the fewest instances.
    expect(await run(cluster, '--project', 'p', 'create', '--', 'img', 'c1')).toBe('Creating c1\n');
    expect(cluster.instance('p', 'c1')?.location).toBe('m1');
  });

  it('lists an instance on an offline member as the daemon does: name, location, status Error, nothing else', async () => {
    const model = new IncusModel({ images: ['img'], members: ['m1', 'm2'] });
    await run(model, 'project', 'create', 'p');
    await run(model, '--project', 'p', 'create', '--target', 'm2', '--', 'img', 'c1');
    await run(model, '--project', 'p', 'start', 'c1');
    model.setMemberStatus('m2', 'Offline');
    const [listed] = JSON.parse(await run(model, '--project', 'p', 'list', '--format', 'json')) as Record<
      string,
      unknown
    >[];
    expect(listed).toMatchObject({
      name: 'c1',
      location: 'm2',
      status: 'Error',
      status_code: 400,
      config: null,
      devices: null,
    });
    expect(await run(model, '--project', 'p', 'stop', 'c1')).toBe(
      'exit 1: Error: Unable to connect to cluster member "m2"',
    );
    const members = JSON.parse(await run(model, 'cluster', 'list', '--format', 'json')) as Record<string, unknown>[];
    expect(members.map((member) => [member.server_name, member.status])).toEqual([
      ['m1', 'Online'],
      ['m2', 'Offline'],
    ]);
  });
});
