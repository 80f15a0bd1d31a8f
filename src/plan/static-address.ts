import type { DerivedContainer, DerivedNetwork } from '../derive/types.js';
import type { IncusCall } from '../incus/client.js';
import type { IncusInstance } from '../incus/types.js';
import { formatIpv4, parseSubnet } from '../topology/ipv4.js';

/**
 * Static addressing. Before a container's first start distctl sets eth0's
 * address (the one the Incus NIC reserves) and the gateway in the instance's
 * LXC configuration (`raw.lxc` `lxc.net.0.ipv4.*`), so LXC configures eth0
 * before the container's init runs: the address is there when `incus start`
 * returns, for any image, without DHCP and without waiting for the boot to
 * reach its network service. Inside, distctl writes ifupdown's file so that the
 * image's own network service leaves eth0 alone (`manual`: no DHCP client that
 * could take another lease, which matters where several DHCP servers answer
 * one segment) and points the resolver at the bridge (the gateway). The
 * reservation stays, so Incus and the container agree. What was written is
 * recorded on the instance (STATIC_ADDRESS_KEY), so observing it costs no call
 * per container and a changed address is written again.
 */

/** Instance config key recording the static address last written into the container: `10.0.0.5/24 via 10.0.0.1`. */
export const STATIC_ADDRESS_KEY = 'user.distctl.static-ipv4';

/** The file written inside the container, read by ifupdown's `networking.service`. */
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
 * The instance's `raw.lxc`: LXC's own keys for the first NIC (eth0, the only
 * NIC distctl gives a container), with the broadcast spelled out because LXC
 * does not derive it from the prefix.
 */
export function staticRawLxc(address: StaticAddress): string {
  const subnet = parseSubnet(address.cidr)?.subnet;
  const broadcast = subnet === undefined ? '' : ` ${formatIpv4(subnet.broadcast)}`;
  return [`lxc.net.0.ipv4.address = ${address.cidr}${broadcast}`, `lxc.net.0.ipv4.gateway = ${address.gateway}`].join(
    '\n',
  );
}

/** Whether an instance carries exactly this static address: the record and the LXC keys both. */
export function hasStaticAddress(instance: IncusInstance, address: StaticAddress): boolean {
  return (
    recordedStaticAddress(instance) === staticAddressRecord(address) &&
    instance.config['raw.lxc'] === staticRawLxc(address)
  );
}

/**
 * `/etc/network/interfaces`: eth0 `manual`, since LXC has configured it before
 * boot; the image has no resolvconf, so the `up` line writes the resolver. An
 * image that does not use ifupdown never reads the file.
 */
export function renderInterfaces(address: StaticAddress): string {
  return [
    `# Written by distctl: LXC gives eth0 ${address.cidr} via ${address.gateway} before boot (raw.lxc), the`,
    '# address Incus reserves for this container; no DHCP client runs.',
    'auto lo',
    'iface lo inet loopback',
    '',
    'auto eth0',
    'iface eth0 inet manual',
    `    up echo nameserver ${address.dns} > /etc/resolv.conf`,
    '',
  ].join('\n');
}

/**
 * The incus calls that give a container its static address: the file (from
 * stdin; Incus writes into a stopped container's filesystem as well), then the
 * LXC keys and the record in one call, so a failed write is never recorded as
 * done and the next `up` retries. A running container takes it at its next start.
 * `container` is the instance as calls name it (`REMOTE:NAME` on a remote).
 */
export function staticAddressCalls(container: string, address: StaticAddress, project: string): IncusCall[] {
  return [
    {
      args: ['file', 'push', '--create-dirs', '--mode', '0644', '--', '-', `${container}${INTERFACES_PATH}`],
      project,
      input: renderInterfaces(address),
    },
    {
      args: [
        'config',
        'set',
        '--',
        container,
        `raw.lxc=${staticRawLxc(address)}`,
        `${STATIC_ADDRESS_KEY}=${staticAddressRecord(address)}`,
      ],
      project,
    },
  ];
}
