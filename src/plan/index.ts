import type { DerivedContainer, DesiredState } from '../derive/types.js';
import { parseSubnet, subnetsOverlap } from '../topology/ipv4.js';
import { OWNER_KEY, type IncusInstance } from '../incus/types.js';
import { parseUsedBy } from '../incus/used-by.js';
import { instanceAddresses, proxyInPlace, type ObservedIncus } from '../observe/incus.js';
import { placeContainers, unavailableMembers, unavailableNotice } from './placement.js';
import {
  recordedStaticAddress,
  staticAddressFor,
  staticAddressInPlace,
  staticAddressRecord,
} from './static-address.js';
import type { Action, Conflict, Notice, Plan } from './types.js';

export type * from './types.js';

/** Network config keys distctl sets and therefore diffs; everything else Incus computes is ignored. */
export function desiredNetworkConfig(desired: DesiredState): Record<string, string> {
  return {
    'ipv4.address': desired.network.ipv4Address,
    'ipv4.nat': String(desired.network.nat),
    'ipv4.dhcp': 'true',
    'ipv6.address': 'none',
    ...tunnelConfig(desired.network),
    [OWNER_KEY]: desired.project,
  };
}

/** The name of the VXLAN tunnel in the bridge's `tunnel.NAME.*` keys; Incus names its interface `BRIDGE-vx`. */
export const TUNNEL_NAME = 'vx';

/**
 * The bridge keys joining a cluster's member bridges over VXLAN (multicast: the same keys on every member).
 * `bridge.hwaddr` gives every member's bridge one MAC, so the gateway address each of them holds is one
 * gateway on the stretched segment (answered locally on every member) instead of conflicting ARP answers.
 */
function tunnelConfig(network: DesiredState['network']): Record<string, string> {
  const { tunnel } = network;
  if (tunnel === null) return {};
  const prefix = `tunnel.${TUNNEL_NAME}`;
  return {
    [`${prefix}.protocol`]: 'vxlan',
    [`${prefix}.id`]: String(tunnel.id),
    [`${prefix}.group`]: tunnel.group,
    ...(tunnel.interface === null ? {} : { [`${prefix}.interface`]: tunnel.interface }),
    'bridge.hwaddr': gatewayMac(network.name),
  };
}

/** A locally administered unicast MAC derived from the network name: the same on every member, stable. */
function gatewayMac(name: string): string {
  let hash = 0x811c9dc5;
  for (const char of name) hash = Math.imul(hash ^ (char.codePointAt(0) ?? 0), 0x01000193) >>> 0;
  const bytes = [0x02, 0xd1, (hash >>> 24) & 0xff, (hash >>> 16) & 0xff, (hash >>> 8) & 0xff, hash & 0xff];
  return bytes.map((byte) => byte.toString(16).padStart(2, '0')).join(':');
}

/**
 * What `up` must do to make Incus match the desired state, in order: project,
 * network, instances (created, NIC fixed, static address written, started), proxy devices. Pure.
 * Conflicts (things distctl does not own standing in the way) are returned,
 * not thrown, so all of them can be reported at once.
 */
export function planUp(desired: DesiredState, observed: ObservedIncus, options: { prune?: boolean } = {}): Plan {
  const actions: Action[] = [];
  const conflicts: Conflict[] = [];
  const notices: Notice[] = [];
  const project = desired.project;
  const placement = placeContainers(desired, observed);
  conflicts.push(...placement.conflicts);
  notices.push(...placement.drift);
  const unavailable = unavailableMembers(observed);

  if (observed.project === null) {
    actions.push({ kind: 'create-project', project });
  } else if (observed.project.config[OWNER_KEY] !== project) {
    conflicts.push({
      code: 'project-not-owned',
      subject: `project ${project}`,
      message: `Incus project "${project}" exists but was not created by distctl`,
      hint: `distctl never touches what it does not own. Set \`project:\` in topology.yaml to a new name, or remove the project yourself if it is unused.`,
    });
  }

  planNetwork(desired, observed, actions, conflicts);

  const observedByName = new Map(observed.instances.map((instance) => [instance.name, instance]));
  const toAddress: Action[] = [];
  const toStart: Action[] = [];
  for (const container of desired.containers) {
    const instance = observedByName.get(container.name);
    const address = staticAddressFor(container, desired.network);
    if (instance === undefined) {
      actions.push({ kind: 'create-instance', container, member: placement.members.get(container.name) ?? null });
      toAddress.push({ kind: 'write-address', container: container.name, address, from: null });
      toStart.push({ kind: 'start-instance', container: container.name, resume: false });
      continue;
    }
    const down = unavailableNotice(unavailable, container.name, instance.location);
    if (down !== null) {
      notices.push(down);
      continue;
    }
    if (instance.config[OWNER_KEY] !== project) {
      conflicts.push({
        code: 'instance-not-owned',
        subject: `container ${container.name}`,
        message: `container "${container.name}" exists in project ${project} but was not created by distctl`,
        hint: 'Rename the container in topology.yaml, or move/delete the existing one yourself.',
      });
      continue;
    }
    const nicChange = planNic(container, instance);
    if (nicChange) actions.push(nicChange);
    // raw.lxc and the file inside follow the reservation: written again whenever the declared address is not the
    // recorded one, or raw.lxc no longer says what distctl wrote.
    const addressChange = !staticAddressInPlace(instance, address);
    if (addressChange) {
      const record = recordedStaticAddress(instance);
      const from = record === staticAddressRecord(address) ? `${record}, with a different raw.lxc` : record;
      toAddress.push({ kind: 'write-address', container: container.name, address, from });
    }
    const status = instance.status;
    if (status === 'Frozen') toStart.push({ kind: 'start-instance', container: container.name, resume: true });
    else if (status !== 'Running') toStart.push({ kind: 'start-instance', container: container.name, resume: false });
    else if (nicChange || addressChange)
      toStart.push({
        kind: 'restart-instance',
        container: container.name,
        reason: addressChange ? 'take its new static address' : 'renew its DHCP lease for the new address',
      });
    else if (holdsStaleLease(container, instance)) {
      // The reservation is right but the lease predates it (e.g. the bridge's subnet was changed and put
      // back): only a restart renews it.
      const reason = `renew its DHCP lease: it holds ${instanceAddresses(instance).join(', ')}`;
      toStart.push({ kind: 'restart-instance', container: container.name, reason });
    }
    const declaredImage = instance.config['user.distctl.image'];
    if (declaredImage !== undefined && declaredImage !== container.image) {
      notices.push({
        code: 'image-changed',
        subject: `container ${container.name}`,
        message: `was created from ${declaredImage}, topology now names ${container.image}; distctl does not recreate containers (delete it with \`incus delete\` to rebuild)`,
      });
    }
  }
  actions.push(...toAddress, ...toStart);

  for (const proxy of desired.proxies) {
    const instance = observedByName.get(proxy.container);
    const device = instance?.devices[proxy.device];
    if (device === undefined) {
      if (instance === undefined || instance.config[OWNER_KEY] === project) actions.push({ kind: 'add-proxy', proxy });
    } else if (!proxyInPlace(instance, proxy)) {
      actions.push({ kind: 'set-proxy', proxy, from: `${device.listen ?? '?'} → ${device.connect ?? '?'}` });
    }
  }
  const wantedProxies = new Set(desired.proxies.map((proxy) => `${proxy.container}/${proxy.device}`));
  for (const instance of observed.instances) {
    if (instance.config[OWNER_KEY] !== project) continue;
    for (const [device, config] of Object.entries(instance.devices)) {
      if (config.type === 'proxy' && device.startsWith('expose-') && !wantedProxies.has(`${instance.name}/${device}`)) {
        actions.push({ kind: 'remove-proxy', container: instance.name, device });
      }
    }
  }

  const wanted = new Set(desired.containers.map((container) => container.name));
  for (const instance of observed.instances) {
    if (wanted.has(instance.name)) continue;
    const down = unavailableNotice(unavailable, instance.name, instance.location);
    if (down !== null) {
      notices.push(down);
      continue;
    }
    if (instance.config[OWNER_KEY] !== project) {
      notices.push({
        code: 'foreign-instance',
        subject: `container ${instance.name}`,
        message: "is in the project but not distctl's; left alone",
      });
    } else if (options.prune) {
      actions.push({ kind: 'delete-instance', container: instance.name, reason: 'not in the topology (--prune)' });
    } else {
      notices.push({
        code: 'extra-instance',
        subject: `container ${instance.name}`,
        message: 'was created by distctl but is no longer in the topology; `distctl up --prune` removes it',
      });
    }
  }
  return { project, remote: desired.remote, actions, conflicts, notices };
}

function planNetwork(desired: DesiredState, observed: ObservedIncus, actions: Action[], conflicts: Conflict[]): void {
  const { networks } = observed;
  const wantedConfig = desiredNetworkConfig(desired);
  const existing = networks.find((network) => network.name === desired.network.name);
  // On a cluster a bridge is defined per member before it is created; one left pending by an interrupted run
  // lists the members it is already defined on.
  const members = (observed.cluster?.members ?? []).map((member) => member.server_name).sort();
  if (existing?.status === 'Pending') {
    const defined = new Set(existing.locations ?? []);
    const missing = members.filter((member) => !defined.has(member));
    actions.push({ kind: 'create-network', network: desired.network, config: wantedConfig, members: missing });
    return;
  }
  const ours = parseSubnet(desired.network.subnet)?.subnet;
  for (const other of networks) {
    if (other.name === desired.network.name || !other.config['ipv4.address']) continue;
    const theirs = parseSubnet(other.config['ipv4.address'])?.subnet;
    if (ours && theirs && subnetsOverlap(ours, theirs)) {
      conflicts.push({
        code: 'subnet-in-use',
        subject: `network ${desired.network.name}`,
        message: `subnet ${desired.network.subnet} overlaps network "${other.name}" (${other.config['ipv4.address']})`,
        hint: 'Choose a free subnet for network.subnet in topology.yaml (and move the container addresses with it).',
      });
    }
  }
  if (existing === undefined) {
    actions.push({ kind: 'create-network', network: desired.network, config: wantedConfig, members });
    return;
  }
  const owner = existing.config[OWNER_KEY];
  if (owner !== desired.project) {
    conflicts.push({
      code: 'network-not-owned',
      subject: `network ${existing.name}`,
      message: owner
        ? `network "${existing.name}" belongs to distctl project "${owner}"`
        : `network "${existing.name}" exists but was not created by distctl`,
      hint: 'Give network.name in topology.yaml a name no other network uses (e.g. distbr0).',
    });
    return;
  }
  const set = Object.fromEntries(Object.entries(wantedConfig).filter(([key, value]) => existing.config[key] !== value));
  if (Object.keys(set).length > 0) actions.push({ kind: 'update-network', network: existing.name, set });
}

/** The NIC change an instance needs, if its eth0 is not the declared bridge + reservation. */
function planNic(container: DerivedContainer, instance: IncusInstance): Action | null {
  const nic = instance.devices[container.nic.device];
  if (nic === undefined) return { kind: 'set-nic', container, replace: false, from: 'missing' };
  if (nic.type !== 'nic' || nic.network !== container.nic.network) {
    return { kind: 'set-nic', container, replace: true, from: `on ${nic.network ?? nic.parent ?? nic.type}` };
  }
  if (nic['ipv4.address'] !== container.nic.ipv4Address) {
    return { kind: 'set-nic', container, replace: false, from: nic['ipv4.address'] ?? 'no reserved address' };
  }
  return null;
}

/**
 * Whether a running container holds an IPv4 address on eth0 other than its
 * declared one (none yet is not stale: DHCP may still be answering).
 */
function holdsStaleLease(container: DerivedContainer, instance: IncusInstance): boolean {
  const held = instanceAddresses(instance);
  return instance.status === 'Running' && held.length > 0 && (held.length !== 1 || held[0] !== container.ipv4);
}

/**
 * What `down` removes: only instances, proxy devices, network and project that
 * carry distctl's owner mark for this project, in dependency order.
 */
export function planDown(desired: DesiredState, observed: ObservedIncus): Plan {
  const actions: Action[] = [];
  const notices: Notice[] = [];
  const project = desired.project;
  const unavailable = unavailableMembers(observed);
  const unreachable = observed.instances.filter(
    (instance) => unavailableNotice(unavailable, instance.name, instance.location) !== null,
  );
  const reachable = observed.instances.filter((instance) => !unreachable.includes(instance));
  const owned = reachable.filter((instance) => instance.config[OWNER_KEY] === project);
  // An instance on an unreachable member cannot be deleted now; it keeps the project, as a foreign one does.
  const foreign = [...reachable.filter((instance) => instance.config[OWNER_KEY] !== project), ...unreachable];
  for (const instance of unreachable) {
    const down = unavailableNotice(unavailable, instance.name, instance.location);
    if (down !== null) notices.push(down);
  }
  for (const instance of owned)
    actions.push({ kind: 'delete-instance', container: instance.name, reason: 'distctl down' });
  for (const instance of foreign.filter((candidate) => !unreachable.includes(candidate)))
    notices.push({
      code: 'foreign-instance',
      subject: `container ${instance.name}`,
      message: "is not distctl's; left in place (so the project stays too)",
    });

  const network = observed.networks.find((candidate) => candidate.name === desired.network.name);
  if (network && network.config[OWNER_KEY] === project) {
    const ours = (user: string): boolean => {
      const entry = parseUsedBy(user);
      if (entry?.collection === 'profiles') return true;
      return (
        entry?.collection === 'instances' &&
        entry.project === project &&
        owned.some((instance) => instance.name === entry.name)
      );
    };
    const otherUsers = (network.used_by ?? []).filter((user) => !ours(user));
    if (otherUsers.length === 0) actions.push({ kind: 'delete-network', network: network.name });
    else
      notices.push({
        code: 'network-in-use',
        subject: `network ${network.name}`,
        message: `still used by ${otherUsers.join(', ')}; left in place`,
      });
  } else if (network) {
    notices.push({
      code: 'network-not-owned',
      subject: `network ${network.name}`,
      message: 'was not created by distctl; left in place',
    });
  }
  if (observed.project && observed.project.config[OWNER_KEY] === project && foreign.length === 0) {
    actions.push({ kind: 'delete-project', project });
  } else if (observed.project && observed.project.config[OWNER_KEY] !== project) {
    notices.push({
      code: 'project-not-owned',
      subject: `project ${project}`,
      message: 'was not created by distctl; left in place',
    });
  }
  return { project, remote: desired.remote, actions, conflicts: [], notices };
}
