import request from 'supertest';
import { createGrafanaEndpoints } from '../../../../src/ingest/http/endpoints/grafana';
import { startHttpGroup, type HttpHarness } from '../../../helpers/http';
import { waitFor } from '../../../helpers/sink';

/** Grafana's published sample (http-ingest.md 6.2). */
const SAMPLE = [
  { name: 'test.metric', interval: 10, value: 12.345, tags: ['foo=bar', 'source=grafana_cloud_docs'], time: 1534685580 },
  { name: 'test.metric', interval: 10, value: 12.345, tags: ['foo=baz', 'source=grafana_cloud_docs'], time: 1534685590 },
];

describe('POST /metrics (Grafana Cloud Graphite JSON)', () => {
  let h: HttpHarness;
  afterEach(async () => h.close());

  it('publishes the sample as tagged series, answering the gateway JSON', async () => {
    h = await startHttpGroup(createGrafanaEndpoints);
    const res = await request(h.app).post('/graphite/metrics').send(SAMPLE);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ Invalid: 0, Published: 2, ValidationErrors: {} });
    await waitFor(() => h.lines().length === 2, '2 lines');
    expect(h.lines()).toEqual(['test.metric;foo=bar;source=grafana_cloud_docs 12.345 1534685580', 'test.metric;foo=baz;source=grafana_cloud_docs 12.345 1534685590']);
  });

  it('drops invalid items, publishes the rest, and reports each error with example indexes', async () => {
    h = await startHttpGroup(createGrafanaEndpoints);
    const items = [
      { name: 'ok.one', interval: 10, value: 1, time: 1534685580, tags: ['z=1', 'a=2'] },
      { name: 'zero', interval: 0, value: 1, time: 1 },
      { name: '', interval: 10, value: 1, time: 1 },
      { name: 'badtag', interval: 10, value: 1, time: 1, tags: ['novalue='] },
      { name: 'badtag2', interval: 10, value: 1, time: 1, tags: ['k!=v'] },
      { name: 'mtype', interval: 10, value: 1, time: 1, mtype: 'histogram' },
      { name: 'zero2', interval: 0, value: 1, time: 1 },
    ];
    const res = await request(h.app).post('/metrics').send(items);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      Invalid: 6,
      Published: 1,
      ValidationErrors: {
        'interval cannot be 0': { Count: 2, ExampleIds: [1, 6] },
        'name cannot be empty': { Count: 1, ExampleIds: [2] },
        'invalid tag format': { Count: 2, ExampleIds: [3, 4] },
        'invalid mtype': { Count: 1, ExampleIds: [5] },
      },
    });
    await waitFor(() => h.lines().length === 1, 'line');
    expect(h.lines()).toEqual(['ok.one;a=2;z=1 1 1534685580']);
    expect(h.relay.counters.httpInvalidItems).toBe(6);
  });

  it('answers JSON strings for bad content types, bodies and empty arrays', async () => {
    h = await startHttpGroup(createGrafanaEndpoints);
    const type = await request(h.app).post('/metrics').set('Content-Type', 'text/plain').send('[]');
    expect([type.status, type.body]).toEqual([400, 'unknown content-type: text/plain']);
    expect(type.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE');
    const broken = await request(h.app).post('/metrics').set('Content-Type', 'application/json').send('[{');
    expect(broken.status).toBe(400);
    expect(broken.body).toMatch(/^unable to parse request body/);
    expect(broken.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_MALFORMED_BODY');
    const empty = await request(h.app).post('/metrics').send([]);
    expect([empty.status, empty.body]).toEqual([400, 'no data included in request.']);
    expect(empty.headers['x-carbon-fanout-error']).toBe('CF_ERR_HTTP_INVALID_BODY');
  });

  it('accepts Basic user:token and Bearer user:token', async () => {
    h = await startHttpGroup(createGrafanaEndpoints, { grafana: { auth: { users: [{ user: '123456', password: 'glc_token' }] } } });
    expect((await request(h.app).post('/metrics').send(SAMPLE)).status).toBe(401);
    expect((await request(h.app).post('/metrics').set('Authorization', 'Bearer 123456:wrong').send(SAMPLE)).status).toBe(401);
    expect((await request(h.app).post('/metrics').set('Authorization', 'Bearer 123456:glc_token').send(SAMPLE)).status).toBe(200);
    expect((await request(h.app).post('/metrics').auth('123456', 'glc_token').send(SAMPLE)).status).toBe(200);
    await waitFor(() => h.lines().length === 4, '4 lines');
  });
});
