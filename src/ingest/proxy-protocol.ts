import net from 'node:net';

/**
 * The PROXY protocol (HAProxy's, versions 1 and 2): the header an L4 load
 * balancer writes at the start of each connection it opens to us, naming the
 * client it is forwarding. Parsing is pure and incremental: call it on what
 * has arrived so far (ProxyHeaderReader keeps that) until it says `header` or
 * `invalid`; every header's length is bounded, so a sender cannot make us
 * buffer more than a few kilobytes before deciding.
 *
 * Spec: https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt
 */

export interface ProxyAddress {
  /** Canonical text form (IPv6 as inet_ntop writes it: `2001:db8::1`, `::ffff:1.2.3.4`). */
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

export type ProxyHeaderResult =
  | { readonly kind: 'need-more' }
  | {
      readonly kind: 'header';
      readonly version: 1 | 2;
      /** `local`: v2 LOCAL, a connection the balancer made itself (health checks); v1 is always `proxy`. */
      readonly command: 'proxy' | 'local';
      /** The client; null when the header names none (LOCAL, v1 UNKNOWN, v2 UNSPEC or AF_UNIX): use the socket's own peer. */
      readonly source: ProxyAddress | null;
      readonly destination: ProxyAddress | null;
      /** Header bytes, from the start of the buffer; what follows is the client's stream. */
      readonly consumed: number;
    }
  | { readonly kind: 'invalid'; readonly reason: string };

/** The longest v1 header, CRLF included (the spec's bound). */
export const V1_MAX_LENGTH = 107;
/** The 12 bytes every v2 header starts with. */
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** v2 bytes after the addresses (TLVs, which we skip) accepted at most; a longer header is refused. */
export const DEFAULT_MAX_TLV_BYTES = 4096;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_FIXED = 16;
/** v2 address block sizes by family nibble: UNSPEC, INET, INET6, UNIX. */
const V2_ADDRESS_LENGTH = [0, 12, 36, 216] as const;
const NEED_MORE: ProxyHeaderResult = { kind: 'need-more' };

const invalid = (reason: string): ProxyHeaderResult => ({ kind: 'invalid', reason });

/**
 * Parse a PROXY header at the start of `buf` (everything received so far).
 * `need-more`: `buf` is a prefix of a header that may still be valid.
 */
export function parseProxyHeader(buf: Buffer, maxTlvBytes = DEFAULT_MAX_TLV_BYTES): ProxyHeaderResult {
  if (buf.length === 0) return NEED_MORE;
  if (buf[0] === V1_PREFIX[0]) return parseV1(buf);
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf, maxTlvBytes);
  return invalid('not a PROXY protocol header');
}

/** Accumulates a connection's first chunks until parseProxyHeader decides. */
export class ProxyHeaderReader {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly maxTlvBytes = DEFAULT_MAX_TLV_BYTES) {}

  /** Bytes received so far (the header and whatever followed it in the same chunks). */
  get received(): Buffer {
    return this.buf;
  }

  push(chunk: Buffer): ProxyHeaderResult {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    return parseProxyHeader(this.buf, this.maxTlvBytes);
  }

  /** What followed the header (call after push() returned `header`). */
  rest(consumed: number): Buffer {
    return this.buf.subarray(consumed);
  }
}

function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.compare(prefix, 0, n, 0, n) === 0;
}

function parseV1(buf: Buffer): ProxyHeaderResult {
  if (!startsLike(buf, V1_PREFIX)) return invalid('not a PROXY protocol header');
  const lf = buf.subarray(0, V1_MAX_LENGTH).indexOf(0x0a);
  if (lf < 0) return buf.length >= V1_MAX_LENGTH ? invalid(`v1 header longer than ${V1_MAX_LENGTH} bytes`) : NEED_MORE;
  if (buf[lf - 1] !== 0x0d) return invalid('v1 header not terminated by CRLF');
  const line = buf.toString('latin1', 0, lf - 1);
  const fields = line.split(' ');
  const consumed = lf + 1;
  const proto = fields[1];
  if (proto === 'UNKNOWN') return { kind: 'header', version: 1, command: 'proxy', source: null, destination: null, consumed };
  if (proto !== 'TCP4' && proto !== 'TCP6') return invalid(`v1 protocol is not TCP4, TCP6 or UNKNOWN`);
  if (fields.length !== 6) return invalid('v1 header does not have 6 space-separated fields');
  const family = proto === 'TCP4' ? 'IPv4' : 'IPv6';
  const src = v1Address(fields[2], fields[4], family);
  const dst = v1Address(fields[3], fields[5], family);
  if (src === null || dst === null) return invalid(`v1 ${proto} header with an invalid address or port`);
  return { kind: 'header', version: 1, command: 'proxy', source: src, destination: dst, consumed };
}

function v1Address(address: string, port: string, family: 'IPv4' | 'IPv6'): ProxyAddress | null {
  if (!/^(0|[1-9]\d{0,4})$/.test(port) || Number(port) > 65535) return null;
  if (family === 'IPv4') return net.isIPv4(address) ? { address, port: Number(port), family } : null;
  // no zone index (`fe80::1%eth0`): it names an interface of the balancer, not the client
  if (address.includes('%') || !net.isIPv6(address)) return null;
  return { address: canonicalIPv6(address), port: Number(port), family };
}

function parseV2(buf: Buffer, maxTlvBytes: number): ProxyHeaderResult {
  if (!startsLike(buf, V2_SIGNATURE)) return invalid('not a PROXY protocol header');
  if (buf.length < V2_FIXED) return NEED_MORE;
  const verCmd = buf[12] as number;
  if (verCmd >> 4 !== 2) return invalid(`v2 header with version ${verCmd >> 4}`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return invalid(`v2 header with unknown command ${cmd}`);
  const famProto = buf[13] as number;
  const family = famProto >> 4;
  const transport = famProto & 0x0f;
  if (family > 3 || transport > 2) return invalid(`v2 header with unknown address family/transport 0x${famProto.toString(16).padStart(2, '0')}`);
  const length = buf.readUInt16BE(14);
  const addressLength = V2_ADDRESS_LENGTH[family as 0 | 1 | 2 | 3];
  // LOCAL may carry any address block, or none
  if (cmd === 1 && length < addressLength) return invalid(`v2 header too short for its address family (${length} bytes)`);
  if (length - Math.min(length, addressLength) > maxTlvBytes) return invalid(`v2 header longer than ${addressLength} address bytes plus ${maxTlvBytes} bytes of TLVs (${length} bytes)`);
  if (buf.length < V2_FIXED + length) return NEED_MORE;
  const consumed = V2_FIXED + length;
  const command = cmd === 0 ? 'local' : 'proxy';
  if (command === 'local' || (family !== 1 && family !== 2)) return { kind: 'header', version: 2, command, source: null, destination: null, consumed };
  const a = V2_FIXED;
  if (family === 1) {
    const ip = (o: number): string => `${buf[o]}.${buf[o + 1]}.${buf[o + 2]}.${buf[o + 3]}`;
    return {
      kind: 'header',
      version: 2,
      command,
      source: { address: ip(a), port: buf.readUInt16BE(a + 8), family: 'IPv4' },
      destination: { address: ip(a + 4), port: buf.readUInt16BE(a + 10), family: 'IPv4' },
      consumed,
    };
  }
  const ip6 = (o: number): string => {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(o + i).toString(16));
    return canonicalIPv6(groups.join(':'));
  };
  return {
    kind: 'header',
    version: 2,
    command,
    source: { address: ip6(a), port: buf.readUInt16BE(a + 32), family: 'IPv6' },
    destination: { address: ip6(a + 16), port: buf.readUInt16BE(a + 34), family: 'IPv6' },
    consumed,
  };
}

/** One spelling per address, as the socket's own remoteAddress has, so the per-client limit counts one client once. */
function canonicalIPv6(address: string): string {
  return new net.SocketAddress({ address, family: 'ipv6' }).address;
}
