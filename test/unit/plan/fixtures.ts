// Builders of observed Incus state for the pure plan tests: data in, no daemon.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { deriveDesiredState } from '../../../src/derive/index.js';
import type { DesiredState } from '../../../src/derive/types.js';
import type { IncusInstance, IncusNetwork } from '../../../src/incus/types.js';
import type { ObservedIncus } from '../../../src/observe/incus.js';
import {
  renderRawLxc,
  STATIC_ADDRESS_KEY,
  staticAddressFor,
  staticAddressRecord,
} from '../../../src/plan/static-address.js';
import { parseTopology } from '../../../src/topology/load.js';

export function referenceDesired(): DesiredState {
  const report = parseTopology(
    readFileSync(join(import.meta.dirname, '../../../topology.yaml'), 'utf8'),
    'topology.yaml',
  );
  if (!report.topology) throw new Error('reference topology invalid');
  return deriveDesiredState(report.topology);
}

export function ownedNetwork(desired: DesiredState, config: Record<string, string> = {}): IncusNetwork {
  return {
    name: desired.network.name,
    type: 'bridge',
    managed: true,
    description: '',
    config: {
      'ipv4.address': desired.network.ipv4Address,
      'ipv4.nat': 'true',
      'ipv4.dhcp': 'true',
      'ipv6.address': 'none',
      'user.distctl.owner': desired.project,
      'volatile.computed': 'x',
      ...config,
    },
    used_by: [],
  };
}

export function runningInstance(
  desired: DesiredState,
  name: string,
  overrides: Partial<IncusInstance> = {},
): IncusInstance {
  const container = desired.containers.find((candidate) => candidate.name === name);
  if (!container) throw new Error(name);
  const proxies = Object.fromEntries(
    desired.proxies
      .filter((proxy) => proxy.container === name)
      .map((proxy) => [proxy.device, { type: 'proxy', listen: proxy.listen, connect: proxy.connect, bind: 'host' }]),
  );
  return {
    name,
    status: 'Running',
    type: 'container',
    config: {
      'user.distctl.owner': desired.project,
      'user.distctl.container': name,
      'user.distctl.image': container.image,
      [STATIC_ADDRESS_KEY]: staticAddressRecord(staticAddressFor(container, desired.network)),
      'raw.lxc': renderRawLxc(staticAddressFor(container, desired.network)),
      'volatile.eth0.hwaddr': '00:16:3e:00:00:01',
    },
    devices: {
      eth0: { type: 'nic', name: 'eth0', network: container.nic.network, 'ipv4.address': container.ipv4 },
      ...proxies,
    },
    state: {
      status: 'Running',
      network: { eth0: { addresses: [{ family: 'inet', address: container.ipv4, netmask: '24', scope: 'global' }] } },
    },
    ...overrides,
  };
}

/** Incus as it looks right after a successful `up` of `desired`. */
export function convergedState(desired: DesiredState): ObservedIncus {
  return {
    project: {
      name: desired.project,
      description: '',
      config: { 'user.distctl.owner': desired.project, 'features.images': 'false' },
      used_by: [],
    },
    networks: [
      ownedNetwork(desired),
      { name: 'lo', type: 'loopback', managed: false, description: '', config: {}, used_by: null },
    ],
    instances: desired.containers.map((container) => runningInstance(desired, container.name)),
  };
}

export const emptyIncus: ObservedIncus = { project: null, networks: [], instances: [] };
