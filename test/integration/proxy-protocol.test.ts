import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { Relay } from '../../src/relay/relay';
import { makeTestCa, type TestCa } from '../helpers/certs';
import { stopRelay } from '../helpers/cleanup';
import { startRelay } from '../helpers/relay';
import { CaptureServer, waitFor } from '../helpers/sink';
import { metric } from '../helpers/scrape';

const lines = (prefix: string, n: number, ts = 1700000000): string => Array.from({ length: n }, (_, i) => `${prefix}.${i} ${i} ${ts + i}\n`).join('');

/** PROXY v2 PROXY command over TCP/IPv4, from `source:port` to 198.51.100.1:2004. */
function proxyV2Inet(source: string, port: number): Buffer {
  const b = Buffer.alloc(16 + 12);
  Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00, 12]).copy(b);
  Buffer.from(source.split('.').map(Number)).copy(b, 16);
  Buffer.from([198, 51, 100, 1]).copy(b, 20);
  b.writeUInt16BE(port, 24);
  b.writeUInt16BE(2004, 26);
  return b;
}

/** One carbon pickle frame of one datapoint (protocol 2, as carbon-relay writes them). */
function pickleFrame(name: string, value: number, timestamp: number): Buffer {
  const n = Buffer.from(name, 'utf8');
  const body = Buffer.concat([Buffer.from([0x80, 2, 0x5d, 0x28, 0x58]), Buffer.alloc(4), n, Buffer.alloc(20), Buffer.from([0x65, 0x2e])]);
  body.writeUInt32LE(n.length, 5);
  let p = 9 + n.length;
  body[p] = 0x47;
  body.writeDoubleBE(timestamp, p + 1);
  body[p + 9] = 0x47;
  body.writeDoubleBE(value, p + 10);
  body[p + 18] = 0x86;
  body[p + 19] = 0x86;
  p += 20;
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length);
  return Buffer.concat([head, body]);
}

async function connected(port: number): Promise<net.Socket> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  return s;
}

describe('behind an L4 load balancer: PROXY protocol and maxConnectionAge, end to end', () => {
  let ca: TestCa;
  let relay: Relay | undefined;
  let out: CaptureServer;
  const clients: net.Socket[] = [];

  beforeAll(() => {
    ca = makeTestCa();
  });

  beforeEach(async () => {
    out = new CaptureServer('line');
    await out.listen();
  });

  afterEach(async () => {
    for (const c of clients.splice(0)) c.destroy();
    await stopRelay(relay, 500);
    relay = undefined;
    await out.close();
  });

  async function start(listen: Record<string, unknown>): Promise<Relay> {
    relay = await startRelay({
      listen: {
        line: { tcp: { host: '127.0.0.1', port: 0 }, tls: { host: '127.0.0.1', port: 0, cert: ca.serverCert, key: ca.serverKey } },
        pickle: { tcp: { host: '127.0.0.1', port: 0 } },
        ...listen,
      },
      destinations: [{ name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' }],
      rules: [{ default: true, destinations: ['out'] }],
    });
    return relay;
  }

  it('relays line, pickle and TLS senders that come with a PROXY header, limits them per real client, and counts those that come without', async () => {
    const r = await start({ proxyProtocol: true, maxConnectionsPerClient: 1 });
    const line = await connected(r.listeners.line!.port);
    clients.push(line);
    line.write(`PROXY TCP4 192.0.2.10 198.51.100.1 50000 2003\r\n${lines('lb.line', 3)}`);
    const pickle = await connected(r.listeners.pickle!.port);
    clients.push(pickle);
    pickle.write(Buffer.concat([proxyV2Inet('192.0.2.10', 50001), pickleFrame('lb.pickle', 1, 1700000000)]));
    const raw = await connected(r.listeners.lineTls!.port);
    clients.push(raw);
    raw.write('PROXY TCP4 192.0.2.10 198.51.100.1 50002 20030\r\n');
    const secure = tls.connect({ socket: raw, ca: fs.readFileSync(ca.caCert), servername: 'localhost' });
    secure.on('error', () => undefined);
    await new Promise((res) => secure.once('secureConnect', res));
    secure.write(lines('lb.tls', 2));
    await waitFor(() => out.datapoints.length === 6, 'every listener relays after the header');
    // the same client again on the line listener: over its limit, although every connection comes from 127.0.0.1
    const again = await connected(r.listeners.line!.port);
    clients.push(again);
    const refused = new Promise((res) => again.on('close', res));
    again.write(`PROXY TCP4 192.0.2.10 198.51.100.1 50003 2003\r\n${lines('refused', 1)}`);
    await refused;
    // a sender that bypasses the balancer
    const direct = await connected(r.listeners.line!.port);
    clients.push(direct);
    const closed = new Promise((res) => direct.on('close', res));
    direct.write(lines('direct', 2));
    await closed;
    await waitFor(() => r.counters.proxyProtocolErrors === 1, 'counted');
    expect(r.counters.connectionsRefusedPerClient).toBe(1);
    expect(out.datapoints.map((d) => d.name).sort()).toEqual(['lb.line.0', 'lb.line.1', 'lb.line.2', 'lb.pickle', 'lb.tls.0', 'lb.tls.1']);
    expect(await metric(r, 'invalid_input_total', { listener: 'line', protocol: 'line', reason: 'proxy_protocol' })).toBe(1);
    expect(await metric(r, 'invalid_input_total', { listener: 'pickle', protocol: 'pickle', reason: 'proxy_protocol' })).toBe(0);
    expect(await metric(r, 'connections_refused_total', { listener: 'line', protocol: 'line', reason: 'per_client_limit' })).toBe(1);
  });

  it('at maxConnectionAge a TLS sender behind the balancer gets EOF, and everything it wrote arrives exactly once', async () => {
    const r = await start({ proxyProtocol: true, maxConnectionAge: '150ms' });
    const raw = await connected(r.listeners.lineTls!.port);
    clients.push(raw);
    raw.write('PROXY TCP6 2001:db8::10 2001:db8::1 40000 20030\r\n');
    const secure = tls.connect({ socket: raw, ca: fs.readFileSync(ca.caCert), servername: 'localhost' });
    secure.on('error', () => undefined);
    await new Promise((res) => secure.once('secureConnect', res));
    let n = 0;
    let eof = false;
    secure.on('end', () => (eof = true));
    const closed = new Promise((res) => secure.on('close', res));
    const pump = (): void => {
      if (eof || secure.destroyed) return;
      let chunk = '';
      for (let k = 0; k < 10; k++, n++) chunk += `aged.${n} ${n} 1700000000\n`;
      if (secure.write(chunk)) setImmediate(pump);
      else secure.once('drain', pump);
    };
    pump();
    await closed;
    expect(eof).toBe(true);
    await waitFor(() => out.datapoints.length === n, `all ${n} lines delivered`, 30_000);
    expect(new Set(out.datapoints.map((d) => d.name)).size).toBe(n);
    expect(out.datapoints[n - 1]).toEqual({ name: `aged.${n - 1}`, value: n - 1, timestamp: 1700000000 });
    const c = r.counters;
    expect(c.metricsReceived).toBe(n);
    expect(c.connectionsAged).toBe(1);
    expect(c.incompleteLines + c.invalidLines).toBe(0);
    expect(await metric(r, 'connections_aged_total', { listener: 'line-tls', protocol: 'line' })).toBe(1);
    expect(await metric(r, 'connections_aged_total', { listener: 'line', protocol: 'line' })).toBe(0);
    // the sender reconnects (through the balancer, here straight back) and goes on
    const again = await connected(r.listeners.line!.port);
    clients.push(again);
    again.end(`PROXY UNKNOWN\r\n${lines('reconnected', 2)}`);
    await waitFor(() => out.datapoints.length === n + 2, 'after the reconnect');
  }, 60_000);

  it('a reload that turns proxyProtocol off rebinds the TCP listeners; senders without a header are then served', async () => {
    const r = await start({ proxyProtocol: true });
    const report = await r.reload({ ...r.config, listen: { ...r.config.listen, proxyProtocol: false } });
    expect(report).toMatchObject({ result: 'applied' });
    expect([...report.reconfigured].sort()).toEqual(['line', 'line-tls', 'pickle']);
    const s = await connected(r.listeners.line!.port);
    clients.push(s);
    s.end(lines('plain', 2));
    await waitFor(() => out.datapoints.length === 2, 'served without a header');
    expect(r.counters.proxyProtocolErrors).toBe(0);
    const aged = await r.reload({ ...r.config, listen: { ...r.config.listen, maxConnectionAge: 60_000 } });
    expect([...aged.reconfigured].sort()).toEqual(['line', 'line-tls', 'pickle']);
  });
});
