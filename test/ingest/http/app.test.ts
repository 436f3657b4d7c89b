import request from 'supertest';
import { httpSchema } from '../../../src/config/schema';
import { createHttpApp } from '../../../src/ingest/http/app';
import { proxyTrust } from '../../../src/ingest/http/client-address';
import type { EndpointGroup } from '../../../src/ingest/http/endpoint-group';
import { createFeedEndpoints } from '../../../src/ingest/http/endpoints/feed';
import { createPublishEndpoints } from '../../../src/ingest/http/endpoints/publish';
import { ERROR_CODE_HEADER, HTTP_ERROR_CODES, HttpErrorCode } from '../../../src/ingest/http/http-error';
import { HttpIngest } from '../../../src/ingest/http/http-ingest';
import { RateLimitedLog } from '../../../src/telemetry/rate-limited-log';
import { captureLog } from '../../helpers/capture-log';
import { startHttpGroup, type HttpHarness } from '../../helpers/http';
import { waitFor } from '../../helpers/sink';

const basic = (s: string): string => `Basic ${Buffer.from(s).toString('base64')}`;

/** A group whose one route always throws, as a handler with a bug would. */
const failing = (): EndpointGroup => ({
  name: 'failing',
  mount(routes) {
    routes.on(['get'], '/boom{/:id}', () => {
      throw new Error('disk on fire');
    });
  },
});

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

  it('counts every answer by endpoint group and status, a rate-limited request against the group it was for', async () => {
    nowMs = 1_700_000_000_000;
    h = await startHttpGroup(createFeedEndpoints, { rateLimit: { requestsPerSecond: 1, burst: 2 }, feed: { auth: { apiKeys: ['k'] } } }, () => nowMs);
    const statuses = [
      (await request(h.app).get('/health')).status, // not rate-limited, no group's auth
      (await request(h.app).get('/feed/a/1').set('Authorization', basic('k:'))).status,
      (await request(h.app).get('/feed/a/1')).status, // no credentials
      (await request(h.app).get('/feed/a/1').set('Authorization', basic('k:'))).status, // bucket empty
      (await request(h.app).get('/nothing')).status, // no group, and rate-limited as well
    ];
    expect(statuses).toEqual([200, 200, 401, 429, 429]);
    nowMs += 1000;
    expect((await request(h.app).get('/nothing')).status).toBe(404);
    const seen: Record<string, number> = {};
    h.relay.topology.counters.httpResponses.report((key, value, kind) => {
      expect(kind).toBe('counter');
      seen[key] = value;
    });
    expect(seen).toEqual({
      'httpResponses.health.200': 1,
      'httpResponses.feed.200': 1,
      'httpResponses.feed.401': 1,
      'httpResponses.feed.429': 1,
      'httpResponses.none.429': 1,
      'httpResponses.none.404': 1,
    });
    expect(h.relay.counters.httpRequests).toBe(6);
  });

  it('validates the http config: a bad CIDR is a config error', async () => {
    const { httpSchema } = await import('../../../src/config/schema');
    expect(httpSchema.safeParse({ auth: { allow: ['10.0.0.0/33'] } }).success).toBe(false);
    expect(httpSchema.safeParse({ auth: { allow: ['example.com'] } }).success).toBe(false);
    expect(httpSchema.safeParse({ auth: { allow: ['192.168.1.0/24', 'fd00::/8'] } }).success).toBe(true);
    h = await startHttpGroup(createFeedEndpoints);
  });

  it('answers a handler that fails unexpectedly with 500 "internal error" and CF_ERR_HTTP_INTERNAL', async () => {
    h = await startHttpGroup(failing);
    const res = await request(h.app).get('/boom');
    expect([res.status, res.text, code(res)]).toEqual([500, 'internal error\n', 'CF_ERR_HTTP_INTERNAL']);
  });

  it('logs handler failures at error level, rate-limited: 20 failing requests write one line, the next interval one more with the count', async () => {
    nowMs = 1_700_000_000_000;
    h = await startHttpGroup(createFeedEndpoints);
    const { log, entries } = captureLog();
    const ingest = new HttpIngest({ ...h.ingest.deps, log, limited: new RateLimitedLog(log, 10_000, () => nowMs), now: () => nowMs }, 100);
    const app = createHttpApp(httpSchema.parse({}), ingest, [failing()]);
    for (let i = 0; i < 20; i++) expect((await request(app).get(i % 2 === 0 ? '/boom' : `/boom/${i}`)).status).toBe(500);
    expect(entries.map((e) => [e.level, e.message, e.error])).toEqual([['error', 'HTTP handler failed', 'disk on fire']]);
    nowMs += 10_000;
    await request(app).get('/boom');
    expect(entries).toHaveLength(2);
    expect(entries[1]).toMatchObject({ level: 'error', suppressedSinceLast: 19 });
  });
});

describe('trustProxy settings', () => {
  it('true trusts loopback proxies only, never any peer; a list trusts exactly its addresses and CIDRs; false and [] trust none', () => {
    const loopback = proxyTrust(true);
    expect(['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'].map((a) => loopback(a, 0))).toEqual([true, true, true, true]);
    expect(['203.0.113.9', '10.0.0.5', '::ffff:10.0.0.5', '2001:db8::1', 'not-an-ip'].map((a) => loopback(a, 0))).toEqual([false, false, false, false, false]);
    const listed = proxyTrust(['10.0.0.5', '10.1.0.0/16', 'fd00::/8']);
    expect(['10.0.0.5', '::ffff:10.0.0.5', '10.1.200.7', 'fd00::7'].map((a) => listed(a, 0))).toEqual([true, true, true, true]);
    expect(['10.0.0.6', '10.2.0.1', '127.0.0.1', '::1'].map((a) => listed(a, 1))).toEqual([false, false, false, false]);
    for (const none of [proxyTrust(false), proxyTrust([])]) expect(['127.0.0.1', '10.0.0.5'].map((a) => none(a, 0))).toEqual([false, false]);
  });

  it('the config takes false, true or a list of addresses/CIDRs (IPv4 and IPv6); a bad entry is a config error naming it', () => {
    expect(httpSchema.parse({}).trustProxy).toBe(false);
    expect(httpSchema.parse({ trustProxy: true }).trustProxy).toBe(true);
    expect(httpSchema.parse({ trustProxy: ['10.0.0.5', '10.1.0.0/16', '::1', 'fd00::/8'] }).trustProxy).toEqual(['10.0.0.5', '10.1.0.0/16', '::1', 'fd00::/8']);
    for (const bad of [['10.0.0.0/33'], ['proxy.example'], ['10.0.0.5', ''], 'yes']) {
      const r = httpSchema.safeParse({ trustProxy: bad });
      expect(r.success).toBe(false);
    }
    const issues = (v: unknown): [PropertyKey[], string][] | undefined => httpSchema.safeParse({ trustProxy: v }).error?.issues.map((i) => [i.path, i.message]);
    expect(issues(['10.0.0.5', 'proxy.example'])).toEqual([[['trustProxy', 1], 'expected an address or CIDR block, like 10.0.0.0/8 or ::1']]);
    expect(issues('yes')).toEqual([[['trustProxy'], 'expected true (loopback proxies only), false, or a list of proxy addresses/CIDRs']]);
  });
});

describe('HTTP front door: trustProxy', () => {
  let h: HttpHarness;
  afterEach(async () => h.close());

  it('trustProxy: true no longer means every peer: the app trusts loopback, not a remote peer', async () => {
    h = await startHttpGroup(createFeedEndpoints, { trustProxy: true });
    const trust = h.app.get('trust proxy fn') as (addr: string, i: number) => boolean;
    expect([trust('127.0.0.1', 0), trust('203.0.113.9', 0), trust('10.0.0.5', 0)]).toEqual([true, false, false]);
  });

  it('a forged X-Forwarded-For from a peer that is not a listed proxy is ignored: allow and the rate limit judge the socket address', async () => {
    h = await startHttpGroup(createFeedEndpoints, { trustProxy: ['10.0.0.5'], feed: { auth: { allow: ['10.0.0.0/8'] } } });
    const forged = await request(h.app).get('/feed/a/1').set('X-Forwarded-For', '10.9.9.9');
    expect([forged.status, code(forged)]).toEqual([403, 'CF_ERR_HTTP_FORBIDDEN']);
    expect(forged.text).toMatch(/client address .*127\.0\.0\.1 is not allowed/);
    await h.close();
    h = await startHttpGroup(createFeedEndpoints, { trustProxy: ['10.0.0.5'], rateLimit: { requestsPerSecond: 1, burst: 1 } }, () => 1_700_000_000_000);
    expect((await request(h.app).get('/feed/a/1').set('X-Forwarded-For', '10.9.9.1')).status).toBe(200);
    // a new forged address each time is still the same client, with the same bucket
    expect((await request(h.app).get('/feed/a/1').set('X-Forwarded-For', '10.9.9.2')).status).toBe(429);
  });

  it('from a listed proxy, the client is the rightmost address that is not a listed proxy, for allow and the rate limit alike', async () => {
    const http = { trustProxy: ['127.0.0.1', '10.0.0.5'], feed: { auth: { allow: ['192.0.2.0/24'] } } };
    h = await startHttpGroup(createFeedEndpoints, http);
    // the leftmost entry was written by the client itself; 10.0.0.5 is our second proxy
    expect((await request(h.app).get('/feed/a/1').set('X-Forwarded-For', '10.9.9.9, 192.0.2.7, 10.0.0.5')).status).toBe(200);
    const outside = await request(h.app).get('/feed/a/1').set('X-Forwarded-For', '192.0.2.7, 10.9.9.9');
    expect(outside.status).toBe(403);
    expect(outside.text).toMatch(/client address 10\.9\.9\.9 is not allowed/);
    expect((await request(h.app).get('/feed/a/1')).status).toBe(403); // no header: the proxy itself is the client
    await h.close();
    h = await startHttpGroup(createFeedEndpoints, { trustProxy: ['127.0.0.1'], rateLimit: { requestsPerSecond: 1, burst: 1 } }, () => 1_700_000_000_000);
    const status = async (client: string): Promise<number> => (await request(h.app).get('/feed/a/1').set('X-Forwarded-For', client)).status;
    expect([await status('192.0.2.1'), await status('192.0.2.2'), await status('192.0.2.1'), await status('192.0.2.2')]).toEqual([200, 200, 429, 429]);
  });
});

describe('HTTP front door: malformed percent-encoding in the path', () => {
  let h: HttpHarness;
  let nowMs = 1_700_000_000_000;
  afterEach(async () => h.close());

  it('is 400 CF_ERR_HTTP_MALFORMED_URL naming the parameter, only after the credentials check, counted as a bad request', async () => {
    h = await startHttpGroup(createFeedEndpoints, { auth: { apiKeys: ['k'] } });
    const anonymous = await request(h.app).get('/feed/%ff/1');
    expect([anonymous.status, code(anonymous)]).toEqual([401, 'CF_ERR_HTTP_UNAUTHORIZED']);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic/);
    const res = await request(h.app).get('/feed/%ff/1').set('Authorization', basic('k'));
    expect([res.status, code(res)]).toEqual([400, 'CF_ERR_HTTP_MALFORMED_URL']);
    expect(res.text).toBe('path "/feed/%ff/1" is not valid percent-encoding (a % must start an escape of UTF-8 bytes, like %2F or %C3%A9)\npath parameter metric: "%ff" is not valid percent-encoded UTF-8\n');
    expect(h.relay.counters.httpBadRequests).toBe(1);
    expect(h.relay.counters.httpUnauthorized).toBe(1);
    await h.close();
    h = await startHttpGroup(createFeedEndpoints, { feed: { auth: { allow: ['10.0.0.0/8'] } } });
    const forbidden = await request(h.app).get('/feed/%ff/1');
    expect([forbidden.status, code(forbidden)]).toEqual([403, 'CF_ERR_HTTP_FORBIDDEN']);
  });

  it('every route with path parameters answers 400, whichever parameter and whatever the bad escape; nothing is sent', async () => {
    h = await startHttpGroup(createFeedEndpoints);
    const cases: [string, string][] = [
      ['/feed/%ff/1', 'metric'],
      ['/feed/a/%zz', 'value'],
      ['/feed/a/1/%4', 'timestamp'],
      ['/feed/ok%20name/%e2%82?output=img', 'value'],
      ['/imp/%c3', 'metric'],
      ['/imp/a/%', 'value'],
      ['/tdiff/%ff', 'metric'],
    ];
    for (const [path, param] of cases) {
      const res = await request(h.app).post(path);
      expect([path, res.status, code(res)]).toEqual([path, 400, 'CF_ERR_HTTP_MALFORMED_URL']);
      expect(res.text).toContain(`path parameter ${param}: `);
    }
    // the query these endpoints read too: %ff would otherwise become U+FFFD in a metric name
    const queries = ['/feed?metric=%ff&value=1', '/imp?metric=a&_=%e2%82', '/tdiff?event=%zz'];
    for (const path of queries) {
      const res = await request(h.app).get(path);
      expect([path, res.status, code(res)]).toEqual([path, 400, 'CF_ERR_HTTP_MALFORMED_URL']);
    }
    expect((await request(h.app).get(queries[0]!)).text).toBe('query is not valid percent-encoding (a % must start an escape of UTF-8 bytes, like %2F or %C3%A9)\nquery: "metric=%ff" is not valid percent-encoded UTF-8\n');
    // a path no endpoint serves stays a 404, naming the path as sent
    const missing = await request(h.app).get('/nothing/%ff');
    expect([missing.status, missing.text]).toEqual([404, 'no endpoint GET /nothing/%ff\n']);
    expect(h.relay.counters.httpBadRequests).toBe(cases.length + queries.length + 2);
    // a well-formed escape is still decoded
    expect((await request(h.app).get('/feed/caf%C3%A9.visits/1')).status).toBe(200);
    await waitFor(() => h.lines().length === 1, 'one line');
    expect(h.lines()).toEqual([expect.stringMatching(/^café\.visits 1 \d+$/)]);
    await h.close();
    h = await startHttpGroup(createPublishEndpoints, { publish: { prefixes: ['app'], auth: { users: [{ user: 'ops', password: 'pw' }] } } });
    expect((await request(h.app).post('/publish/%ff').send([])).status).toBe(401);
    const publish = await request(h.app).post('/publish/%ff').set('Authorization', basic('ops:pw')).send([]);
    expect([publish.status, code(publish)]).toEqual([400, 'CF_ERR_HTTP_MALFORMED_URL']);
    expect(publish.text).toContain('path parameter prefix: "%ff"');
    // endpoints that never read the query do not refuse a request over one
    expect((await request(h.app).post('/publish/app?x=%ff').set('Authorization', basic('ops:pw')).send([])).status).toBe(200);
  });

  it('logs through the rate limiter: many malformed requests from one client write one line', async () => {
    nowMs = 1_700_000_000_000;
    h = await startHttpGroup(createFeedEndpoints);
    const { log, entries } = captureLog();
    const ingest = new HttpIngest({ ...h.ingest.deps, log, limited: new RateLimitedLog(log, 10_000, () => nowMs), now: () => nowMs }, 100);
    const app = createHttpApp(httpSchema.parse({}), ingest, [createFeedEndpoints({ ingest, http: httpSchema.parse({}) })]);
    for (let i = 0; i < 20; i++) expect((await request(app).get(`/feed/%ff${i}/1`)).status).toBe(400);
    expect(entries.map((e) => [e.level, e.message])).toEqual([['warn', 'HTTP request URL is not valid percent-encoding']]);
    expect(entries[0]).toMatchObject({ peer: expect.stringMatching(/127\.0\.0\.1$/), url: '"/feed/%ff0/1"' });
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
      'CF_ERR_HTTP_MALFORMED_URL',
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
