import request from 'supertest';
import { createFeedEndpoints } from '../../../src/ingest/http/endpoints/feed';
import { startHttpGroup, type HttpHarness } from '../../helpers/http';

describe('HTTP front door: shared behaviour', () => {
  let h: HttpHarness;
  let nowMs = 1_700_000_000_000;
  afterEach(async () => h.close());

  it('GET /health needs no credentials; unknown paths are 404 naming the path', async () => {
    h = await startHttpGroup(createFeedEndpoints, { auth: { apiKeys: ['k'] } });
    const health = await request(h.app).get('/health');
    expect([health.status, health.body]).toEqual([200, { health: 'ok' }]);
    expect((await request(h.app).get('/feed/a/1')).status).toBe(401);
    const missing = await request(h.app).get('/nothing/here');
    expect([missing.status, missing.text]).toEqual([404, 'no endpoint GET /nothing/here\n']);
  });

  it('refuses clients outside the CIDR allow-list with 403', async () => {
    h = await startHttpGroup(createFeedEndpoints, { feed: { auth: { allow: ['10.0.0.0/8'] } } });
    const res = await request(h.app).get('/feed/a/1');
    expect(res.status).toBe(403);
    expect(res.text).toMatch(/client address .*127\.0\.0\.1 is not allowed/);
    expect(h.relay.counters.httpUnauthorized).toBe(1);
    await h.close();
    h = await startHttpGroup(createFeedEndpoints, { feed: { auth: { allow: ['127.0.0.0/8', '::1'] } } });
    expect((await request(h.app).get('/feed/a/1')).status).toBe(200);
  });

  it('rate-limits per client with 429 and Retry-After, refilling over time', async () => {
    nowMs = 1_700_000_000_000;
    h = await startHttpGroup(createFeedEndpoints, { rateLimit: { requestsPerSecond: 2, burst: 3 } }, () => nowMs);
    const codes: number[] = [];
    for (let i = 0; i < 4; i++) codes.push((await request(h.app).get('/feed/a/1')).status);
    expect(codes).toEqual([200, 200, 200, 429]);
    const limited = await request(h.app).get('/feed/a/1');
    expect(limited.headers['retry-after']).toBe('1');
    nowMs += 500; // one token back at 2/s
    expect((await request(h.app).get('/feed/a/1')).status).toBe(200);
    expect((await request(h.app).get('/feed/a/1')).status).toBe(429);
    expect(h.relay.counters.httpRateLimited).toBe(3);
  });

  it('validates the http config: a bad CIDR is a config error', async () => {
    const { httpSchema } = await import('../../../src/config/schema');
    expect(httpSchema.safeParse({ auth: { allow: ['10.0.0.0/33'] } }).success).toBe(false);
    expect(httpSchema.safeParse({ auth: { allow: ['example.com'] } }).success).toBe(false);
    expect(httpSchema.safeParse({ auth: { allow: ['192.168.1.0/24', 'fd00::/8'] } }).success).toBe(true);
    h = await startHttpGroup(createFeedEndpoints);
  });
});
