/** IPv4 arithmetic for topology checks and derivation; addresses are handled as unsigned 32-bit integers. */

/** Parses dotted IPv4, or returns null when an octet is out of range. */
export function parseIpv4(text: string): number | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIpv4(value: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(value / 2 ** shift) % 256).join('.');
}

/** An IPv4 network: its first address, prefix length, and the addresses it holds. */
export interface Ipv4Subnet {
  readonly network: number;
  readonly prefixLength: number;
  readonly broadcast: number;
}

/** Parses `a.b.c.d/n`. `hostBitsSet` tells when the address is not the network's first address. */
export function parseSubnet(cidr: string): { subnet: Ipv4Subnet; hostBitsSet: boolean } | null {
  const [address, prefixText] = cidr.split('/');
  if (address === undefined || prefixText === undefined || !/^\d{1,2}$/.test(prefixText)) return null;
  const base = parseIpv4(address);
  const prefixLength = Number(prefixText);
  if (base === null || prefixLength > 32) return null;
  const size = 2 ** (32 - prefixLength);
  const network = base - (base % size);
  return { subnet: { network, prefixLength, broadcast: network + size - 1 }, hostBitsSet: network !== base };
}

export function subnetContains(subnet: Ipv4Subnet, address: number): boolean {
  return address >= subnet.network && address <= subnet.broadcast;
}

/** True when the two networks share any address. */
export function subnetsOverlap(a: Ipv4Subnet, b: Ipv4Subnet): boolean {
  return a.network <= b.broadcast && b.network <= a.broadcast;
}
