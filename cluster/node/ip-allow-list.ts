import ipaddr from 'ipaddr.js';

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * A CIDR allow-list (IPv4 and IPv6). An empty list allows every address.
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) match IPv4 ranges.
 */
export class IpAllowList {
  private readonly ranges: Range[];

  /** @throws RangeError naming the first entry that is not a valid CIDR or address. */
  constructor(cidrs: readonly string[]) {
    this.ranges = cidrs.map(parseRange);
  }

  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  /** True when `address` (as Node reports `socket.remoteAddress`) is allowed. */
  allows(address: string | undefined): boolean {
    if (this.ranges.length === 0) return true;
    if (address === undefined || !ipaddr.isValid(address)) return false;
    let addr = ipaddr.parse(address);
    if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress()) addr = (addr as ipaddr.IPv6).toIPv4Address();
    for (const [net, bits] of this.ranges) {
      if (net.kind() === addr.kind() && addr.match(net, bits)) return true;
    }
    return false;
  }
}

function parseRange(text: string): Range {
  try {
    if (text.includes('/')) return ipaddr.parseCIDR(text);
    const addr = ipaddr.parse(text);
    return [addr, addr.kind() === 'ipv4' ? 32 : 128];
  } catch {
    throw new RangeError(`invalid CIDR "${text}"`);
  }
}
