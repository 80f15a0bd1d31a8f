import { networkInterfaces } from 'node:os';
import { parseIpv4, parseSubnet, subnetContains } from '../topology/ipv4.js';

/** The host's IPv4 interface addresses with their prefixes, as `os.networkInterfaces()` lists them. */
export type HostInterfaces = ReturnType<typeof networkInterfaces>;

/**
 * Whether distctl may open a connection from this host to `host` (an address, `address:port` or a name):
 * loopback, names and Unix sockets always; an IPv4 address only when one of the host's own interfaces is on
 * its subnet. distctl talks to containers over the bridge it made (or, on a cluster, the host's own leg on
 * the deployment's network); an address reached only through a gateway is somebody else's network, and a
 * probe there would leave the host. So such an address is refused before any packet is sent.
 */
export function directlyReachable(host: string, interfaces: HostInterfaces = networkInterfaces()): boolean {
  const address = parseIpv4(host.replace(/:\d+$/, ''));
  if (address === null) return true;
  if (Math.floor(address / 2 ** 24) === 127) return true;
  for (const entries of Object.values(interfaces)) {
    for (const entry of entries ?? []) {
      if (entry.family !== 'IPv4' || entry.cidr === null) continue;
      const subnet = parseSubnet(entry.cidr)?.subnet;
      if (subnet !== undefined && subnet.prefixLength > 0 && subnetContains(subnet, address)) return true;
    }
  }
  return false;
}

/** The one-line reason given for an address `directlyReachable` refuses. */
export function unreachableReason(host: string): string {
  return (
    `${host} is not on a network of this host (no interface in its subnet); distctl does not send ` +
    `traffic through a gateway — run it on a host with a leg on the deployment's network`
  );
}

/** The refusal of `hostFetch` for an address `directlyReachable` refuses; nothing was sent. */
export class NotOnHostNetworkError extends Error {
  constructor(readonly host: string) {
    super(unreachableReason(host));
    this.name = 'NotOnHostNetworkError';
  }
}

/**
 * The `fetch` distctl's own probes use from the host: the platform's `fetch`, refusing (without sending
 * anything) a URL whose address this host reaches only through a gateway.
 */
export const hostFetch: typeof fetch = async (input, init) => {
  const url = input instanceof Request ? input.url : String(input);
  const { hostname } = new URL(url);
  if (!directlyReachable(hostname)) throw new NotOnHostNetworkError(hostname);
  return fetch(input, init);
};
