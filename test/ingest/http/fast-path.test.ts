import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import request from 'supertest';
import { requestListener } from '../../../src/ingest/http/app';
import { proxyTrust, resolveClientAddress } from '../../../src/ingest/http/client-address';
import type { EndpointContext, EndpointGroup } from '../../../src/ingest/http/endpoint-group';
import { createFeedEndpoints } from '../../../src/ingest/http/endpoints/feed';
import { startHttpGroup, type HttpHarness } from '../../helpers/http';
import { waitFor } from '../../helpers/sink';

/**
 * The fast path in front of Express must be invisible: every request below is
 * sent to a server of the Express app alone and to one of the same app behind
 * requestListener (the fast path first), each over its own relay with the same
 * config and clock. Answers must be byte for byte the same (status, every
 * header but Date in order, body), and so must the counters and what reaches
 * the destination. `fast` says which path must have answered.
 */

interface Ask {
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Answered by the fast path (Express never saw it); false: declined, Express answered. */
  fast: boolean;
}

interface Answer {
  status: number;
  /** Raw header lines but Date, in the order sent. */
  headers: string[];
  body: string;
}

const basic = (s: string): string => `Basic ${Buffer.from(s).toString('base64')}`;

class Side {
  private server!: http.Server;
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  /** Calls into Express (spied on the app's own handle, which the app function calls). */
  expressCalls = 0;
  private readonly listener: http.RequestListener;

  constructor(
    readonly h: HttpHarness,
    fastPath: boolean,
  ) {
    const app = h.app as unknown as { handle: (...args: unknown[]) => void };
    const handle = app.handle.bind(h.app);
    app.handle = (...args: unknown[]) => {
      this.expressCalls++;
      handle(...args);
    };
    this.listener = fastPath ? requestListener(h.app) : h.app;
  }

  async listen(): Promise<void> {
    this.server = http.createServer(this.listener);
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
  }

  ask(a: Ask): Promise<Answer> {
    const port = (this.server.address() as AddressInfo).port;
    return new Promise((resolve, reject) => {
      const headers = a.body === undefined ? a.headers : { ...a.headers, 'Content-Length': String(Buffer.byteLength(a.body)) };
      const req = http.request({ host: '127.0.0.1', port, agent: this.agent, method: a.method ?? 'GET', path: a.path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const headers: string[] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) if (res.rawHeaders[i]!.toLowerCase() !== 'date') headers.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
          resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('latin1') });
        });
      });
      req.on('error', reject);
      req.end(a.body);
    });
  }

  responses(): Record<string, number> {
    const seen: Record<string, number> = {};
    this.h.relay.topology.counters.httpResponses.report((key, value) => (seen[key] = value));
    return seen;
  }

  lines(): string[] {
    return this.h.lines();
  }

  async close(): Promise<void> {
    this.agent.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    await this.h.close();
  }
}

describe('the fast path answers exactly as Express does', () => {
  let nowMs = 1_700_000_000_000;
  const clock = (): number => nowMs;
  let express: Side | undefined;
  let fast: Side | undefined;
  afterEach(async () => {
    await express?.close();
    await fast?.close();
    express = fast = undefined;
  });

  async function sides(http: Record<string, unknown>, factory: (ctx: EndpointContext) => EndpointGroup = createFeedEndpoints, room?: () => number): Promise<[Side, Side]> {
    nowMs = 1_700_000_000_000;
    express = new Side(await startHttpGroup(factory, http, clock, room), false);
    fast = new Side(await startHttpGroup(factory, http, clock, room), true);
    await express.listen();
    await fast.listen();
    return [express, fast];
  }

  /** Sends each request to both, in order, and compares answer by answer; then the counters. */
  async function compare(asks: readonly Ask[], between?: (i: number) => void): Promise<Answer[]> {
    const [e, f] = [express!, fast!];
    const answers: Answer[] = [];
    for (const [i, a] of asks.entries()) {
      between?.(i);
      const before = f.expressCalls;
      const viaExpress = await e.ask(a);
      const viaFast = await f.ask(a);
      const what = `${a.method ?? 'GET'} ${a.path} ${JSON.stringify(a.headers ?? {})}`;
      expect([what, viaFast]).toEqual([what, viaExpress]);
      expect([what, f.expressCalls === before ? 'fast path' : 'express']).toEqual([what, a.fast ? 'fast path' : 'express']);
      answers.push(viaExpress);
    }
    expect({ ...f.h.ingest.deps.counters }).toEqual({ ...e.h.ingest.deps.counters });
    expect(f.responses()).toEqual(e.responses());
    return answers;
  }

  /** One more datapoint to both, then what each destination received must be the same. */
  async function sameLines(): Promise<string[]> {
    const [e, f] = [express!, fast!];
    for (const s of [e, f]) expect((await s.ask({ path: '/feed/sentinel/1', fast: true })).status).toBe(200);
    const arrived = (s: Side): boolean => s.lines().some((l) => l.startsWith('sentinel '));
    await waitFor(() => arrived(e) && arrived(f), 'sentinels');
    expect(f.lines()).toEqual(e.lines());
    return e.lines();
  }

  it('/feed, /imp, /tdiff and /health: values, bad values, missing parameters, malformed encoding, beacons, CORS, HEAD, and what falls through', async () => {
    await sides({ cors: ['https://shop.example'], feed: { flushInterval: 3600 } });
    const shop = { Origin: 'https://shop.example' };
    const answers = await compare([
      { path: '/health', fast: true },
      { path: '/health', method: 'HEAD', fast: true },
      { path: '/health?probe=1', fast: true },
      { path: '/health', headers: { 'If-None-Match': '*' }, fast: true },
      { path: '/health/', fast: false },
      { path: '/feed/a.b/1/1700000000', fast: true },
      { path: '/feed/a.b/2', fast: true },
      { path: '/feed/a.b/3/', fast: true },
      { path: '/feed?metric=q.form&value=-3&timestamp=1700000001', fast: true },
      { path: '/feed?mpath=ggtd.names&mvalue=7', fast: true },
      { path: '/feed?metric=first&metric=second&value=1', fast: true },
      { path: '/feed?metric=plus+sign&value=1', fast: true },
      { path: '/feed/caf%C3%A9.visits/1', fast: true },
      { path: '/feed/a%2Fb/1', fast: true },
      { path: '/feed/m/abc', fast: true },
      { path: '/feed/m/inf', fast: true },
      { path: '/feed/m/1e400?output=img', fast: true },
      { path: '/feed/two%20words/1', fast: true },
      { path: '/feed/m/1/later', fast: true },
      { path: '/feed?value=1', fast: true },
      { path: '/feed?metric=x', fast: true },
      { path: '/feed/', fast: true },
      { path: '/feed/%ff/1', fast: true },
      { path: '/feed/a/%zz', fast: true },
      { path: '/feed/a/1/%4', fast: true },
      { path: '/feed/ok%20name/%e2%82?output=img', fast: true },
      { path: '/feed/%2525ff/1', fast: true },
      { path: '/feed?metric=%ff&value=1', fast: true },
      { path: '/feed/page.view/1?output=img', headers: shop, fast: true },
      { path: '/feed/page.view/1?output=img&output=txt', fast: true },
      { path: '/feed/page.view/1', headers: shop, fast: true },
      { path: '/feed/page.view/1', headers: { Origin: 'https://evil.example' }, fast: true },
      { path: '/feed/page.view/1', headers: { 'If-None-Match': '*' }, fast: true },
      { path: '/feed/page.view/1', headers: { 'If-None-Match': '*', 'Cache-Control': 'no-cache' }, fast: true },
      { path: '/feed/head.m/1', method: 'HEAD', fast: true },
      { path: '/feed/head.m/abc', method: 'HEAD', fast: true },
      { path: '/feed/head.m/1?output=img', method: 'HEAD', headers: shop, fast: true },
      { path: '/imp/signups', fast: true },
      { path: '/imp/signups/4', fast: true },
      { path: '/imp?metric=clicks', fast: true },
      { path: '/imp/clicks/x', fast: true },
      { path: '/imp/clicks/nan?output=img', fast: true },
      { path: '/imp/head.i/5', method: 'HEAD', fast: true },
      { path: '/imp?metric=a&_=%e2%82', fast: true },
      { path: '/tdiff/deploy', fast: true },
      { path: '/tdiff/deploy/', fast: true },
      { path: '/tdiff?event=deploy', fast: true },
      { path: '/tdiff/head.t', method: 'HEAD', fast: true },
      { path: '/tdiff', fast: true },
      { path: '/tdiff?event=%zz', fast: true },
      { path: '/tdiff/%ff', fast: true },
      // declined: Express answers, the same as before
      { path: '/FEED/upper/1', fast: false },
      { path: '/feed/a/1//', fast: false },
      { path: '/feed//1', fast: false },
      { path: '/feed/a/1/2/3', fast: false },
      { path: '/feed/a/1#fragment', fast: false },
      { path: '/nothing/here', fast: false },
      { path: '/nothing/%ff', fast: false },
      { path: '/feed/posted/1', method: 'POST', fast: false },
      { path: '/feed/with.body/1', body: 'ignored', fast: false },
      { path: '/feed/a/1', method: 'DELETE', fast: false },
      { path: '/feed/a/1', method: 'OPTIONS', fast: false },
    ]);
    // the answers are those the tests of each endpoint expect (spot checks; equality is checked above)
    expect(answers[0]).toMatchObject({ status: 200, body: '{"health":"ok"}' });
    expect(answers[3]).toMatchObject({ status: 304, body: '' });
    expect(answers[22]!.body).toBe('path "/feed/%ff/1" is not valid percent-encoding (a % must start an escape of UTF-8 bytes, like %2F or %C3%A9)\npath parameter metric: "%ff" is not valid percent-encoded UTF-8\n');
    expect(answers[28]!.headers).toEqual(expect.arrayContaining(['Content-Type: image/gif', 'Access-Control-Allow-Origin: https://shop.example', 'Vary: Origin']));
    expect(answers[35]).toMatchObject({ status: 400, body: '' });
    expect(answers[35]!.headers).toContain('X-Carbon-Fanout-Error: CF_ERR_HTTP_INVALID_ITEMS');
    // a HEAD records nothing: no datapoint, no impulse counter, no event time
    const lines = await sameLines();
    expect(lines.filter((l) => l.startsWith('head.'))).toEqual([]);
    expect(lines).toContain('deploy 0 1700000000');
    expect(express!.h.relay.counters.httpBadRequests).toBeGreaterThan(20);
  });

  it('a HEAD to /imp and /tdiff leaves no counter and no event behind', async () => {
    const groups: EndpointGroup[] = [];
    await sides({ feed: { flushInterval: 3600 } }, (ctx) => {
      const g = createFeedEndpoints(ctx);
      groups.push(g);
      return g;
    });
    await compare([
      { path: '/imp/head.i', method: 'HEAD', fast: true },
      { path: '/tdiff/head.t', method: 'HEAD', fast: true },
      { path: '/tdiff/head.t', fast: true },
    ]);
    nowMs += 2000;
    await compare([{ path: '/tdiff/head.t', method: 'HEAD', fast: true }]);
    nowMs += 3000;
    await compare([{ path: '/tdiff/head.t', fast: true }]);
    for (const g of groups) g.stop?.(); // flushes the impulse counters: none was made by the HEAD
    const lines = await sameLines();
    expect(lines.filter((l) => !l.startsWith('sentinel'))).toEqual(['head.t 5 1700000005']);
  });

  it('credentials: 401 with the challenge, 403 outside the allow-list, a malformed path refused only after them', async () => {
    await sides({ auth: { apiKeys: ['k'], users: [{ user: 'ops', password: 'pw' }] } });
    await compare([
      { path: '/health', fast: true },
      { path: '/feed/a/1', fast: true },
      { path: '/feed/a/1', headers: { Authorization: basic('k:') }, fast: true },
      { path: '/feed/a/1', headers: { Authorization: basic('wrong:') }, fast: true },
      { path: '/feed/a/1', headers: { Authorization: 'Bearer k' }, fast: true },
      { path: '/feed/a/1', headers: { Authorization: 'Bearer ops:pw' }, fast: true },
      { path: '/feed/a/1', headers: { Authorization: 'Bearer nope' }, fast: true },
      { path: '/feed/a/1', headers: { Authorization: 'Digest x' }, fast: true },
      { path: '/feed/a/1', headers: { Authorization: basic('ops:pw') }, fast: true },
      { path: '/feed/%ff/1', fast: true },
      { path: '/feed/%ff/1', headers: { Authorization: basic('k') }, fast: true },
      { path: '/imp/x', method: 'HEAD', fast: true },
      { path: '/nothing', fast: false },
    ]);
    await express!.close();
    await fast!.close();
    await sides({ trustProxy: ['127.0.0.1'], feed: { auth: { allow: ['192.0.2.0/24'] } } });
    await compare([
      { path: '/feed/a/1', fast: true },
      { path: '/feed/a/1', headers: { 'X-Forwarded-For': '192.0.2.7' }, fast: true },
      { path: '/feed/a/1', headers: { 'X-Forwarded-For': '10.9.9.9, 192.0.2.7' }, fast: true },
      { path: '/feed/a/1', headers: { 'X-Forwarded-For': '192.0.2.7, 10.9.9.9' }, fast: true },
      { path: '/feed/a/1', headers: { 'X-Forwarded-For': ' 192.0.2.8 ,, 127.0.0.1 , ' }, fast: true },
      { path: '/feed/a/1', headers: { 'X-Forwarded-For': '127.0.0.1' }, fast: true },
      { path: '/feed/a/1', headers: { 'X-Forwarded-For': '' }, fast: true },
      { path: '/feed/%ff/1', headers: { 'X-Forwarded-For': '10.1.1.1' }, fast: true },
    ]);
    expect(express!.h.relay.counters.httpUnauthorized).toBeGreaterThan(3);
  });

  it('rate limit: 429 with Retry-After, counted against the group it was for, one bucket per client for both paths', async () => {
    await sides({ rateLimit: { requestsPerSecond: 1, burst: 2 } });
    const asks: Ask[] = [
      { path: '/health', fast: true },
      { path: '/feed/a/1', fast: true },
      { path: '/feed/a/1', method: 'POST', fast: false },
      { path: '/feed/a/1', fast: true },
      { path: '/imp/x', method: 'HEAD', fast: true },
      { path: '/nothing', fast: false },
      { path: '/FEED/a/1', fast: false },
      { path: '/feed/a/1', fast: true },
      { path: '/tdiff/e', fast: true },
      { path: '/feed/%ff/1', fast: true },
    ];
    // time moves between some requests, so tokens come back while both paths share the bucket
    const answers = await compare(asks, (i) => {
      if (i === 7) nowMs += 1000;
      if (i === 9) nowMs += 500;
    });
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429, 429, 429, 200, 429, 429]);
    expect(answers[3]!.headers).toEqual(expect.arrayContaining(['Retry-After: 1', 'X-Carbon-Fanout-Error: CF_ERR_HTTP_RATE_LIMITED']));
    expect(fast!.responses()).toMatchObject({ 'httpResponses.feed.429': 5, 'httpResponses.none.429': 1, 'httpResponses.health.200': 1 });
  });

  it('overload: 503 with Retry-After while the pipeline is paused, and when the queues cannot take the request; /imp keeps counting', async () => {
    await sides({});
    for (const s of [express!, fast!]) s.h.ingest.pause();
    await compare([
      { path: '/feed/a/1', fast: true },
      { path: '/feed/a/1', method: 'HEAD', fast: true },
      { path: '/feed/a/1?output=img', fast: true },
      { path: '/tdiff/e', fast: true },
      { path: '/imp/x', fast: true },
      { path: '/feed/a/1', method: 'POST', fast: false },
    ]);
    await express!.close();
    await fast!.close();
    await sides({}, createFeedEndpoints, () => 0);
    const answers = await compare([
      { path: '/feed/a/1', fast: true },
      { path: '/feed/a/1', method: 'HEAD', fast: true },
      { path: '/tdiff/e', fast: true },
      { path: '/tdiff/e', fast: true },
    ]);
    expect(answers.map((a) => a.status)).toEqual([503, 503, 200, 503]);
    expect(express!.h.ingest.deps.counters.httpOverloaded).toBe(3);
  });

  it('/imp beyond maxCounters: 429 for a new name, also for a HEAD; known names keep counting', async () => {
    await sides({ feed: { maxCounters: 1 } });
    await compare([
      { path: '/imp/a', fast: true },
      { path: '/imp/b', fast: true },
      { path: '/imp/b', method: 'HEAD', fast: true },
      { path: '/imp/a', method: 'HEAD', fast: true },
      { path: '/imp/a/2', fast: true },
    ]);
  });

  it('a handler that fails unexpectedly is 500 CF_ERR_HTTP_INTERNAL on the fast path too; a URL route an earlier Express route could take stays with Express', async () => {
    const boom = (): EndpointGroup => ({
      name: 'boom',
      mount(routes) {
        routes.on(['get'], '/shadow/:a', (_req, res) => void res.status(200).type('text/plain').send('express route\n'));
        routes.onUrl(['get'], { prefix: '/boom', optional: ['id'] }, () => {
          throw new Error('disk on fire');
        });
      },
    });
    const first = (): EndpointGroup => ({
      name: 'first',
      mount(routes) {
        routes.onUrl(['get'], { prefix: '/first', params: ['a'] }, () => {
          throw new Error('disk on fire');
        });
      },
    });
    const both = (): EndpointGroup => ({
      name: 'both',
      mount(routes) {
        first().mount(routes);
        boom().mount(routes);
      },
    });
    await sides({}, both);
    const answers = await compare([
      { path: '/first/1', fast: true },
      { path: '/boom', fast: false },
      { path: '/boom/7', fast: false },
      { path: '/shadow/x', fast: false },
    ]);
    expect(answers.map((a) => [a.status, a.body])).toEqual([
      [500, 'internal error\n'],
      [500, 'internal error\n'],
      [500, 'internal error\n'],
      [200, 'express route\n'],
    ]);
  });
});

describe('resolveClientAddress', () => {
  it("finds the client Express's req.ip finds, for each trustProxy setting and X-Forwarded-For shape", async () => {
    const forwarded = [undefined, '', '192.0.2.7', '10.9.9.9, 192.0.2.7', '192.0.2.7, 10.0.0.5', ' 192.0.2.8 ,, 127.0.0.1 , ', '127.0.0.1', ',,,', ' , ', '10.0.0.5,10.0.0.6', 'garbage, 10.0.0.5', '::1, 127.0.0.2'];
    for (const setting of [false, true, ['127.0.0.1'], ['127.0.0.1', '10.0.0.5'], ['127.0.0.0/8', '10.0.0.0/8', '::1']] as const) {
      const trust = proxyTrust(setting === true || setting === false ? setting : [...setting]);
      const app = express();
      app.set('trust proxy', trust);
      app.get('/', (req, res) => void res.json({ express: req.ip, ours: resolveClientAddress(req, trust) }));
      for (const xff of forwarded) {
        const res = xff === undefined ? await request(app).get('/') : await request(app).get('/').set('X-Forwarded-For', xff);
        const { express: theirs, ours } = res.body as { express: string; ours: string };
        expect([setting, xff, ours]).toEqual([setting, xff, theirs]);
      }
    }
  });
});
