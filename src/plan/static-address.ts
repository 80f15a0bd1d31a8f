import type { DerivedContainer, DerivedNetwork } from '../derive/types.js';
import type { IncusCall } from '../incus/client.js';
import type { IncusInstance } from '../incus/types.js';
import { formatIpv4, parseSubnet } from '../topology/ipv4.js';

/**
 * Static addressing. Before a container's first start, distctl gives its eth0
 * the address the Incus NIC reserves, in two places:
 *
 * - the instance's `raw.lxc` (`lxc.net.0.ipv4.address` and `.gateway`, the only
 *   `lxc.net.*` keys Incus accepts there): LXC puts the address and the default
 *   route on eth0 inside the container's network namespace before its init
 *   runs, so the container holds its address when `incus start` returns,
 *   whatever the image and however long its boot takes;
 * - the container's ifupdown file, with eth0 `manual` (the address is already
 *   there: a `static` stanza would fail on it, and DHCP would only repeat it or,
 *   on a cluster whose members each answer DHCP, add a wrong one);
 * - `/etc/resolv.conf` pointing at the gateway (the bridge's DNS), in place
 *   before the boot too, so names resolve as soon as the address is there (the
 *   databases stage starts right away, and its first step may resolve the
 *   package repository's name).
 *
 * The reservation stays, so Incus and the container agree. What was written is
 * recorded on the instance (STATIC_ADDRESS_KEY) in the same call as `raw.lxc`,
 * after the file, so observing it costs no call per container, a failed write
 * is retried, and a changed address is written again.
 */

/** Instance config key recording the static address last written into the container: `10.0.0.5/24 via 10.0.0.1`. */
export const STATIC_ADDRESS_KEY = 'user.distctl.static-ipv4';

/** The file the static configuration is written to, read by ifupdown's `networking.service`. */
export const INTERFACES_PATH = '/etc/network/interfaces';

/** The resolver's configuration (the images distctl builds have no resolvconf, and nothing else rewrites it). */
export const RESOLV_CONF_PATH = '/etc/resolv.conf';

/** eth0's static IPv4 configuration. */
export interface StaticAddress {
  /** `10.10.10.12/24` */
  readonly cidr: string;
  /** The subnet's broadcast address (LXC would otherwise derive a wrong one). */
  readonly broadcast: string;
  readonly gateway: string;
  /** The bridge's dnsmasq answers DNS on the gateway address. */
  readonly dns: string;
}

/** The static configuration a container gets on the deployment's bridge. */
export function staticAddressFor(container: DerivedContainer, network: DerivedNetwork): StaticAddress {
  const cidr = `${container.ipv4}/${network.prefixLength}`;
  const broadcast = formatIpv4(parseSubnet(cidr)?.subnet.broadcast ?? 0);
  return { cidr, broadcast, gateway: network.gateway, dns: network.gateway };
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

/** The `raw.lxc` that gives eth0 its address and default route before the container's init runs. */
export function renderRawLxc(address: StaticAddress): string {
  return `lxc.net.0.ipv4.address = ${address.cidr} ${address.broadcast}\nlxc.net.0.ipv4.gateway = ${address.gateway}\n`;
}

/**
 * `/etc/network/interfaces` with eth0 `manual`: ifupdown leaves the address LXC set alone and asks no DHCP (whose
 * client wrote the resolver before; distctl writes it now). An image that does not use ifupdown never reads it.
 */
export function renderInterfaces(address: StaticAddress): string {
  return [
    `# Written by distctl: eth0's address (${address.cidr} via ${address.gateway}) comes from raw.lxc.`,
    'auto lo',
    'iface lo inet loopback',
    '',
    'auto eth0',
    'iface eth0 inet manual',
    '',
  ].join('\n');
}

/** `/etc/resolv.conf`: the bridge's DNS. */
export function renderResolvConf(address: StaticAddress): string {
  return `# Written by distctl: the bridge's DNS.\nnameserver ${address.dns}\n`;
}

/**
 * The incus calls that write a container's static address: the two files (from stdin; Incus writes into a stopped
 * container's filesystem as well), then `raw.lxc` and the record in one call, so a failed write is never recorded
 * as done and the next `up` retries. `raw.lxc` takes effect at the next start. `container` is the instance as
 * calls name it (`REMOTE:NAME` on a remote).
 */
export function staticAddressCalls(container: string, address: StaticAddress, project: string): IncusCall[] {
  const push = (path: string, input: string): IncusCall => ({
    args: ['file', 'push', '--create-dirs', '--mode', '0644', '--', '-', `${container}${path}`],
    project,
    input,
  });
  return [
    push(INTERFACES_PATH, renderInterfaces(address)),
    push(RESOLV_CONF_PATH, renderResolvConf(address)),
    {
      args: [
        'config',
        'set',
        '--',
        container,
        `raw.lxc=${renderRawLxc(address)}`,
        `${STATIC_ADDRESS_KEY}=${staticAddressRecord(address)}`,
      ],
      project,
    },
  ];
}

/** Whether an instance carries the address as distctl last wrote it: the record and `raw.lxc` both. */
export function staticAddressInPlace(instance: IncusInstance, address: StaticAddress): boolean {
  return (
    recordedStaticAddress(instance) === staticAddressRecord(address) &&
    instance.config['raw.lxc'] === renderRawLxc(address)
  );
}
