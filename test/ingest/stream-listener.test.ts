import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
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
import { makeTestCa } from '../helpers/certs';
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

  async function start(opts: Partial<StreamListenerOptions> = {}, kind: 'line' | 'pickle' = 'line', log: Logger = silentLogger()): Promise<Harness> {
    const counters = new IngestCounters();
    const sink = new CopyingSink();
    const protocolDeps = { sink, counters, limited: new RateLimitedLog(log), now: Date.now };
    const decoder = new PickleDecoder();
    const listener = new StreamListener(
      { name: kind, ...DEFAULTS, ...opts },
      {
        pipeline: { addSource: () => () => undefined },
        counters,
        log,
        protocol: (peer) => (kind === 'line' ? new LineProtocol(peer, 1024, protocolDeps) : new PickleProtocol(peer, 1024, { ...protocolDeps, decoder })),
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
    return { listener, counters, sink, connect };
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

describe('UdpListener stop', () => {
  it('returns at once, however far the deadline (datagrams still in the kernel buffer cannot be read back)', async () => {
    const counters = new IngestCounters();
    const sink = new CopyingSink();
    const deps = { sink, counters, limited: new RateLimitedLog(silentLogger()), now: Date.now };
    const udp = new UdpListener({ host: '127.0.0.1', port: 0 }, { log: silentLogger(), protocol: (peer) => new LineProtocol(peer, 1024, deps) });
    await udp.start();
    const started = Date.now();
    expect(await udp.stop(started + 60_000)).toEqual({ name: 'line-udp', undelivered: 0, abandoned: [] });
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
