import { DEFAULT_MAX_TLV_BYTES, parseProxyHeader, ProxyHeaderReader, V1_MAX_LENGTH, V2_SIGNATURE, type ProxyHeaderResult } from '../../src/ingest/proxy-protocol';
import net from 'node:net';

interface Addr {
  address: string;
  port: number;
}

/** A v2 header as HAProxy's send-proxy-v2 writes it: addresses from their text, TLVs as type/length/value; `body` overrides both. */
function proxyV2(o: { command?: 'proxy' | 'local'; family?: number; source?: Addr; destination?: Addr; tlvs?: { type: number; value: Buffer }[]; body?: Buffer }): Buffer {
  const v6 = o.source !== undefined && net.isIPv6(o.source.address);
  let addrs = Buffer.alloc(0);
  if (o.source !== undefined && o.destination !== undefined) {
    const ip = (a: string): Buffer => (v6 ? ipv6Bytes(a) : Buffer.from(a.split('.').map(Number)));
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(o.source.port, 0);
    ports.writeUInt16BE(o.destination.port, 2);
    addrs = Buffer.concat([ip(o.source.address), ip(o.destination.address), ports]);
  }
  const tlvs = (o.tlvs ?? []).map((t) => {
    const head = Buffer.alloc(3);
    head[0] = t.type;
    head.writeUInt16BE(t.value.length, 1);
    return Buffer.concat([head, t.value]);
  });
  const body = o.body ?? Buffer.concat([addrs, ...tlvs]);
  const fixed = Buffer.alloc(4);
  fixed[0] = o.command === 'local' ? 0x20 : 0x21;
  fixed[1] = o.family ?? (addrs.length === 0 ? 0x00 : v6 ? 0x21 : 0x11);
  fixed.writeUInt16BE(body.length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}

/** 16 bytes of an IPv6 address (`::` and a trailing dotted IPv4 allowed). */
function ipv6Bytes(text: string): Buffer {
  let s = text;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4 !== null) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const left = head === '' ? [] : (head as string).split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

const DATA = Buffer.from('after.header 1 1700000000\n');

/** Feed `bytes` one byte at a time; every result before the last must be need-more. */
function byteByByte(bytes: Buffer): { last: ProxyHeaderResult; reader: ProxyHeaderReader } {
  const reader = new ProxyHeaderReader();
  let last: ProxyHeaderResult = { kind: 'need-more' };
  for (let i = 0; i < bytes.length; i++) {
    if (last.kind !== 'need-more') throw new Error(`decided at byte ${i} of ${bytes.length}: ${JSON.stringify(last)}`);
    last = reader.push(bytes.subarray(i, i + 1));
  }
  return { last, reader };
}

describe('PROXY protocol v1', () => {
  it('parses TCP4 and keeps the bytes after the header', () => {
    const header = 'PROXY TCP4 192.0.2.10 198.51.100.1 50123 2003\r\n';
    const buf = Buffer.concat([Buffer.from(header), DATA]);
    const r = parseProxyHeader(buf);
    expect(r).toEqual({
      kind: 'header',
      version: 1,
      command: 'proxy',
      source: { address: '192.0.2.10', port: 50123, family: 'IPv4' },
      destination: { address: '198.51.100.1', port: 2003, family: 'IPv4' },
      consumed: header.length,
    });
    expect(buf.subarray(header.length)).toEqual(DATA);
  });

  it('parses TCP6, writing the address as the socket would (canonical form)', () => {
    const r = parseProxyHeader(Buffer.from('PROXY TCP6 2001:0DB8:0:0:0:0:0:10 ::1 65535 0\r\n'));
    expect(r).toMatchObject({ kind: 'header', version: 1, source: { address: '2001:db8::10', port: 65535, family: 'IPv6' }, destination: { address: '::1', port: 0 } });
  });

  it('parses UNKNOWN (with or without addresses) as naming no client', () => {
    expect(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))).toEqual({ kind: 'header', version: 1, command: 'proxy', source: null, destination: null, consumed: 15 });
    const withAddrs = 'PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n';
    expect(parseProxyHeader(Buffer.from(withAddrs))).toMatchObject({ kind: 'header', source: null, consumed: withAddrs.length });
  });

  it('accepts the longest headers: 104 bytes of TCP6, 107 (the spec bound) of UNKNOWN with addresses', () => {
    const v6 = 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff';
    const tcp6 = `PROXY TCP6 ${v6} ${v6} 65535 65535\r\n`;
    expect(parseProxyHeader(Buffer.from(tcp6))).toMatchObject({ kind: 'header', consumed: 104, source: { address: v6, port: 65535 } });
    const unknown = `PROXY UNKNOWN ${v6} ${v6} 65535 65535\r\n`;
    expect(unknown.length).toBe(V1_MAX_LENGTH);
    expect(parseProxyHeader(Buffer.from(unknown))).toMatchObject({ kind: 'header', consumed: V1_MAX_LENGTH, source: null });
  });

  it('decides only at the last byte when fed one byte at a time, then hands back what followed', () => {
    const header = Buffer.from('PROXY TCP4 203.0.113.7 198.51.100.1 40000 2003\r\n');
    const { last, reader } = byteByByte(header);
    expect(last).toMatchObject({ kind: 'header', consumed: header.length, source: { address: '203.0.113.7', port: 40000 } });
    const split = new ProxyHeaderReader();
    expect(split.push(header.subarray(0, 20))).toEqual({ kind: 'need-more' });
    const r = split.push(Buffer.concat([header.subarray(20), DATA]));
    expect(r.kind).toBe('header');
    expect(split.rest(header.length)).toEqual(DATA);
    expect(reader.rest(header.length)).toEqual(Buffer.alloc(0));
  });

  it.each([
    ['no header at all (a client that bypassed the balancer)', 'foo.bar 1 1700000000\n', 'not a PROXY protocol header'],
    ['lower-case signature', 'proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n', 'not a PROXY protocol header'],
    ['LF without CR', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n', 'v1 header not terminated by CRLF'],
    ['unknown protocol', 'PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n', 'v1 protocol is not TCP4, TCP6 or UNKNOWN'],
    ['missing port', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', 'v1 header does not have 6 space-separated fields'],
    ['double space', 'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', 'v1 header does not have 6 space-separated fields'],
    ['IPv6 address in TCP4', 'PROXY TCP4 ::1 ::1 1 2\r\n', 'v1 TCP4 header with an invalid address or port'],
    ['IPv4 address in TCP6', 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n', 'v1 TCP6 header with an invalid address or port'],
    ['zone index', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', 'v1 TCP6 header with an invalid address or port'],
    ['octet over 255', 'PROXY TCP4 1.2.3.256 5.6.7.8 1 2\r\n', 'v1 TCP4 header with an invalid address or port'],
    ['port over 65535', 'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', 'v1 TCP4 header with an invalid address or port'],
    ['port with a leading zero', 'PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n', 'v1 TCP4 header with an invalid address or port'],
    ['negative port', 'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n', 'v1 TCP4 header with an invalid address or port'],
  ])('refuses %s', (_what, text, reason) => {
    expect(parseProxyHeader(Buffer.from(text))).toEqual({ kind: 'invalid', reason });
  });

  it('refuses a stream that does not start like a header at its first wrong byte, without waiting for more', () => {
    expect(parseProxyHeader(Buffer.from('P'))).toEqual({ kind: 'need-more' });
    expect(parseProxyHeader(Buffer.from('PROX'))).toEqual({ kind: 'need-more' });
    expect(parseProxyHeader(Buffer.from('PROXI'))).toEqual({ kind: 'invalid', reason: 'not a PROXY protocol header' });
    expect(parseProxyHeader(Buffer.from('x'))).toEqual({ kind: 'invalid', reason: 'not a PROXY protocol header' });
  });

  it('refuses a header with no CRLF within 107 bytes, at the 107th byte', () => {
    const endless = Buffer.from(`PROXY TCP4 ${'1'.repeat(200)}`);
    expect(parseProxyHeader(endless.subarray(0, V1_MAX_LENGTH - 1))).toEqual({ kind: 'need-more' });
    expect(parseProxyHeader(endless.subarray(0, V1_MAX_LENGTH))).toEqual({ kind: 'invalid', reason: 'v1 header longer than 107 bytes' });
    // a CRLF just past the limit does not make it valid
    const late = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(V1_MAX_LENGTH - 15)}\r\n`);
    expect(late.length).toBe(V1_MAX_LENGTH + 1);
    expect(parseProxyHeader(late)).toEqual({ kind: 'invalid', reason: 'v1 header longer than 107 bytes' });
  });
});

describe('PROXY protocol v2', () => {
  it('parses PROXY over IPv4 and keeps the bytes after the header', () => {
    const header = proxyV2({ source: { address: '192.0.2.10', port: 50123 }, destination: { address: '198.51.100.1', port: 2004 } });
    expect(header.length).toBe(16 + 12);
    const r = parseProxyHeader(Buffer.concat([header, DATA]));
    expect(r).toEqual({
      kind: 'header',
      version: 2,
      command: 'proxy',
      source: { address: '192.0.2.10', port: 50123, family: 'IPv4' },
      destination: { address: '198.51.100.1', port: 2004, family: 'IPv4' },
      consumed: 28,
    });
  });

  it('parses PROXY over IPv6 with TLVs (skipped), also one byte at a time', () => {
    const tlvs = [
      { type: 0x01, value: Buffer.from('h2') }, // ALPN
      { type: 0x02, value: Buffer.from('relay.example') }, // authority
      { type: 0x20, value: Buffer.from([0x07, 0, 0, 0, 0]) }, // SSL, no sub-TLVs
    ];
    const header = proxyV2({ source: { address: '2001:db8::10', port: 443 }, destination: { address: '2001:db8::1', port: 2003 }, tlvs });
    const expected = { kind: 'header', version: 2, command: 'proxy', source: { address: '2001:db8::10', port: 443, family: 'IPv6' }, destination: { address: '2001:db8::1', port: 2003, family: 'IPv6' }, consumed: header.length };
    expect(parseProxyHeader(header)).toEqual(expected);
    const { last, reader } = byteByByte(Buffer.concat([header]));
    expect(last).toEqual(expected);
    expect(reader.rest(header.length)).toHaveLength(0);
  });

  it('writes IPv4-mapped IPv6 sources as the socket would (::ffff:a.b.c.d)', () => {
    const header = proxyV2({ source: { address: '::ffff:192.0.2.10', port: 1 }, destination: { address: '::1', port: 2 } });
    expect(parseProxyHeader(header)).toMatchObject({ source: { address: '::ffff:192.0.2.10', family: 'IPv6' } });
  });

  it('parses LOCAL (a health check by the balancer) as naming no client, whatever address block it carries', () => {
    const bare = proxyV2({ command: 'local' });
    expect(parseProxyHeader(Buffer.concat([bare, DATA]))).toEqual({ kind: 'header', version: 2, command: 'local', source: null, destination: null, consumed: 16 });
    const withAddrs = proxyV2({ command: 'local', source: { address: '10.0.0.1', port: 1 }, destination: { address: '10.0.0.2', port: 2 }, tlvs: [{ type: 0x04, value: Buffer.alloc(3) }] });
    expect(parseProxyHeader(withAddrs)).toEqual({ kind: 'header', version: 2, command: 'local', source: null, destination: null, consumed: withAddrs.length });
  });

  it('parses PROXY with an UNSPEC or AF_UNIX family as naming no client', () => {
    expect(parseProxyHeader(proxyV2({ family: 0x00, body: Buffer.alloc(0) }))).toMatchObject({ kind: 'header', command: 'proxy', source: null, consumed: 16 });
    expect(parseProxyHeader(proxyV2({ family: 0x31, body: Buffer.alloc(216) }))).toMatchObject({ kind: 'header', command: 'proxy', source: null, consumed: 16 + 216 });
  });

  it('data after a header split across chunks is kept', () => {
    const header = proxyV2({ source: { address: '192.0.2.10', port: 1 }, destination: { address: '192.0.2.11', port: 2 }, tlvs: [{ type: 0x04, value: Buffer.alloc(100) }] });
    const all = Buffer.concat([header, DATA]);
    const reader = new ProxyHeaderReader();
    expect(reader.push(all.subarray(0, 5))).toEqual({ kind: 'need-more' });
    expect(reader.push(all.subarray(5, 16))).toEqual({ kind: 'need-more' });
    expect(reader.push(all.subarray(16, 40))).toEqual({ kind: 'need-more' });
    const r = reader.push(all.subarray(40));
    expect(r).toMatchObject({ kind: 'header', consumed: header.length });
    expect(reader.rest(header.length)).toEqual(DATA);
  });

  it('refuses a header whose TLVs exceed the bound as soon as the length field is in, without waiting for the body', () => {
    const atLimit = proxyV2({ source: { address: '192.0.2.10', port: 1 }, destination: { address: '192.0.2.11', port: 2 }, tlvs: [{ type: 0x04, value: Buffer.alloc(DEFAULT_MAX_TLV_BYTES - 3) }] });
    expect(parseProxyHeader(atLimit)).toMatchObject({ kind: 'header', consumed: 16 + 12 + DEFAULT_MAX_TLV_BYTES });
    const over = proxyV2({ source: { address: '192.0.2.10', port: 1 }, destination: { address: '192.0.2.11', port: 2 }, tlvs: [{ type: 0x04, value: Buffer.alloc(DEFAULT_MAX_TLV_BYTES - 2) }] });
    expect(parseProxyHeader(over.subarray(0, 16))).toEqual({ kind: 'invalid', reason: `v2 header longer than 12 address bytes plus ${DEFAULT_MAX_TLV_BYTES} bytes of TLVs (${12 + DEFAULT_MAX_TLV_BYTES + 1} bytes)` });
    const huge = Buffer.from(proxyV2({ command: 'local' }));
    huge.writeUInt16BE(0xffff, 14);
    expect(parseProxyHeader(huge)).toMatchObject({ kind: 'invalid' });
    expect(parseProxyHeader(Buffer.from(atLimit), 100)).toMatchObject({ kind: 'invalid' });
  });

  it.each([
    ['version 1 in the version nibble', (b: Buffer) => (b[12] = 0x11), 'v2 header with version 1'],
    ['an unknown command', (b: Buffer) => (b[12] = 0x22), 'v2 header with unknown command 2'],
    ['an unknown family', (b: Buffer) => (b[13] = 0x41), 'v2 header with unknown address family/transport 0x41'],
    ['an unknown transport', (b: Buffer) => (b[13] = 0x13), 'v2 header with unknown address family/transport 0x13'],
    ['an address block too short for INET', (b: Buffer) => b.writeUInt16BE(11, 14), 'v2 header too short for its address family (11 bytes)'],
    ['a damaged signature', (b: Buffer) => (b[7] = 0x50), 'not a PROXY protocol header'],
  ])('refuses %s', (_what, damage, reason) => {
    const b = Buffer.from(proxyV2({ source: { address: '192.0.2.10', port: 1 }, destination: { address: '192.0.2.11', port: 2 } }));
    damage(b);
    expect(parseProxyHeader(b)).toEqual({ kind: 'invalid', reason });
  });

  it('refuses a stream that starts like the signature then diverges, at the first wrong byte', () => {
    expect(parseProxyHeader(V2_SIGNATURE.subarray(0, 6))).toEqual({ kind: 'need-more' });
    // a Windows client sending CRLF blank lines: "\r\n\r\n" then a metric
    expect(parseProxyHeader(Buffer.from('\r\n\r\nfoo 1 2\n'))).toEqual({ kind: 'invalid', reason: 'not a PROXY protocol header' });
  });
});
