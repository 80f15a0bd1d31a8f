import type { DerivedContainer, DerivedNetwork } from '../derive/types.js';
import type { IncusCall } from '../incus/client.js';
import type { IncusInstance } from '../incus/types.js';

/**
 * Static addressing inside the container. Before a container's first start,
 * distctl writes eth0's address (the same one the Incus NIC reserves), the
 * gateway and the DNS server (the bridge, i.e. the gateway) into the
 * container's ifupdown configuration, so the container holds its address as
 * soon as its `networking.service` runs, without asking DHCP. The reservation
 * stays, so Incus and the container agree, and an image that does not read
 * ifupdown's file (systemd-networkd, netplan) ignores it and still gets the
 * same address by DHCP from the reservation; `up` waits for the address either
 * way. What was written is recorded on the instance (STATIC_ADDRESS_KEY), so
 * observing it costs no call per container and a changed address is rewritten.
 */

/** Instance config key recording the static address last written into the container: `10.0.0.5/24 via 10.0.0.1`. */
export const STATIC_ADDRESS_KEY = 'user.distctl.static-ipv4';

/** The file the static configuration is written to, read by ifupdown's `networking.service`. */
export const INTERFACES_PATH = '/etc/network/interfaces';

/** eth0's static IPv4 configuration. */
export interface StaticAddress {
  /** `10.10.10.12/24` */
  readonly cidr: string;
  readonly gateway: string;
  /** The bridge's dnsmasq answers DNS on the gateway address. */
  readonly dns: string;
}

/** The static configuration a container gets on the deployment's bridge. */
export function staticAddressFor(container: DerivedContainer, network: DerivedNetwork): StaticAddress {
  return { cidr: `${container.ipv4}/${network.prefixLength}`, gateway: network.gateway, dns: network.gateway };
}

/** The value recorded under STATIC_ADDRESS_KEY for an address (what `plan` compares). */
export function staticAddressRecord(address: StaticAddress): string {
  const dns = address.dns === address.gateway ? '' : ` dns ${address.dns}`;
  return `${address.cidr} via ${address.gateway}${dns}`;
}

/** The static address an instance records as written, or null when none was. */
export function recordedStaticAddress(instance: IncusInstance): string | null {
  return instance.config[STATIC_ADDRESS_KEY] ?? null;
}

/**
 * `/etc/network/interfaces` with eth0 static. The image has no resolvconf, so
 * the `up` line writes the resolver itself (dhclient did that before); an image
 * that does not use ifupdown never runs it.
 */
export function renderInterfaces(address: StaticAddress): string {
  return [
    `# Written by distctl: eth0 holds the address Incus reserves for this container (${STATIC_ADDRESS_KEY}).`,
    'auto lo',
    'iface lo inet loopback',
    '',
    'auto eth0',
    'iface eth0 inet static',
    `    address ${address.cidr}`,
    `    gateway ${address.gateway}`,
    `    up echo nameserver ${address.dns} > /etc/resolv.conf`,
    '',
  ].join('\n');
}

/**
 * The incus calls that write a container's static address: the file (from
 * stdin; Incus writes into a stopped container's filesystem as well), then the
 * record, so a failed write is never recorded as done and the next `up` retries.
 */
export function staticAddressCalls(container: string, address: StaticAddress, project: string): IncusCall[] {
  return [
    {
      args: ['file', 'push', '--create-dirs', '--mode', '0644', '--', '-', `${container}${INTERFACES_PATH}`],
      project,
      input: renderInterfaces(address),
    },
    {
      args: ['config', 'set', '--', container, `${STATIC_ADDRESS_KEY}=${staticAddressRecord(address)}`],
      project,
    },
  ];
}
