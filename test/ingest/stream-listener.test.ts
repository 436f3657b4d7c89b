import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import type { ConnectionFeed } from '../../src/ingest/connection-feed';
import { PickleDecoder } from '../../src/codec/pickle-decoder';
import { LineProtocol } from '../../src/ingest/line-protocol';
import { PickleProtocol } from '../../src/ingest/pickle-protocol';
import { StreamListener, type StreamListenerOptions } from '../../src/ingest/stream-listener';
import { UdpListener } from '../../src/ingest/udp-listener';
import type { Relay } from '../../src/relay/relay';
import { IngestCounters } from '../../src/telemetry/counters';
import { silentLogger, type Logger } from '../../src/telemetry/logger';
import { RateLimitedLog } from '../../src/telemetry/rate-limited-log';
import { captureLog } from '../helpers/capture-log';
import { makeClientCert, makeTestCa } from '../helpers/certs';
import { CopyingSink } from '../helpers/copying-sink';
import { startRelay } from '../helpers/relay';
import { CaptureServer, waitFor } from '../helpers/sink';

describe('StreamListener connection limit', () => {
  let relay: Relay;
  let out: CaptureServer;
  const clients: net.Socket[] = [];

  beforeEach(async () => {
    out = new CaptureServer('line');
    await out.listen();
    relay = await startRelay({
      listen: { maxConnections: 2, line: { tcp: { host: '127.0.0.1', port: 0 } } },
      destinations: [{ name: 'out', host: '127.0.0.1', port: out.port, protocol: 'line' }],
      rules: [{ default: true, destinations: ['out'] }],
    });
  });

  afterEach(async () => {
    for (const c of clients) c.destroy();
    await relay.stop(Date.now() + 500);
    await out.close();
  });

  const open = async (): Promise<{ socket: net.Socket; closed: () => boolean }> => {
    const socket = net.connect(relay.listeners.line!.port, '127.0.0.1');
    clients.push(socket);
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    return { socket, closed: () => closed };
  };

  it('refuses connections beyond maxConnections and keeps serving the others', async () => {
    const a = await open();
    const b = await open();
    await waitFor(() => relay.counters.activeConnections === 2, 'two connections accepted');
    const c = await open();
    await waitFor(() => c.closed(), 'third connection closed by the relay');
    a.socket.write('limit.a 1 1700000000\n');
    b.socket.write('limit.b 2 1700000000\n');
    await waitFor(() => out.datapoints.length === 2, 'both accepted connections still relay');
    expect(out.datapoints.map((d) => d.name).sort()).toEqual(['limit.a', 'limit.b']);
    expect(relay.counters.activeConnections).toBe(2);
    expect(relay.counters.connectionsRefused).toBe(1);
  });
});

/** A client connection and what happened to it. */
interface Client {
  socket: net.Socket;
  closed: Promise<void>;
  isClosed: () => boolean;
  /** The relay half-closed the connection (FIN). */
  gotEnd: () => boolean;
}

/** A StreamListener on 127.0.0.1 fed to real protocol instances, with its own counters, sink and log. */
interface Harness {
  listener: StreamListener;
  counters: IngestCounters;
  sink: CopyingSink;
  /** The peer each connection's protocol instance was made for, in order. */
  peers: string[];
  /** halfOpen: the client keeps sending after the relay's FIN (Node's default is to close on it). */
  connect(opts?: { halfOpen?: boolean }): Promise<Client>;
}

const DEFAULTS: Omit<StreamListenerOptions, 'name'> = { host: '127.0.0.1', port: 0, maxConnections: 100, maxConnectionsPerClient: 0, idleTimeout: 0 };

describe('StreamListener on real sockets', () => {
  const listeners: StreamListener[] = [];
  const sockets: net.Socket[] = [];

  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    for (const l of listeners.splice(0)) await l.stop(Date.now());
  });

  async function start(opts: Partial<StreamListenerOptions> = {}, kind: 'line' | 'pickle' = 'line', log: Logger = silentLogger(), feed?: ConnectionFeed): Promise<Harness> {
    const counters = new IngestCounters();
    const sink = new CopyingSink();
    const protocolDeps = { sink, counters, limited: new RateLimitedLog(log), now: Date.now };
    const decoder = new PickleDecoder();
    const peers: string[] = [];
    const listener = new StreamListener(
      { name: kind, ...DEFAULTS, ...opts },
      {
        pipeline: { addSource: () => () => undefined },
        counters,
        log,
        feed,
        protocol: (peer) => {
          peers.push(peer);
          return kind === 'line' ? new LineProtocol(peer, { maxLineLength: 1024, timestampOptional: false }, protocolDeps) : new PickleProtocol(peer, 1024, { ...protocolDeps, decoder });
        },
      },
    );
    listeners.push(listener);
    await listener.start();
    const connect = async ({ halfOpen = false } = {}): Promise<Client> => {
      const socket = net.connect({ port: listener.port, host: '127.0.0.1', allowHalfOpen: halfOpen });
      sockets.push(socket);
      let closed = false;
      let ended = false;
      socket.on('error', () => undefined);
      socket.on('end', () => (ended = true));
      const closedP = new Promise<void>((r) => socket.on('close', () => r()));
      void closedP.then(() => (closed = true));
      await new Promise((r) => socket.once('connect', r));
      return { socket, closed: closedP, isClosed: () => closed, gotEnd: () => ended };
    };
    return { listener, counters, sink, peers, connect };
  }

  const lines = (prefix: string, n: number): string => Array.from({ length: n }, (_, i) => `${prefix}.${i} ${i} ${1700000000 + i}\n`).join('');

  describe('idleTimeout', () => {
    it('closes a connection that sends nothing for idleTimeout and counts it', async () => {
      const h = await start({ idleTimeout: 100 });
      const c = await h.connect();
      await c.closed;
      await waitFor(() => h.counters.activeConnections === 0, 'closed on our side too');
      expect(h.counters.idleTimeouts).toBe(1);
    });

    it('closes a slowloris connection that trickles bytes of a line it never finishes, counting the partial line', async () => {
      const h = await start({ idleTimeout: 150 });
      const c = await h.connect();
      c.socket.write('slow.');
      const drip = setInterval(() => c.socket.write('x'), 20);
      try {
        await c.closed;
      } finally {
        clearInterval(drip);
      }
      await waitFor(() => h.counters.activeConnections === 0, 'closed on our side too');
      expect(h.counters.idleTimeouts).toBe(1);
      expect(h.counters.incompleteLines).toBe(1);
      expect(h.sink.points).toEqual([]);
    });

    it('runs the timeout from the last complete line: a connection sending lines stays open', async () => {
      const h = await start({ idleTimeout: 200 });
      const busy = await h.connect();
      const idle = await h.connect();
      let n = 0;
      const send = setInterval(() => busy.socket.write(`busy.${n++} 1 1700000000\n`), 20);
      try {
        await idle.closed;
        expect(busy.isClosed()).toBe(false);
        expect(h.counters.idleTimeouts).toBe(1);
      } finally {
        clearInterval(send);
      }
      await busy.closed;
      expect(h.counters.idleTimeouts).toBe(2);
      expect(h.sink.points.length).toBeGreaterThan(0);
      expect(h.counters.incompleteLines).toBe(0);
    });

    it('never closes a connection while flow control holds it paused; its idle time starts at resume', async () => {
      const paused = await start({ idleTimeout: 100 });
      const running = await start({ idleTimeout: 100 });
      paused.listener.pause();
      const held = await paused.connect();
      await waitFor(() => paused.counters.activeConnections === 1, 'paused listener accepted');
      const other = await running.connect();
      // same timeout, armed later: by the time it fires, the paused connection's timer has fired too
      await other.closed;
      expect(running.counters.idleTimeouts).toBe(1);
      expect(held.isClosed()).toBe(false);
      expect(paused.counters.idleTimeouts).toBe(0);
      paused.listener.resume();
      await held.closed;
      expect(paused.counters.idleTimeouts).toBe(1);
    });
  });

  describe('connection limits', () => {
    it('refuses the connection over maxConnectionsPerClient, counts it, and frees the slot when one closes', async () => {
      const h = await start({ maxConnectionsPerClient: 2 });
      const a = await h.connect();
      const b = await h.connect();
      await waitFor(() => h.counters.activeConnections === 2, 'two accepted');
      const c = await h.connect();
      await c.closed;
      expect(h.counters.connectionsRefusedPerClient).toBe(1);
      expect(h.counters.connectionsRefused).toBe(0);
      b.socket.write('per.client.b 1 1700000000\n');
      await waitFor(() => h.sink.points.length === 1, 'an accepted connection still relays');
      a.socket.destroy();
      await waitFor(() => h.counters.activeConnections === 1, 'first connection gone');
      const d = await h.connect();
      d.socket.write('per.client.d 2 1700000000\n');
      await waitFor(() => h.sink.points.length === 2, 'a new connection takes the freed slot');
      expect(h.counters.connectionsRefusedPerClient).toBe(1);
      expect(h.counters.activeConnections).toBe(2);
    });

    it('counts connections refused at maxConnections', async () => {
      const h = await start({ maxConnections: 1 });
      await h.connect();
      await waitFor(() => h.counters.activeConnections === 1, 'one accepted');
      const refused = [await h.connect(), await h.connect()];
      await Promise.all(refused.map((c) => c.closed));
      expect(h.counters.connectionsRefused).toBe(2);
      expect(h.counters.connectionsRefusedPerClient).toBe(0);
    });
  });

  it('logs connections closed for garbage framing at most once per interval per client host, and counts every one', async () => {
    const { log, entries } = captureLog();
    const h = await start({}, 'pickle', log);
    const garbage = Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'); // a length prefix no pickle stream has
    for (let i = 0; i < 5; i++) {
      const c = await h.connect();
      c.socket.write(garbage);
      await c.closed;
    }
    expect(h.counters.invalidPickles).toBe(5);
    expect(entries.filter((e) => e.message === 'closing connection: stream is not in the expected framing')).toEqual([
      { level: 'warn', message: 'closing connection: stream is not in the expected framing', listener: 'pickle', peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) },
    ]);
  });

  describe('fed connections accepted elsewhere (a worker of workers: N)', () => {
    const ca = makeTestCa();
    const cert = { cert: fs.readFileSync(ca.serverCert), key: fs.readFileSync(ca.serverKey) };
    const fronts: net.Server[] = [];
    afterEach(async () => {
      for (const f of fronts.splice(0)) await new Promise((r) => f.close(r));
    });

    /** A server that accepts without reading (as the primary does) and hands each socket to what registered. */
    async function front(): Promise<{ feed: ConnectionFeed; port: number; registered: () => boolean; refuse: (remoteAddress: string) => void }> {
      let accept: ((s: net.Socket) => void) | undefined;
      let refused: ((remoteAddress: string) => void) | undefined;
      const server = net.createServer({ pauseOnConnect: true }, (s) => (accept === undefined ? s.destroy() : accept(s)));
      fronts.push(server);
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
      const feed: ConnectionFeed = {
        register: (name, a, r) => {
          expect(name).toBe('line');
          accept = a;
          refused = r;
          return () => (accept = undefined);
        },
      };
      return { feed, port: (server.address() as net.AddressInfo).port, registered: () => accept !== undefined, refuse: (addr) => refused?.(addr) };
    }

    it('serves them as its own: lines in, limits applied, the configured port reported; none taken once stopped', async () => {
      const f = await front();
      const h = await start({ port: 12_345, maxConnections: 2 }, 'line', silentLogger(), f.feed);
      expect(h.listener.port).toBe(12_345);
      expect(f.registered()).toBe(true);
      const connect = async (): Promise<net.Socket> => {
        const s = net.connect(f.port, '127.0.0.1');
        sockets.push(s);
        s.on('error', () => undefined);
        await new Promise((r) => s.once('connect', r));
        return s;
      };
      const a = await connect();
      const b = await connect();
      a.write(lines('fed.a', 3));
      b.write(lines('fed.b', 2));
      await waitFor(() => h.sink.points.length === 5, 'five lines over two fed connections');
      expect(h.counters.activeConnections).toBe(2);
      const third = await connect();
      await new Promise((r) => third.once('close', r));
      expect(h.counters.connectionsRefused).toBe(1);
      await h.listener.stop(Date.now() + 1000);
      expect(f.registered()).toBe(false);
      expect(h.counters.activeConnections).toBe(0);
    });

    it('counts and logs a connection the primary refused for it (relay-wide maxConnections), as one it refused itself', async () => {
      const f = await front();
      const { log, entries } = captureLog();
      const h = await start({ maxConnections: 7 }, 'line', log, f.feed);
      f.refuse('192.0.2.7');
      expect(h.counters.connectionsRefused).toBe(1);
      expect(entries.find((e) => e.message === 'connection refused: maxConnections reached')).toMatchObject({ level: 'warn', listener: 'line', peer: '192.0.2.7', maxConnections: 7 });
      await h.listener.stop(Date.now() + 1000);
    });

    it('does the TLS handshake on a fed connection', async () => {
      const f = await front();
      const h = await start({ tls: cert, idleTimeout: 5000 }, 'line', silentLogger(), f.feed);
      const c = tls.connect({ port: f.port, host: '127.0.0.1', ca: fs.readFileSync(ca.caCert), servername: 'localhost' });
      c.on('error', () => undefined);
      await new Promise((r) => c.once('secureConnect', r));
      c.end('fed.over.tls 1 1700000000\n');
      await waitFor(() => h.sink.points.length === 1, 'a line over TLS');
      await waitFor(() => h.counters.activeConnections === 0, 'closed after EOF');
    });
  });

  describe('over TLS', () => {
    const ca = makeTestCa();
    const cert = { cert: fs.readFileSync(ca.serverCert), key: fs.readFileSync(ca.serverKey) };

    it('takes a per-client slot before the handshake, and times out a handshake that never comes', async () => {
      const h = await start({ tls: cert, maxConnectionsPerClient: 1, idleTimeout: 150 });
      const silent = await h.connect(); // TCP only: never says hello
      const second = await h.connect();
      await second.closed;
      expect(h.counters.connectionsRefusedPerClient).toBe(1);
      await silent.closed;
      expect(h.counters.idleTimeouts).toBe(1);
      expect(h.counters.activeConnections).toBe(0);
    });

    it('counts a failed handshake (plaintext on the TLS port), but not a client that connects and leaves (a TCP health check)', async () => {
      const { log, entries } = captureLog();
      const h = await start({ tls: cert, idleTimeout: 5000 }, 'line', log);
      const probe = await h.connect();
      probe.socket.end();
      await probe.closed;
      await waitFor(() => entries.some((e) => e.message === 'TLS handshake with client failed'), 'the probe seen leaving');
      expect(entries.find((e) => e.message === 'TLS handshake with client failed')).toMatchObject({ level: 'warn', reason: 'socket hang up' });
      expect(h.counters.tlsHandshakeFailures).toBe(0);
      const plain = await h.connect();
      plain.socket.write(lines('plaintext', 1));
      await plain.closed;
      await waitFor(() => h.counters.tlsHandshakeFailures === 1, 'plaintext refused');
      expect(h.sink.points).toEqual([]);
      expect(h.counters.activeConnections).toBe(0);
    });

    it('serves a client that completes the handshake and sends lines', async () => {
      const h = await start({ tls: cert, maxConnectionsPerClient: 1, idleTimeout: 5000 });
      const c = tls.connect({ port: h.listener.port, host: '127.0.0.1', ca: fs.readFileSync(ca.caCert), servername: 'localhost' });
      c.on('error', () => undefined);
      await new Promise((r) => c.once('secureConnect', r));
      c.end('over.tls 1 1700000000\n');
      await waitFor(() => h.sink.points.length === 1, 'line over TLS');
      await waitFor(() => h.counters.activeConnections === 0, 'closed after EOF');
      expect(h.counters.connectionsRefusedPerClient).toBe(0);
    });
  });

  describe('proxyProtocol', () => {
    const ca = makeTestCa();
    const cert = { cert: fs.readFileSync(ca.serverCert), key: fs.readFileSync(ca.serverKey) };
    const v1 = (address: string, port: number): string => (address.includes(':') ? `PROXY TCP6 ${address} ::1 ${port} 2003\r\n` : `PROXY TCP4 ${address} 198.51.100.1 ${port} 2003\r\n`);

    it('hands the protocol the client the v1 header names, with the lines that followed it in the same write', async () => {
      const h = await start({ proxyProtocol: true });
      const c = await h.connect();
      c.socket.end(`${v1('192.0.2.10', 50123)}${lines('via.proxy', 3)}`);
      await waitFor(() => h.sink.points.length === 3, 'lines after the header');
      expect(h.peers).toEqual(['192.0.2.10:50123']);
      expect(h.sink.copies.map((x) => x.origin)).toEqual(['192.0.2.10:50123']);
      expect(h.sink.points[2]).toEqual({ name: 'via.proxy.2', value: 2, timestamp: 1700000002 });
      await c.closed;
      expect(h.counters.proxyProtocolErrors).toBe(0);
    });

    it('takes a header split over several writes, and a v2 header naming an IPv6 client', async () => {
      const h = await start({ proxyProtocol: true });
      const a = await h.connect();
      const header = v1('2001:db8::7', 40000);
      for (const part of [header.slice(0, 3), header.slice(3, 20), header.slice(20)]) await new Promise((r) => a.socket.write(part, r));
      a.socket.end(lines('split', 2));
      const b = await h.connect();
      b.socket.end(Buffer.concat([proxyV2Inet6('2001:db8::8', 40001), Buffer.from(lines('v2', 2))]));
      await waitFor(() => h.sink.points.length === 4, 'lines from both');
      expect([...h.peers].sort()).toEqual(['[2001:db8::7]:40000', '[2001:db8::8]:40001']);
    });

    it('takes the socket peer for a v2 LOCAL header (the balancer checking on us) and for v1 UNKNOWN', async () => {
      const h = await start({ proxyProtocol: true });
      const local = await h.connect();
      const ports = [local.socket.localPort];
      local.socket.end(Buffer.concat([PROXY_V2_LOCAL, Buffer.from(lines('local', 1))]));
      await waitFor(() => h.sink.points.length === 1, 'line after LOCAL');
      const unknown = await h.connect();
      ports.push(unknown.socket.localPort);
      unknown.socket.end(`PROXY UNKNOWN\r\n${lines('unknown', 1)}`);
      await waitFor(() => h.sink.points.length === 2, 'line after UNKNOWN');
      expect(h.peers).toEqual(ports.map((p) => `127.0.0.1:${p}`));
      expect(h.counters.proxyProtocolErrors).toBe(0);
    });

    it('counts maxConnectionsPerClient by the client the header names, not by the balancer', async () => {
      const h = await start({ proxyProtocol: true, maxConnectionsPerClient: 1 });
      const first = await h.connect();
      first.socket.write(v1('192.0.2.10', 1));
      await waitFor(() => h.counters.activeConnections === 1, 'first client accepted');
      const again = await h.connect();
      again.socket.write(v1('192.0.2.10', 2));
      await again.closed;
      expect(h.counters.connectionsRefusedPerClient).toBe(1);
      // every connection comes from 127.0.0.1: another client behind the same balancer still gets in
      const other = await h.connect();
      other.socket.write(`${v1('192.0.2.11', 3)}${lines('other', 1)}`);
      await waitFor(() => h.sink.points.length === 1, 'the other client is served');
      expect(h.counters.activeConnections).toBe(2);
      first.socket.destroy();
      await waitFor(() => h.counters.activeConnections === 1, 'first client gone');
      const back = await h.connect();
      back.socket.write(`${v1('192.0.2.10', 4)}${lines('back', 1)}`);
      await waitFor(() => h.sink.points.length === 2, 'its slot is free again');
      expect(h.counters.connectionsRefusedPerClient).toBe(1);
      expect(h.peers).toEqual(['192.0.2.10:1', '192.0.2.11:3', '192.0.2.10:4']);
    });

    it('closes and counts a connection without a header, with a bad one, or closed mid-header, and logs the socket peer', async () => {
      const { log, entries } = captureLog();
      const h = await start({ proxyProtocol: true }, 'line', log);
      const direct = await h.connect(); // a sender that bypassed the balancer
      const directPort = direct.socket.localPort;
      direct.socket.write(lines('direct', 5));
      await direct.closed;
      const bad = await h.connect();
      bad.socket.write('PROXY TCP4 192.0.2.10 198.51.100.1 99999 2003\r\n');
      await bad.closed;
      const cut = await h.connect();
      cut.socket.end('PROXY TCP4 192.0.2.');
      await cut.closed;
      await waitFor(() => h.counters.proxyProtocolErrors === 3, 'all three counted');
      const probe = await h.connect(); // connects and closes without a byte: a port probe, not an error
      probe.socket.end();
      await probe.closed;
      await waitFor(() => h.counters.activeConnections === 0, 'nothing open');
      expect(h.sink.points).toEqual([]);
      expect(h.peers).toEqual([]);
      expect(h.counters.proxyProtocolErrors).toBe(3);
      const warned = entries.filter((e) => e.message === 'closing connection: no valid PROXY protocol header');
      // rate-limited per peer host: the first one logged, the others counted
      expect(warned).toEqual([{ level: 'warn', message: 'closing connection: no valid PROXY protocol header', listener: 'line', peer: `127.0.0.1:${directPort}`, reason: 'not a PROXY protocol header' }]);
    });

    it('closes a connection whose header does not come within idleTimeout, as an idle one', async () => {
      const h = await start({ proxyProtocol: true, idleTimeout: 100 });
      const c = await h.connect();
      c.socket.write('PROXY TCP4 ');
      await c.closed;
      await waitFor(() => h.counters.idleTimeouts === 1, 'counted as idle');
      expect(h.counters.proxyProtocolErrors).toBe(0);
      expect(h.peers).toEqual([]);
    });

    it('over TLS: reads the header in clear, then the handshake, and serves the client it names', async () => {
      const h = await start({ proxyProtocol: true, tls: cert, maxConnectionsPerClient: 1, idleTimeout: 5000 });
      const viaTls = async (client: string, port: number, payload: string): Promise<tls.TLSSocket> => {
        const raw = net.connect(h.listener.port, '127.0.0.1');
        sockets.push(raw);
        raw.on('error', () => undefined);
        await new Promise((r) => raw.once('connect', r));
        raw.write(v1(client, port)); // the ClientHello follows in the same segment or the next
        const t = tls.connect({ socket: raw, ca: fs.readFileSync(ca.caCert), servername: 'localhost' });
        t.on('error', () => undefined);
        await new Promise((r) => t.once('secureConnect', r));
        t.write(payload);
        return t;
      };
      const a = await viaTls('192.0.2.20', 5555, lines('tls.a', 2));
      await waitFor(() => h.sink.points.length === 2, 'lines over TLS after the header');
      expect(h.peers).toEqual(['192.0.2.20:5555']);
      const b = await viaTls('192.0.2.21', 5556, lines('tls.b', 1));
      await waitFor(() => h.sink.points.length === 3, 'a second client behind the same balancer');
      expect(h.counters.activeConnections).toBe(2);
      // the same client again is over its limit, before any handshake
      const again = net.connect(h.listener.port, '127.0.0.1');
      sockets.push(again);
      again.on('error', () => undefined);
      const refused = new Promise((r) => again.on('close', r));
      again.write(v1('192.0.2.20', 5557));
      await refused;
      expect(h.counters.connectionsRefusedPerClient).toBe(1);
      a.end();
      b.end();
      await waitFor(() => h.counters.activeConnections === 0, 'both closed after EOF');
      expect(h.counters.proxyProtocolErrors).toBe(0);
    });

    it('over TLS with a client CA: the certificate is checked after the header, and the log names the client the header named', async () => {
      const clientCa = makeTestCa();
      const app = makeClientCert(clientCa, 'behind-the-balancer');
      const { log, entries } = captureLog();
      const h = await start({ proxyProtocol: true, tls: { ...cert, clientCa: [fs.readFileSync(clientCa.caCert)] }, idleTimeout: 5000 }, 'line', log);
      const viaTls = async (client: string, port: number, options: tls.ConnectionOptions): Promise<tls.TLSSocket> => {
        const raw = net.connect(h.listener.port, '127.0.0.1');
        sockets.push(raw);
        raw.on('error', () => undefined);
        await new Promise((r) => raw.once('connect', r));
        raw.write(v1(client, port));
        const t = tls.connect({ socket: raw, ca: fs.readFileSync(ca.caCert), servername: 'localhost', ...options });
        t.on('error', () => undefined);
        return t;
      };
      const anonymous = await viaTls('192.0.2.30', 6000, {});
      await new Promise((r) => anonymous.once('close', r));
      await waitFor(() => h.counters.tlsHandshakeFailures === 1, 'a client without a certificate refused');
      expect(entries.find((e) => e.message === 'TLS client certificate refused')).toMatchObject({ peer: '192.0.2.30:6000', reason: 'no client certificate' });
      const t = await viaTls('192.0.2.31', 6001, { cert: fs.readFileSync(app.cert), key: fs.readFileSync(app.key) });
      t.end(lines('mtls', 2));
      await waitFor(() => h.sink.points.length === 2, 'lines from the authenticated client');
      expect(h.peers).toEqual(['192.0.2.31:6001']);
      expect(entries.find((e) => e.message === 'TLS client certificate accepted')).toMatchObject({ level: 'info', listener: 'line', peer: '192.0.2.31:6001', subject: 'behind-the-balancer' });
      expect(h.counters.proxyProtocolErrors).toBe(0);
    });

    it('over TLS: a client that starts the handshake without a header is closed and counted', async () => {
      const h = await start({ proxyProtocol: true, tls: cert });
      const t = tls.connect({ port: h.listener.port, host: '127.0.0.1', ca: fs.readFileSync(ca.caCert), servername: 'localhost' });
      t.on('error', () => undefined);
      await new Promise((r) => t.once('close', r));
      await waitFor(() => h.counters.proxyProtocolErrors === 1, 'counted');
      expect(h.counters.activeConnections).toBe(0);
    });
  });

  describe('maxConnectionAge', () => {
    it('half-closes a connection streaming lines past its age: the client sees EOF, and every line it wrote is delivered once', async () => {
      const h = await start({ maxConnectionAge: 100, idleTimeout: 5000 });
      const c = await h.connect();
      const written = await streamUntilEof(c.socket, (i) => `age.${i} ${i} 1700000000\n`);
      expect(c.gotEnd()).toBe(true);
      expect(written).toBeGreaterThan(0);
      await waitFor(() => h.sink.points.length === written, `all ${written} lines delivered`);
      await waitFor(() => h.counters.activeConnections === 0, 'closed on our side too');
      expect(h.sink.points.map((p) => p.name)).toEqual(Array.from({ length: written }, (_, i) => `age.${i}`));
      expect(h.counters.connectionsAged).toBe(1);
      expect(h.counters.incompleteLines).toBe(0);
      expect(h.counters.invalidLines).toBe(0);
    });

    it('never cuts a pickle frame: frames written before the client closes all arrive whole', async () => {
      const h = await start({ maxConnectionAge: 100 }, 'pickle');
      const c = await h.connect();
      const frames = await streamUntilEof(c.socket, (i) => pickleFrame(`age.frame.${i}`, i), 5);
      await waitFor(() => h.sink.points.length === frames, `all ${frames} frames delivered`);
      expect(h.sink.points.map((p) => p.name)).toEqual(Array.from({ length: frames }, (_, i) => `age.frame.${i}`));
      expect(h.counters.connectionsAged).toBe(1);
      expect(h.counters.invalidPickles).toBe(0);
    });

    it('keeps reading a client that goes on writing after the FIN, until it closes', async () => {
      const h = await start({ maxConnectionAge: 50 });
      const c = await h.connect({ halfOpen: true });
      c.socket.write(lines('before', 10));
      await waitFor(() => c.gotEnd(), 'FIN at maxConnectionAge');
      expect(h.counters.connectionsAged).toBe(1);
      c.socket.write(lines('after.fin', 10));
      await waitFor(() => h.sink.points.length === 20, 'read after our FIN');
      expect(c.isClosed()).toBe(false);
      c.socket.end(lines('last', 5));
      await c.closed;
      await waitFor(() => h.counters.activeConnections === 0, 'closed once the client closed');
      expect(h.sink.points).toHaveLength(25);
      expect(h.counters.incompleteLines).toBe(0);
    });

    it('counts only connections that reach the age', async () => {
      const h = await start({ maxConnectionAge: 60_000 });
      const c = await h.connect();
      c.socket.end(lines('short', 3));
      await waitFor(() => h.sink.points.length === 3, 'delivered');
      await waitFor(() => h.counters.activeConnections === 0, 'closed');
      expect(h.counters.connectionsAged).toBe(0);
    });
  });

  describe('stop', () => {
    it('reads what paused connections hold until the senders close, and hands it on', async () => {
      const h = await start();
      h.listener.pause();
      const c = await h.connect();
      await waitFor(() => h.counters.activeConnections === 1, 'accepted');
      const written = new Promise<void>((r) => c.socket.end(lines('held', 2000), () => r()));
      await written; // in the kernel's buffers, none of it read by the paused listener
      expect(h.sink.points).toEqual([]);
      const report = await h.listener.stop(Date.now() + 10_000);
      expect(h.sink.points).toHaveLength(2000);
      expect(h.sink.points[1999]).toEqual({ name: 'held.1999', value: 1999, timestamp: 1700001999 });
      expect(report.abandoned).toEqual([]);
      expect(h.counters.activeConnections).toBe(0);
    });

    it('half-closes its side, keeps reading a sender that goes on, and cuts it at the deadline', async () => {
      const h = await start();
      h.listener.pause();
      const c = await h.connect({ halfOpen: true });
      await waitFor(() => h.counters.activeConnections === 1, 'accepted');
      c.socket.write(lines('open', 100));
      const stopping = h.listener.stop(Date.now() + 1000);
      await waitFor(() => c.gotEnd(), 'our FIN reached the sender');
      c.socket.write(lines('after.fin', 10));
      await waitFor(() => h.sink.points.length === 110, 'read after the half-close');
      const report = await stopping;
      expect(report.abandoned).toEqual(['1 connections their senders had not closed by the deadline were cut']);
      expect(h.counters.activeConnections).toBe(0);
    });

    it('closes when a sender that reads closes on our FIN, long before the deadline', async () => {
      const h = await start();
      const c = await h.connect();
      c.socket.on('end', () => c.socket.end());
      await waitFor(() => h.counters.activeConnections === 1, 'accepted');
      const report = await h.listener.stop(Date.now() + 60_000);
      expect(report.abandoned).toEqual([]);
      expect(c.isClosed() || c.gotEnd()).toBe(true);
    });
  });
});

/** PROXY v2 LOCAL: what HAProxy's check-send-proxy health checks start with. */
const PROXY_V2_LOCAL = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x20, 0x00, 0x00, 0x00]);

/** PROXY v2 over TCP/IPv6 from `source` (written in full form, 8 groups or with one `::`) to [::1]:2003. */
function proxyV2Inet6(source: string, port: number): Buffer {
  const [head, tail = ''] = source.split('::');
  const left = head === '' ? [] : (head as string).split(':');
  const right = tail === '' ? [] : tail.split(':');
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const b = Buffer.alloc(16 + 36);
  PROXY_V2_LOCAL.copy(b);
  b[12] = 0x21;
  b[13] = 0x21;
  b.writeUInt16BE(36, 14);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), 16 + i * 2));
  b.writeUInt16BE(1, 16 + 30); // ::1
  b.writeUInt16BE(port, 48);
  b.writeUInt16BE(2003, 50);
  return b;
}

/** One carbon pickle frame holding one datapoint (timestamp 1700000000). */
function pickleFrame(name: string, value: number): Buffer {
  const n = Buffer.from(name, 'utf8');
  const body = Buffer.alloc(4 + 5 + n.length + 20 + 2);
  let p = 0;
  for (const byte of [0x80, 2, 0x5d, 0x28]) body[p++] = byte; // PROTO 2, EMPTY_LIST, MARK
  body[p] = 0x58; // BINUNICODE
  body.writeUInt32LE(n.length, p + 1);
  p += 5;
  p += n.copy(body, p);
  body[p] = 0x47; // BINFLOAT
  body.writeDoubleBE(1700000000, p + 1);
  body[p + 9] = 0x47;
  body.writeDoubleBE(value, p + 10);
  body[p + 18] = 0x86; // TUPLE2 (timestamp, value)
  body[p + 19] = 0x86; // TUPLE2 (name, (...))
  p += 20;
  body[p++] = 0x65; // APPENDS
  body[p++] = 0x2e; // STOP
  const head = Buffer.alloc(4);
  head.writeUInt32BE(p);
  return Buffer.concat([head, body.subarray(0, p)]);
}

/**
 * A sender that writes `perWrite` whole units per write as fast as the socket takes them, until the relay's
 * FIN; then it stops and closes (Node's default on EOF). Resolves, once closed, with the units it wrote.
 */
async function streamUntilEof(socket: net.Socket, unit: (i: number) => string | Buffer, perWrite = 20): Promise<number> {
  let n = 0;
  let eof = false;
  socket.on('end', () => (eof = true));
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  const pump = (): void => {
    if (eof || socket.destroyed) return;
    const parts: (string | Buffer)[] = [];
    for (let k = 0; k < perWrite; k++) parts.push(unit(n++));
    const chunk = typeof parts[0] === 'string' ? parts.join('') : Buffer.concat(parts as Buffer[]);
    if (socket.write(chunk)) setImmediate(pump);
    else socket.once('drain', pump);
  };
  pump();
  await closed;
  return n;
}

describe('UdpListener stop', () => {
  it('returns at once, however far the deadline (datagrams still in the kernel buffer cannot be read back)', async () => {
    const counters = new IngestCounters();
    const sink = new CopyingSink();
    const deps = { sink, counters, limited: new RateLimitedLog(silentLogger()), now: Date.now };
    const udp = new UdpListener({ host: '127.0.0.1', port: 0 }, { log: silentLogger(), protocol: (peer) => new LineProtocol(peer, { maxLineLength: 1024, timestampOptional: false }, deps) });
    await udp.start();
    const started = Date.now();
    expect(await udp.stop(started + 60_000)).toEqual({ name: 'line-udp', undelivered: 0, abandoned: [] });
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
