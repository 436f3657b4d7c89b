import request from 'supertest';
import type { Relay } from '../../src/relay/relay';
import type { Logger } from '../../src/telemetry/logger';
import { captureLog } from '../helpers/capture-log';
import { startRelay } from '../helpers/relay';
import { CaptureServer, waitFor } from '../helpers/sink';

const basic = (s: string): string => `Basic ${Buffer.from(s).toString('base64')}`;
const code = (res: request.Response): string | undefined => res.headers['x-carbon-fanout-error'] as string | undefined;

/**
 * Issue 15 (items 5, 6, 8), black-box: a relay with listen.http on a real
 * socket, its one destination a TCP capture server. Requests come from
 * 127.0.0.1, so "a peer that is not a listed proxy" is 127.0.0.1 with a
 * trustProxy list that leaves it out.
 */
describe('HTTP front door: hostile and malformed input', () => {
  let relay: Relay | undefined;
  let capture: CaptureServer;
  afterEach(async () => {
    await relay?.stop(Date.now() + 2000);
    relay = undefined;
    await capture.close();
  });

  async function start(http: Record<string, unknown>, log?: Logger): Promise<string> {
    capture = new CaptureServer('line');
    const port = await capture.listen();
    relay = await startRelay(
      {
        listen: { http: { host: '127.0.0.1', port: 0 } },
        http,
        destinations: [{ name: 'cap', host: '127.0.0.1', port, protocol: 'line' }],
        rules: [{ default: true, destinations: ['cap'] }],
      },
      log,
    );
    return `http://127.0.0.1:${relay.listeners.http!.port}`;
  }
  const lines = (): string[] => capture.raw.toString().split('\n').filter(Boolean);
  /** Stops the relay, which flushes impulse counters and delivers what is queued, so nothing depends on the flush timer. */
  async function stopAndDeliver(): Promise<void> {
    await waitFor(() => relay!.destinations.get('cap')!.isConnected, 'destination connected');
    await relay!.stop(Date.now() + 5000);
  }

  it('a forged X-Forwarded-For from a peer that is not a listed proxy is judged by the socket address (403); from a listed proxy it is honoured', async () => {
    // the forged address would pass allow; the real peer, 127.0.0.1, would not
    let url = await start({ trustProxy: ['10.0.0.5', '10.1.0.0/16'], auth: { allow: ['10.0.0.0/8'] } });
    const forged = await request(url).get('/feed/forged.m/1/1700000000').set('X-Forwarded-For', '10.9.9.9');
    expect([forged.status, code(forged)]).toEqual([403, 'CF_ERR_HTTP_FORBIDDEN']);
    expect(forged.text).toMatch(/client address .*127\.0\.0\.1 is not allowed/);
    expect(relay!.counters.httpUnauthorized).toBe(1);
    await relay!.stop(Date.now() + 2000);
    await capture.close();

    url = await start({ trustProxy: ['127.0.0.1'], auth: { allow: ['10.0.0.0/8'] } });
    const proxied = await request(url).get('/feed/proxied.m/1/1700000000').set('X-Forwarded-For', '10.9.9.9');
    expect(proxied.status).toBe(200);
    const outside = await request(url).get('/feed/outside.m/1/1700000000').set('X-Forwarded-For', '203.0.113.9');
    expect(outside.status).toBe(403);
    expect(outside.text).toMatch(/client address 203\.0\.113\.9 is not allowed/);
    await waitFor(() => lines().length === 1, 'the proxied datapoint');
    expect(lines()).toEqual(['proxied.m 1 1700000000']);
  });

  it('/feed/%ff/1 is 401 without credentials, 400 CF_ERR_HTTP_MALFORMED_URL with them, and its log line is rate-limited', async () => {
    const { log, entries } = captureLog();
    const url = await start({ auth: { apiKeys: ['k'] } }, log);
    const anonymous = await request(url).get('/feed/%ff/1');
    expect([anonymous.status, code(anonymous)]).toEqual([401, 'CF_ERR_HTTP_UNAUTHORIZED']);
    const n = 25;
    for (let i = 0; i < n; i++) {
      const res = await request(url).get('/feed/%ff/1').set('Authorization', basic('k'));
      expect([res.status, code(res)]).toEqual([400, 'CF_ERR_HTTP_MALFORMED_URL']);
      expect(res.text).toContain('path parameter metric: "%ff" is not valid percent-encoded UTF-8');
    }
    expect(relay!.counters.httpBadRequests).toBe(n);
    expect(relay!.counters.httpUnauthorized).toBe(1);
    const malformed = entries.filter((e) => e.message === 'HTTP request URL is not valid percent-encoding');
    // one line, and at most one more if the 25 requests somehow spanned the 10 s interval
    expect(malformed.length).toBeGreaterThanOrEqual(1);
    expect(malformed.length).toBeLessThanOrEqual(2);
    expect(malformed[0]).toMatchObject({ level: 'warn', url: '"/feed/%ff/1"' });
    expect(entries.filter((e) => e.level === 'error')).toEqual([]);
    expect(lines()).toEqual([]);
  });

  it('/imp with inf, -inf, nan or an overflowing value is 400; a sum that overflows is dropped and counted; nothing non-finite reaches the destination', async () => {
    const url = await start({ feed: { flushInterval: '1h' } });
    for (const path of ['/imp/m/inf', '/imp/m/-inf', '/imp/m/nan', '/imp/m/1e400', '/imp/m/inf?output=img', '/feed/m/inf', '/feed/m/nan?output=img']) {
      const res = await request(url).get(path);
      expect([path, res.status, code(res)]).toEqual([path, 400, 'CF_ERR_HTTP_INVALID_ITEMS']);
      expect(res.text).toMatch(/is not a finite number/);
    }
    expect((await request(url).get('/imp/big/1.7e308')).status).toBe(200);
    expect((await request(url).get('/imp/big/1.7e308')).status).toBe(200);
    expect((await request(url).get('/imp/ok/2')).status).toBe(200);
    await stopAndDeliver();
    expect(lines().map((l) => l.split(' ').slice(0, 2).join(' '))).toEqual(['ok 2']);
    expect(capture.raw.toString()).not.toMatch(/inf|nan/i);
    expect(relay!.counters.httpImpulseOverflows).toBe(1);
    relay = undefined;
  });
});
