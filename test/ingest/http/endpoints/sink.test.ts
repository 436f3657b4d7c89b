import http from 'node:http';
import zlib from 'node:zlib';
import request from 'supertest';
import { createSinkEndpoints } from '../../../../src/ingest/http/endpoints/sink';
import { startHttpGroup, type HttpHarness } from '../../../helpers/http';
import { waitFor } from '../../../helpers/sink';

const NOW_MS = 1_700_000_123_456;
const KEY = 'deadbeef-dead-beef-dead-beefdeadbeef';
const basic = (s: string): string => `Basic ${Buffer.from(s).toString('base64')}`;
/** The error code header every error answer carries. */
const code = (res: request.Response): string | undefined => res.headers['x-carbon-fanout-error'] as string | undefined;

describe('POST|PUT /api/v1/sink (Hosted Graphite HTTP API)', () => {
  let h: HttpHarness;
  afterEach(async () => h.close());

  it('accepts lines read raw whatever the Content-Type, 202 with no body; missing timestamps are now', async () => {
    h = await startHttpGroup(createSinkEndpoints, {}, () => NOW_MS);
    const res = await request(h.app).post('/api/v1/sink').type('form').send('test.http.metric 1.2\nfoo.bar 5 1700000000\r\n\n  spaced.out\t7  \n');
    expect(res.status).toBe(202);
    expect(res.text).toBe('');
    const put = await request(h.app).put('/api/v1/sink').set('Content-Type', 'application/octet-stream').send(Buffer.from('foo.go-http 1.2\n'));
    expect(put.status).toBe(202);
    await waitFor(() => h.lines().length === 4, '4 lines');
    expect(h.lines()).toEqual(['test.http.metric 1.2 1700000123', 'foo.bar 5 1700000000', 'spaced.out 7 1700000123', 'foo.go-http 1.2 1700000123']);
  });

  it('accepts the good lines and answers 400 naming each bad one by line number', async () => {
    h = await startHttpGroup(createSinkEndpoints, {}, () => NOW_MS);
    const res = await request(h.app).post('/api/v1/sink').send('good.one 1 1700000000\nbad.value abc\nonly.name\nbad.ts 1 soon\ngood.two 2 1700000001\nnan.value nan\n');
    expect(res.status).toBe(400);
    expect(res.text).toBe(
      [
        '4 of 6 datapoints rejected; the other 2 were accepted',
        'line 2: value "abc" is not a number',
        'line 3: expected "name value [timestamp]", got 1 fields',
        'line 4: timestamp "soon" is not a finite number',
        'line 6: value is NaN',
        '',
      ].join('\n'),
    );
    await waitFor(() => h.lines().length === 2, 'good lines');
    expect(h.lines()).toEqual(['good.one 1 1700000000', 'good.two 2 1700000001']);
    expect(h.relay.counters.httpInvalidItems).toBe(4);
    // the partial answer is an error answer too
    expect(code(res)).toBe('CF_ERR_HTTP_INVALID_ITEMS');
  });

  it('takes gzip bodies', async () => {
    h = await startHttpGroup(createSinkEndpoints, {}, () => NOW_MS);
    const body = zlib.gzipSync('zipped.metric 3 1700000000\n');
    const res = await request(h.app).post('/api/v1/sink').set('Content-Encoding', 'gzip').set('Content-Type', 'text/plain').send(body);
    expect(res.status).toBe(202);
    expect(code(res)).toBeUndefined();
    await waitFor(() => h.lines().length === 1, 'line');
    expect(h.lines()).toEqual(['zipped.metric 3 1700000000']);
  });

  it('refuses bodies over the wire and decompressed limits with 413, and bad gzip with 400', async () => {
    h = await startHttpGroup(createSinkEndpoints, { maxBodySize: 1000, maxDecompressedSize: 5000 });
    const big = await request(h.app).post('/api/v1/sink').send('x 1\n'.repeat(500));
    expect(big.status).toBe(413);
    expect(big.text).toMatch(/exceeds the limit of 1000/);
    expect(code(big)).toBe('CF_ERR_HTTP_TOO_LARGE');
    const bomb = zlib.gzipSync('y 1\n'.repeat(100_000));
    expect(bomb.length).toBeLessThan(1000);
    const inflated = await request(h.app).post('/api/v1/sink').set('Content-Encoding', 'gzip').send(bomb);
    expect(inflated.status).toBe(413);
    expect(inflated.text).toMatch(/decompressed body exceeds the limit of 5000/);
    expect(code(inflated)).toBe('CF_ERR_HTTP_TOO_LARGE');
    const broken = await request(h.app).post('/api/v1/sink').set('Content-Encoding', 'gzip').send(Buffer.from('not gzip at all'));
    expect(broken.status).toBe(400);
    expect(code(broken)).toBe('CF_ERR_HTTP_MALFORMED_BODY');
    const br = await request(h.app).post('/api/v1/sink').set('Content-Encoding', 'compress').send(Buffer.from('x'));
    expect(br.status).toBe(415);
    expect(code(br)).toBe('CF_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE');
    expect(h.lines()).toEqual([]);
    expect(h.relay.counters.httpBadRequests).toBe(4);
  });

  it('refuses more datapoints than maxItems with 413 and sends none of them', async () => {
    h = await startHttpGroup(createSinkEndpoints, { maxItems: 10 });
    const res = await request(h.app).post('/api/v1/sink').send('m 1 1700000000\n'.repeat(11));
    expect(res.status).toBe(413);
    expect(res.text).toMatch(/more than 10 datapoints/);
    expect(code(res)).toBe('CF_ERR_HTTP_TOO_LARGE');
    const ok = await request(h.app).post('/api/v1/sink').send('m 1 1700000000\n'.repeat(10));
    expect(ok.status).toBe(202);
    await waitFor(() => h.lines().length === 10, '10 lines');
  });

  it('with API keys: accepts the key as Basic username (key and key:) or Bearer; 401 with a challenge otherwise', async () => {
    h = await startHttpGroup(createSinkEndpoints, { sink: { auth: { apiKeys: [KEY] } } }, () => NOW_MS);
    const none = await request(h.app).post('/api/v1/sink').send('a 1\n');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic realm="carbon-fanout"/);
    expect(code(none)).toBe('CF_ERR_HTTP_UNAUTHORIZED');
    const wrong = await request(h.app).post('/api/v1/sink').set('Authorization', basic('not-the-key:')).send('a 1\n');
    expect(wrong.status).toBe(401);
    expect(wrong.text).not.toContain('not-the-key');
    const withPassword = await request(h.app).post('/api/v1/sink').set('Authorization', basic(`${KEY}:x`)).send('a 1\n');
    expect(withPassword.status).toBe(401);
    for (const auth of [basic(KEY), basic(`${KEY}:`), `Bearer ${KEY}`]) {
      expect((await request(h.app).post('/api/v1/sink').set('Authorization', auth).send('a 1\n')).status).toBe(202);
    }
    await waitFor(() => h.lines().length === 3, '3 lines');
    expect(h.relay.counters.httpUnauthorized).toBe(3);
  });

  it('answers 503 with Retry-After while destinations are not keeping up, and accepts again after', async () => {
    h = await startHttpGroup(createSinkEndpoints);
    h.ingest.pause();
    const res = await request(h.app).post('/api/v1/sink').send('a 1 1700000000\n');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(code(res)).toBe('CF_ERR_HTTP_OVERLOADED');
    expect(h.relay.counters.httpOverloaded).toBe(1);
    h.ingest.resume();
    expect((await request(h.app).post('/api/v1/sink').send('a 1 1700000000\n')).status).toBe(202);
    await waitFor(() => h.lines().length === 1, 'line');
  });

  it('answers 503 when the pressure began while the body was still arriving, and sends nothing', async () => {
    h = await startHttpGroup(createSinkEndpoints);
    const server = h.app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    const port = (server.address() as { port: number }).port;
    const status = new Promise<number>((resolve, reject) => {
      const body = 'early.m 1 1700000000\n';
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/api/v1/sink', headers: { 'Content-Length': String(body.length), Expect: '100-continue' } },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      // Node's server answers 100 Continue and runs the handler (and its first check) at once;
      // the destinations fall behind before the body is sent
      req.on('continue', () => {
        h.ingest.pause();
        req.end(body);
      });
      req.flushHeaders();
    });
    expect(await status).toBe(503);
    server.close();
    h.ingest.resume();
    expect((await request(h.app).post('/api/v1/sink').send('after.m 1 1700000000\n')).status).toBe(202);
    await waitFor(() => h.lines().length === 1, 'after');
    expect(h.lines()).toEqual(['after.m 1 1700000000']);
  });

  it('answers 503 for a request the destination queues cannot hold whole, instead of 2xx and drops', async () => {
    let room = 3;
    h = await startHttpGroup(createSinkEndpoints, {}, undefined, () => room);
    const big = await request(h.app).post('/api/v1/sink').send('a 1 1700000000\nb 2 1700000000\nc 3 1700000000\nd 4 1700000000\n');
    expect([big.status, big.headers['retry-after']]).toEqual([503, '1']);
    expect(big.text).toMatch(/cannot take this request whole/);
    expect(code(big)).toBe('CF_ERR_HTTP_OVERLOADED');
    expect((await request(h.app).post('/api/v1/sink').send('a 1 1700000000\nb 2 1700000000\nc 3 1700000000\n')).status).toBe(202);
    room = 1000;
    expect((await request(h.app).post('/api/v1/sink').send('d 4 1700000000\n')).status).toBe(202);
    await waitFor(() => h.lines().length === 4, '4 lines');
    expect(h.relay.counters.httpOverloaded).toBe(1);
  });

  it('refuses an empty body and malformed UTF-8', async () => {
    h = await startHttpGroup(createSinkEndpoints);
    const empty = await request(h.app).post('/api/v1/sink').send('');
    expect([empty.status, code(empty)]).toEqual([400, 'CF_ERR_HTTP_INVALID_BODY']);
    const bad = await request(h.app).post('/api/v1/sink').set('Content-Type', 'text/plain').send(Buffer.from([0x61, 0x20, 0x31, 0xff, 0x0a]));
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/not valid UTF-8/);
    // named per line, like any other bad line
    expect(code(bad)).toBe('CF_ERR_HTTP_INVALID_ITEMS');
  });
});
