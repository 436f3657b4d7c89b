import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import request from 'supertest';
import type { Relay } from '../../src/relay/relay';
import { makeTestCa } from '../helpers/certs';
import { startRelay } from '../helpers/relay';
import { CaptureServer, waitFor } from '../helpers/sink';

/** The relay's own HTTP listener, end to end: real server, real socket, real destination. */
describe('relay with listen.http', () => {
  let relay: Relay;
  let capture: CaptureServer;
  afterEach(async () => {
    await relay.stop(Date.now() + 2000);
    await capture.close();
  });

  async function start(httpListen: Record<string, unknown>, http: Record<string, unknown> = {}, selfMetrics?: Record<string, unknown>): Promise<void> {
    capture = new CaptureServer('line');
    const port = await capture.listen();
    relay = await startRelay({
      listen: { http: { host: '127.0.0.1', port: 0, ...httpListen } },
      http,
      destinations: [{ name: 'cap', host: '127.0.0.1', port, protocol: 'line', apiKey: 'KEY' }],
      rules: [{ default: true, destinations: ['cap'] }],
      ...(selfMetrics && { selfMetrics }),
    });
  }
  const lines = (): string[] => capture.raw.toString().split('\n').filter(Boolean);

  it('serves every default endpoint group over HTTP, through the rules to the destination (API key prefixed)', async () => {
    await start({}, { publish: { prefixes: ['app'] } });
    const url = `http://127.0.0.1:${relay.listeners.http!.port}`;
    expect((await request(url).post('/api/v1/sink').send('sink.m 1 1700000000\n')).status).toBe(202);
    expect((await request(url).get('/feed/feed.m/2/1700000000')).status).toBe(200);
    expect((await request(url).post('/publish/app').send({ metric: 'pub', value: 3, measure_time: 1700000000 })).status).toBe(200);
    await waitFor(() => lines().length === 3, '3 lines');
    expect(lines().sort()).toEqual(['KEY.app.pub 3 1700000000', 'KEY.feed.m 2 1700000000', 'KEY.sink.m 1 1700000000']);
    expect(relay.counters.metricsReceived).toBe(3);
  });

  it('a client that disconnects in the middle of a body is let go (counted), and the relay keeps serving', async () => {
    await start({});
    const port = relay.listeners.http!.port;
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    sock.write('POST /api/v1/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\npartial.line 1 1700000000\n');
    await waitFor(() => relay.counters.httpRequests === 0 && sock.bytesWritten > 0, 'sent');
    sock.destroy();
    await waitFor(() => relay.counters.httpBadRequests === 1, 'the abandoned request ended');
    expect(lines()).toEqual([]);
    expect((await request(`http://127.0.0.1:${port}`).post('/api/v1/sink').send('after.m 1 1700000000\n')).status).toBe(202);
  });

  it('refuses a request larger than the smallest destination queue as too large (it could never be admitted whole)', async () => {
    capture = new CaptureServer('line');
    const port = await capture.listen();
    relay = await startRelay({
      listen: { http: { host: '127.0.0.1', port: 0 } },
      destinations: [{ name: 'cap', host: '127.0.0.1', port, protocol: 'line', maxQueueSize: 50 }],
      rules: [{ default: true, destinations: ['cap'] }],
    });
    const url = `http://127.0.0.1:${relay.listeners.http!.port}`;
    const body = (n: number): string => Array.from({ length: n }, (_, i) => `m.${i} 1 1700000000\n`).join('');
    const tooBig = await request(url).post('/api/v1/sink').send(body(51));
    expect(tooBig.status).toBe(413);
    expect(tooBig.text).toMatch(/more than 50 datapoints/);
    await waitFor(() => relay.destinations.get('cap')!.isConnected, 'connected');
    expect((await request(url).post('/api/v1/sink').send(body(50))).status).toBe(202);
    await waitFor(() => lines().length === 50, '50 lines');
    expect(relay.destinations.get('cap')!.counters.fullQueueDrops).toBe(0);
  });

  it('a disabled group is not served', async () => {
    await start({}, { sink: { enabled: false } });
    const url = `http://127.0.0.1:${relay.listeners.http!.port}`;
    expect((await request(url).post('/api/v1/sink').send('a 1\n')).status).toBe(404);
  });

  it('serves HTTPS with the configured certificate', async () => {
    const ca = makeTestCa();
    await start({ cert: ca.serverCert, key: ca.serverKey });
    const body = await new Promise<{ status: number }>((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: relay.listeners.http!.port, path: '/api/v1/sink', method: 'POST', ca: fs.readFileSync(ca.caCert), servername: 'localhost' },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        },
      );
      req.on('error', reject);
      req.end('tls.m 1 1700000000\n');
    });
    expect(body.status).toBe(202);
    await waitFor(() => lines().length === 1, 'line');
    expect(lines()).toEqual(['KEY.tls.m 1 1700000000']);
  });

  it('self-metrics include the HTTP counters when HTTP is on', async () => {
    await start({}, {}, { interval: 0, prefix: 'carbon.relays.t-a' });
    const url = `http://127.0.0.1:${relay.listeners.http!.port}`;
    await request(url).get('/feed/x/notanumber');
    const names = new Map<string, number>();
    const b = relay.selfMetrics.emit();
    for (let i = 0; i < b.length; i++) names.set(b.names[i]!, b.values[i]!);
    expect(names.get('carbon.relays.t-a.httpRequests')).toBe(1);
    expect(names.get('carbon.relays.t-a.httpBadRequests')).toBe(1);
    expect(names.has('carbon.relays.t-a.httpOverloaded')).toBe(true);
  });
});
