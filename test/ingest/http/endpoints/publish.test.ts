import request from 'supertest';
import { createPublishEndpoints } from '../../../../src/ingest/http/endpoints/publish';
import { startHttpGroup, type HttpHarness } from '../../../helpers/http';
import { waitFor } from '../../../helpers/sink';

const basic = (s: string): string => `Basic ${Buffer.from(s).toString('base64')}`;
/** The error code header every error answer carries. */
const code = (res: request.Response): string | undefined => res.headers['x-carbon-fanout-error'] as string | undefined;

describe('POST /publish/<prefix> (Backstop)', () => {
  let h: HttpHarness;
  afterEach(async () => h.close());

  it('sends a single object or an array as <prefix>.<metric> (Backstop spec examples)', async () => {
    h = await startHttpGroup(createPublishEndpoints, { publish: { prefixes: ['test', 'note'] } });
    const one = await request(h.app).post('/publish/test').send({ metric: 'bar', value: 12345, measure_time: 1 });
    expect([one.status, one.text]).toEqual([200, 'ok']);
    const many = await request(h.app)
      .post('/publish/test')
      .send([
        { metric: 'bar', value: 12345, measure_time: 1 },
        { metric: 'bar', value: 12344, measure_time: 2 },
      ]);
    expect(many.status).toBe(200);
    // zero and "" are present in Ruby's sense
    expect((await request(h.app).post('/publish/note').set('Content-Type', 'text/plain').send(JSON.stringify({ metric: 'zero', value: 0, measure_time: '1700000000' }))).status).toBe(200);
    await waitFor(() => h.lines().length === 4, '4 lines');
    expect(h.lines()).toEqual(['test.bar 12345 1', 'test.bar 12345 1', 'test.bar 12344 2', 'note.zero 0 1700000000']);
  });

  it('checks JSON before the prefix, then the prefix (404), then every item (400, nothing sent)', async () => {
    h = await startHttpGroup(createPublishEndpoints, { publish: { prefixes: ['test'] } });
    const notJson = await request(h.app).post('/publish/nope').set('Content-Type', 'application/json').send('{"metric":');
    expect([notJson.status, notJson.text, code(notJson)]).toEqual([400, 'JSON is required\n', 'CF_ERR_HTTP_MALFORMED_BODY']);
    const prefix = await request(h.app).post('/publish/nope').send({ metric: 'a', value: 1, measure_time: 1 });
    expect(prefix.status).toBe(404);
    expect(prefix.text).toMatch(/unknown prefix "nope"/);
    expect(code(prefix)).toBe('CF_ERR_HTTP_NOT_FOUND');
    const items = await request(h.app)
      .post('/publish/test')
      .send([{ metric: 'fine', value: 1, measure_time: 1 }, { metric: 'x', value: null, measure_time: 1 }, { metric: 'release', value: 'v214', measure_time: 1 }, 7]);
    expect(items.status).toBe(400);
    expect(code(items)).toBe('CF_ERR_HTTP_INVALID_ITEMS');
    expect(items.text).toBe(
      [
        '3 of 4 datapoints rejected; nothing was accepted',
        'item 1: missing fields: value',
        'item 2: value "v214" is not a number (Graphite stores only numbers); to record an event such as a release, put the text in the metric name and send 1: {"metric": "release.v214", "value": 1, "measure_time": ...}',
        'item 3: not an object',
        '',
      ].join('\n'),
    );
    await request(h.app).post('/publish/test').send({ metric: 'sentinel', value: 1, measure_time: 5 });
    await waitFor(() => h.lines().length === 1, 'sentinel');
    expect(h.lines()).toEqual(['test.sentinel 1 5']);
  });

  it("answers Backstop's annotation example (a text value) with a 400 that shows the numeric way, which then works", async () => {
    h = await startHttpGroup(createPublishEndpoints, { publish: { prefixes: ['note'] } });
    // Backstop's README, word for word but for the time
    const example = await request(h.app).post('/publish/note').send([{ metric: 'foobar.release', value: 'v214', measure_time: 1700000000 }]);
    expect([example.status, code(example)]).toEqual([400, 'CF_ERR_HTTP_INVALID_ITEMS']);
    expect(example.text).toBe(
      '1 of 1 datapoints rejected; nothing was accepted\n' +
        'item 0: value "v214" is not a number (Graphite stores only numbers); to record an event such as a release, put the text in the metric name and send 1: {"metric": "foobar.release.v214", "value": 1, "measure_time": ...}\n',
    );
    // dots and whitespace in the text would add levels or break the line: the hint keeps it one level
    const dotted = await request(h.app).post('/publish/note').send({ metric: 'shop.deploy', value: ' v2.1.4 hotfix', measure_time: 1700000000 });
    expect(dotted.text).toMatch(/\{"metric": "shop\.deploy\.v2_1_4_hotfix", "value": 1, "measure_time": \.\.\.\}\n$/);
    // numeric strings are numbers, as carbon's float() reads them
    await request(h.app).post('/publish/note').send({ metric: 'numeric.text', value: ' 214 ', measure_time: 1700000001 }).expect(200);
    await request(h.app).post('/publish/note').send([{ metric: 'foobar.release.v214', value: 1, measure_time: 1700000000 }]).expect(200);
    await waitFor(() => h.lines().length === 2, 'the numeric annotation');
    expect(h.lines()).toEqual(['note.numeric.text 214 1700000001', 'note.foobar.release.v214 1 1700000000']);
  });

  it('with users configured (Backstop BACKSTOP_AUTH), needs Basic credentials', async () => {
    h = await startHttpGroup(createPublishEndpoints, { publish: { prefixes: ['test'] }, auth: { users: [{ user: 'ops', password: 's3cret' }] } });
    const body = { metric: 'a', value: 1, measure_time: 1 };
    const none = await request(h.app).post('/publish/test').send(body);
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic /);
    expect((await request(h.app).post('/publish/test').set('Authorization', basic('ops:wrong')).send(body)).status).toBe(401);
    expect((await request(h.app).post('/publish/test').set('Authorization', basic('ops:s3cret')).send(body)).status).toBe(200);
  });
});
