import net from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** `10.0.0.0/8`, `::1/128`, or a bare address (a /32 or /128). */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const version = net.isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return undefined;
  const prefix = Number(prefixText);
  if (prefix > max) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** Client addresses allowed to use an endpoint group. */
export class AddressAllowList {
  private readonly list = new net.BlockList();
  readonly isEmpty: boolean;

  constructor(cidrs: readonly string[]) {
    for (const text of cidrs) {
      const c = parseCidr(text);
      if (c === undefined) throw new Error(`invalid CIDR "${text}"`);
      this.list.addSubnet(c.address, c.prefix, c.family);
    }
    this.isEmpty = cidrs.length === 0;
  }

  allows(address: string): boolean {
    if (this.isEmpty) return true;
    // a dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d
    const v4 = address.startsWith('::ffff:') && net.isIPv4(address.slice(7)) ? address.slice(7) : address;
    const family = net.isIPv4(v4) ? 'ipv4' : net.isIPv6(v4) ? 'ipv6' : undefined;
    return family !== undefined && this.list.check(v4, family);
  }
}
