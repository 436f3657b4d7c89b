import request from 'supertest';
import { BEACON_GIF } from '../../../../src/ingest/http/endpoints/gif';
import { createFeedEndpoints } from '../../../../src/ingest/http/endpoints/feed';
import { startHttpGroup, type HttpHarness } from '../../../helpers/http';
import { waitFor } from '../../../helpers/sink';

/** The error code header every error answer carries. */
const code = (res: request.Response): string | undefined => res.headers['x-carbon-fanout-error'] as string | undefined;

describe('/feed, /imp, /tdiff (ggtd carbon-http-srv) and GIF beacons', () => {
  let h: HttpHarness;
  let nowMs = 1_700_000_000_000;
  const clock = (): number => nowMs;
  beforeEach(() => {
    nowMs = 1_700_000_000_000;
  });
  afterEach(async () => h.close());

  it('/feed sends one datapoint by path or query; no timestamp means now', async () => {
    h = await startHttpGroup(createFeedEndpoints, {}, clock);
    const a = await request(h.app).get('/feed/some-metrics/5/1444159516');
    expect([a.status, a.text]).toEqual([200, 'ok\n']);
    expect((await request(h.app).post('/feed/app.latency/12.5')).status).toBe(200);
    expect((await request(h.app).get('/feed').query({ metric: 'q.form', value: '-3', timestamp: '1700000001' })).status).toBe(200);
    expect((await request(h.app).get('/feed').query({ mpath: 'ggtd.names', mvalue: '7' })).status).toBe(200);
    await waitFor(() => h.lines().length === 4, '4 lines');
    expect(h.lines()).toEqual(['some-metrics 5 1444159516', 'app.latency 12.5 1700000000', 'q.form -3 1700000001', 'ggtd.names 7 1700000000']);
  });

  it('/feed answers 400 naming what is wrong, and sends nothing', async () => {
    h = await startHttpGroup(createFeedEndpoints, {}, clock);
    const badValue = await request(h.app).get('/feed/m/abc');
    expect(badValue.status).toBe(400);
    expect(badValue.text).toContain('metric: value "abc" is not a number');
    expect(code(badValue)).toBe('CF_ERR_HTTP_INVALID_ITEMS');
    const badName = await request(h.app).get('/feed/' + encodeURIComponent('two words') + '/1');
    expect(badName.status).toBe(400);
    expect(badName.text).toContain('contains whitespace or control characters');
    const noName = await request(h.app).get('/feed').query({ value: '1' });
    expect([noName.status, code(noName)]).toEqual([400, 'CF_ERR_HTTP_MISSING_PARAMETER']);
    const noValue = await request(h.app).get('/feed').query({ metric: 'x' });
    expect([noValue.status, code(noValue)]).toEqual([400, 'CF_ERR_HTTP_MISSING_PARAMETER']);
    expect((await request(h.app).get('/feed/m/1/later')).status).toBe(400);
    expect(h.relay.counters.httpBadRequests).toBe(5);
    await request(h.app).get('/feed/sentinel/1');
    await waitFor(() => h.lines().length === 1, 'sentinel');
    expect(h.lines()).toEqual(['sentinel 1 1700000000']);
  });

  it('?output=img answers the exact 43-byte transparent GIF with no-cache headers, and CORS when configured', async () => {
    h = await startHttpGroup(createFeedEndpoints, { cors: ['https://shop.example'] }, clock);
    const res = await request(h.app).get('/feed/page.view/1?output=img').set('Origin', 'https://shop.example').buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('image/gif');
    expect(res.headers['cache-control']).toContain('no-store');
    expect(res.headers['access-control-allow-origin']).toBe('https://shop.example');
    expect((res.body as Buffer).equals(BEACON_GIF)).toBe(true);
    expect(BEACON_GIF.length).toBe(43);
    expect(BEACON_GIF.subarray(0, 6).toString('latin1')).toBe('GIF89a');
    const other = await request(h.app).get('/feed/page.view/1').set('Origin', 'https://evil.example');
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('/imp adds values per name and flushes sums each interval; idle counters send 0 for idleFlushes intervals, then are forgotten', async () => {
    let group!: ReturnType<typeof createFeedEndpoints>;
    h = await startHttpGroup((ctx) => (group = createFeedEndpoints(ctx)), { feed: { idleFlushes: 2, flushInterval: 3600 } }, clock);
    await request(h.app).get('/imp/signups');
    await request(h.app).get('/imp/signups/4');
    await request(h.app).post('/imp').query({ metric: 'clicks' });
    expect((await request(h.app).get('/imp/clicks/x')).status).toBe(400);
    const flush = (): void => {
      group.stop?.(); // stop() flushes; start() again for the next interval
      group.start?.();
    };
    nowMs += 60_000;
    flush();
    await waitFor(() => h.lines().length === 2, 'first flush');
    expect(h.lines().sort()).toEqual(['clicks 1 1700000060', 'signups 5 1700000060']);
    await request(h.app).get('/imp/signups/-2');
    nowMs += 60_000;
    flush();
    await waitFor(() => h.lines().length === 4, 'second flush');
    expect(h.lines().slice(2).sort()).toEqual(['clicks 0 1700000120', 'signups -2 1700000120']);
    nowMs += 60_000;
    flush();
    await waitFor(() => h.lines().length === 6, 'third flush');
    expect(h.lines().slice(4).sort()).toEqual(['clicks 0 1700000180', 'signups 0 1700000180']);
    nowMs += 60_000;
    flush(); // clicks has been idle for 2 flushes: forgotten; signups sends its second 0
    await waitFor(() => h.lines().length === 7, 'fourth flush');
    expect(h.lines()[6]).toBe('signups 0 1700000240');
    nowMs += 60_000;
    flush();
    await request(h.app).get('/feed/sentinel/1');
    await waitFor(() => h.lines().length === 8, 'sentinel');
    expect(h.lines()[7]).toBe('sentinel 1 1700000300');
  });

  it('/imp refuses new names beyond maxCounters with 429 and keeps counting known ones', async () => {
    h = await startHttpGroup(createFeedEndpoints, { feed: { maxCounters: 2 } }, clock);
    expect((await request(h.app).get('/imp/a')).status).toBe(200);
    expect((await request(h.app).get('/imp/b')).status).toBe(200);
    const third = await request(h.app).get('/imp/c');
    expect(third.status).toBe(429);
    expect(third.text).toMatch(/maxCounters 2/);
    expect(code(third)).toBe('CF_ERR_HTTP_TOO_MANY_COUNTERS');
    expect((await request(h.app).get('/imp/a')).status).toBe(200);
  });

  it('refuses values that are not finite (inf, -inf, nan, 1e400) with 400 on /feed, /imp and their beacons, and sends nothing', async () => {
    let group!: ReturnType<typeof createFeedEndpoints>;
    h = await startHttpGroup((ctx) => (group = createFeedEndpoints(ctx)), { feed: { flushInterval: 3600 } }, clock);
    const refused = [
      '/feed/m/inf',
      '/feed/m/-inf',
      '/feed/m/nan',
      '/feed/m/1e400',
      '/feed/m/-Infinity/1700000000',
      '/feed/m/inf?output=img',
      '/feed?metric=m&value=inf',
      '/feed?mpath=m&mvalue=-1e999',
      '/imp/m/inf',
      '/imp/m/-inf',
      '/imp/m/NaN',
      '/imp/m/1e400?output=img',
      '/imp?metric=m&value=-inf',
    ];
    for (const path of refused) {
      const res = await request(h.app).get(path);
      expect([path, res.status, code(res)]).toEqual([path, 400, 'CF_ERR_HTTP_INVALID_ITEMS']);
      expect(res.text).toMatch(/^1 of 1 datapoints rejected; nothing was accepted\nmetric: value "[^"]+" is not a finite number\n$/);
    }
    expect(h.relay.counters.httpInvalidItems).toBe(refused.length);
    group.stop?.(); // flushes: no counter was created by a refused /imp
    await request(h.app).get('/feed/sentinel/1');
    await waitFor(() => h.lines().length === 1, 'sentinel');
    expect(h.lines()).toEqual(['sentinel 1 1700000000']);
  });

  it('an /imp sum that overflows to infinity is dropped and counted for that interval; the counter then starts over', async () => {
    let group!: ReturnType<typeof createFeedEndpoints>;
    h = await startHttpGroup((ctx) => (group = createFeedEndpoints(ctx)), { feed: { flushInterval: 3600 } }, clock);
    const flush = (): void => {
      group.stop?.();
      group.start?.();
    };
    for (const path of ['/imp/big/1.7e308', '/imp/big/1.7e308', '/imp/small/-1.7e308', '/imp/small/-1.7e308', '/imp/fine/2']) {
      expect([path, (await request(h.app).get(path)).status]).toEqual([path, 200]);
    }
    nowMs += 60_000;
    flush();
    await request(h.app).get('/imp/big/3');
    nowMs += 60_000;
    flush();
    await request(h.app).get('/feed/sentinel/1');
    await waitFor(() => h.lines().some((l) => l.startsWith('sentinel')), 'sentinel');
    expect(h.lines().filter((l) => !l.startsWith('sentinel')).sort()).toEqual(['big 3 1700000120', 'fine 0 1700000120', 'fine 2 1700000060', 'small 0 1700000120']);
    expect(h.lines().join('\n')).not.toMatch(/inf|nan/i);
    expect(h.relay.counters.httpImpulseOverflows).toBe(2);
  });

  it('/tdiff records on the first call and then sends the seconds since the previous call', async () => {
    h = await startHttpGroup(createFeedEndpoints, { feed: { eventTtl: 3600 } }, clock);
    expect((await request(h.app).get('/tdiff/deploy')).status).toBe(200);
    nowMs += 2_500;
    await request(h.app).get('/tdiff/deploy/');
    nowMs += 10_000;
    await request(h.app).get('/tdiff').query({ event: 'deploy' });
    nowMs += 3_600_001;
    await request(h.app).get('/tdiff/deploy'); // past the TTL: records again, sends nothing
    nowMs += 1000;
    await request(h.app).get('/tdiff/deploy');
    await waitFor(() => h.lines().length === 3, '3 diffs');
    expect(h.lines()).toEqual(['deploy 2.5 1700000002', 'deploy 10 1700000012', 'deploy 1 1700003613']);
  });
});
