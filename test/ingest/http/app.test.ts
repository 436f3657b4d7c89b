import request from 'supertest';
import type { EndpointGroup } from '../../../src/ingest/http/endpoint-group';
import { createFeedEndpoints } from '../../../src/ingest/http/endpoints/feed';
import { ERROR_CODE_HEADER, HTTP_ERROR_CODES, HttpErrorCode } from '../../../src/ingest/http/http-error';
import { startHttpGroup, type HttpHarness } from '../../helpers/http';

/** The error code header every error answer carries. */
const code = (res: request.Response): string | undefined => res.headers['x-carbon-fanout-error'] as string | undefined;

describe('HTTP front door: shared behaviour', () => {
  let h: HttpHarness;
  let nowMs = 1_700_000_000_000;
  afterEach(async () => h.close());

  it('GET /health needs no credentials; unknown paths are 404 naming the path', async () => {
    h = await startHttpGroup(createFeedEndpoints, { auth: { apiKeys: ['k'] } });
    const health = await request(h.app).get('/health');
    expect([health.status, health.body]).toEqual([200, { health: 'ok' }]);
    expect(code(health)).toBeUndefined();
    const unauthorized = await request(h.app).get('/feed/a/1');
    expect([unauthorized.status, code(unauthorized)]).toEqual([401, 'CF_ERR_HTTP_UNAUTHORIZED']);
    const missing = await request(h.app).get('/nothing/here');
    expect([missing.status, missing.text]).toEqual([404, 'no endpoint GET /nothing/here\n']);
    expect(code(missing)).toBe('CF_ERR_HTTP_NOT_FOUND');
    // a method an endpoint does not take is a 404 too (express has no 405 of its own here)
    const method = await request(h.app).delete('/feed/a/1');
    expect([method.status, code(method)]).toEqual([404, 'CF_ERR_HTTP_NOT_FOUND']);
  });

  it('refuses clients outside the CIDR allow-list with 403', async () => {
    h = await startHttpGroup(createFeedEndpoints, { feed: { auth: { allow: ['10.0.0.0/8'] } } });
    const res = await request(h.app).get('/feed/a/1');
    expect(res.status).toBe(403);
    expect(res.text).toMatch(/client address .*127\.0\.0\.1 is not allowed/);
    expect(code(res)).toBe('CF_ERR_HTTP_FORBIDDEN');
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
    expect(code(limited)).toBe('CF_ERR_HTTP_RATE_LIMITED');
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

  it('answers a handler that fails unexpectedly with 500 "internal error" and CF_ERR_HTTP_INTERNAL', async () => {
    const failing = (): EndpointGroup => ({
      name: 'failing',
      mount(routes) {
        routes.on(['get'], '/boom', () => {
          throw new Error('disk on fire');
        });
      },
    });
    h = await startHttpGroup(failing);
    const res = await request(h.app).get('/boom');
    expect([res.status, res.text, code(res)]).toEqual([500, 'internal error\n', 'CF_ERR_HTTP_INTERNAL']);
  });
});

describe('HTTP error codes', () => {
  it('are the published ones, each defined once', () => {
    // written out: a code is a contract with whoever matches on it, so renaming, removing or adding one must show up here
    expect([...HTTP_ERROR_CODES]).toEqual([
      'CF_ERR_HTTP_UNAUTHORIZED',
      'CF_ERR_HTTP_BAD_SIGNATURE',
      'CF_ERR_HTTP_FORBIDDEN',
      'CF_ERR_HTTP_RATE_LIMITED',
      'CF_ERR_HTTP_TOO_MANY_COUNTERS',
      'CF_ERR_HTTP_OVERLOADED',
      'CF_ERR_HTTP_TOO_LARGE',
      'CF_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE',
      'CF_ERR_HTTP_MALFORMED_BODY',
      'CF_ERR_HTTP_INVALID_BODY',
      'CF_ERR_HTTP_MISSING_PARAMETER',
      'CF_ERR_HTTP_INVALID_ITEMS',
      'CF_ERR_HTTP_NOT_FOUND',
      'CF_ERR_HTTP_INTERNAL',
    ]);
    expect(new Set(HTTP_ERROR_CODES).size).toBe(HTTP_ERROR_CODES.length);
    expect(Object.isFrozen(HttpErrorCode)).toBe(true);
    expect(ERROR_CODE_HEADER.toLowerCase()).toBe('x-carbon-fanout-error');
  });
});
