import { MetricBatch } from '../../../src/model/metric';
import { MalformedResponse, mapRawData, parseIsoTime, type RawMapOptions } from '../../../src/sources/catchpoint/raw-data';
import { fixture } from '../../helpers/fake-catchpoint';

const FROM = Date.parse('2024-05-01T10:00:00Z');
const TO = Date.parse('2024-05-01T10:15:00Z');
const TAGS: RawMapOptions = { prefix: 'catchpoint.testdata', tags: true, fromMs: FROM, toMs: TO };

function map(body: unknown, opts: RawMapOptions = TAGS) {
  const out = new MetricBatch(4);
  const problems: string[] = [];
  const r = mapRawData(body, opts, out, (test, field, problem) => problems.push(`${test} ${field}: ${problem}`));
  const lines = Array.from({ length: out.length }, (_, i) => `${out.names[i]} ${out.values[i]} ${out.timestamps[i]}`);
  return { r, lines, problems };
}

describe('mapRawData: the integration\'s mapping', () => {
  it('web: one datapoint per item and value, whitespace removed from field names, null values skipped', () => {
    const { r, lines, problems } = map(fixture('raw-web.json'));
    const t1 = Date.parse('2024-05-01T10:03:12Z') / 1000;
    const t2 = Date.parse('2024-05-01T10:08:40Z') / 1000;
    const t3 = Date.parse('2024-05-01T10:11:05Z') / 1000;
    expect(lines).toEqual([
      `catchpoint.testdata.DNS;testId=142619;nodeId=14 12 ${t1}`,
      `catchpoint.testdata.Connect;testId=142619;nodeId=14 31 ${t1}`,
      `catchpoint.testdata.SSL;testId=142619;nodeId=14 45.6 ${t1}`,
      `catchpoint.testdata.Wait;testId=142619;nodeId=14 120 ${t1}`,
      `catchpoint.testdata.Load;testId=142619;nodeId=14 310 ${t1}`,
      `catchpoint.testdata.Response;testId=142619;nodeId=14 518.6 ${t1}`,
      `catchpoint.testdata.ContentLoad;testId=142619;nodeId=14 1024 ${t1}`,
      `catchpoint.testdata.DNS;testId=142619;nodeId=25 8 ${t2}`,
      `catchpoint.testdata.Connect;testId=142619;nodeId=25 22 ${t2}`,
      `catchpoint.testdata.Wait;testId=142619;nodeId=25 95 ${t2}`,
      `catchpoint.testdata.Load;testId=142619;nodeId=25 280 ${t2}`,
      `catchpoint.testdata.Response;testId=142619;nodeId=25 405 ${t2}`,
      `catchpoint.testdata.ContentLoad;testId=142619;nodeId=25 980 ${t2}`,
      `catchpoint.testdata.DNS;testId=142620;nodeId=14 15 ${t3}`,
      `catchpoint.testdata.Connect;testId=142620;nodeId=14 40 ${t3}`,
      `catchpoint.testdata.SSL;testId=142620;nodeId=14 52 ${t3}`,
      `catchpoint.testdata.Wait;testId=142620;nodeId=14 133 ${t3}`,
      `catchpoint.testdata.Load;testId=142620;nodeId=14 301 ${t3}`,
      `catchpoint.testdata.Response;testId=142620;nodeId=14 541 ${t3}`,
      `catchpoint.testdata.ContentLoad;testId=142620;nodeId=14 1100 ${t3}`,
    ]);
    expect(r).toEqual({ noData: false, datapoints: 20, invalidItems: 0, invalidValues: 0, nullValues: 1, outsideWindow: 0 });
    expect(problems).toEqual([]);
  });

  it('transaction: stepNumber tag; a time without an offset is UTC', () => {
    const { lines } = map(fixture('raw-transaction.json'));
    const t = Date.UTC(2024, 4, 1, 10, 5) / 1000;
    expect(lines).toEqual([
      `catchpoint.testdata.DNS;testId=142602;nodeId=14;stepNumber=1 10 ${t}`,
      `catchpoint.testdata.Connect;testId=142602;nodeId=14;stepNumber=1 20 ${t}`,
      `catchpoint.testdata.Wait;testId=142602;nodeId=14;stepNumber=1 100 ${t}`,
      `catchpoint.testdata.Load;testId=142602;nodeId=14;stepNumber=1 200 ${t}`,
      `catchpoint.testdata.Response;testId=142602;nodeId=14;stepNumber=1 330 ${t}`,
      `catchpoint.testdata.DNS;testId=142602;nodeId=14;stepNumber=2 0 ${t}`,
      `catchpoint.testdata.Connect;testId=142602;nodeId=14;stepNumber=2 0 ${t}`,
      `catchpoint.testdata.Wait;testId=142602;nodeId=14;stepNumber=2 80 ${t}`,
      `catchpoint.testdata.Load;testId=142602;nodeId=14;stepNumber=2 150 ${t}`,
      `catchpoint.testdata.Response;testId=142602;nodeId=14;stepNumber=2 230 ${t}`,
    ]);
  });

  it('traceroute: hopNumber tag; offsets are applied', () => {
    const { lines } = map(fixture('raw-traceroute.json'));
    const t = Date.UTC(2024, 4, 1, 10, 6, 30) / 1000;
    expect(lines).toEqual([
      `catchpoint.testdata.PingRTT;testId=142607;nodeId=25;hopNumber=1 1.2 ${t}`,
      `catchpoint.testdata.PacketLoss;testId=142607;nodeId=25;hopNumber=1 0 ${t}`,
      `catchpoint.testdata.PingRTT;testId=142607;nodeId=25;hopNumber=2 5.8 ${t}`,
      `catchpoint.testdata.PacketLoss;testId=142607;nodeId=25;hopNumber=2 0 ${t}`,
      `catchpoint.testdata.PingRTT;testId=142607;nodeId=25;hopNumber=3 11.4 ${t}`,
      `catchpoint.testdata.PacketLoss;testId=142607;nodeId=25;hopNumber=3 33.3 ${t}`,
    ]);
  });

  it('tags: false folds the same fields into dotted levels; the prefix is configurable', () => {
    const opts = { ...TAGS, tags: false, prefix: 'cp' };
    expect(map(fixture('raw-transaction.json'), opts).lines[0]).toBe(`cp.DNS.142602.14.step1 10 ${Date.UTC(2024, 4, 1, 10, 5) / 1000}`);
    expect(map(fixture('raw-traceroute.json'), opts).lines[5]).toBe(`cp.PacketLoss.142607.25.hop3 33.3 ${Date.UTC(2024, 4, 1, 10, 6, 30) / 1000}`);
    expect(map(fixture('raw-web.json'), opts).lines[6]).toBe(`cp.ContentLoad.142619.14 1024 ${Date.parse('2024-05-01T10:03:12Z') / 1000}`);
  });

  it('detail: null is "no data", not an error', () => {
    expect(map(fixture('raw-no-data.json')).r).toEqual({ noData: true, datapoints: 0, invalidItems: 0, invalidValues: 0, nullValues: 0, outsideWindow: 0 });
  });
});

describe('mapRawData: bad input', () => {
  it('skips and reports each bad item or value by test and field, keeping the rest', () => {
    const { r, lines, problems } = map(fixture('raw-bad-items.json'));
    const ts = (hm: string): number => Date.parse(`2024-05-01T10:${hm}:00Z`) / 1000;
    expect(lines).toEqual([
      `catchpoint.testdata.DNS;testId=142637;nodeId=14 5 ${ts('02')}`,
      `catchpoint.testdata.Connect;testId=142637;nodeId=14 10 ${ts('02')}`,
      `catchpoint.testdata.Response;testId=142637;nodeId=14 200 ${ts('02')}`,
      `catchpoint.testdata.DNS;testId=142637;nodeId=14 5 ${ts('04')}`,
      `catchpoint.testdata.Response;testId=142637;nodeId=14 210 ${ts('04')}`,
      `catchpoint.testdata.DNS;testId=142638;nodeId=25 1 ${ts('07')}`,
      `catchpoint.testdata.Connect;testId=142638;nodeId=25 2 ${ts('07')}`,
      `catchpoint.testdata.Response;testId=142638;nodeId=25 3 ${ts('07')}`,
    ]);
    expect(problems).toEqual([
      '142637 dimension.name: missing or not a string',
      '142637 dimension.name: not an ISO-8601 time',
      '142637 synthetic_metrics[1] (Connect): not a number',
      '142638 breakdown_2.id: missing or not a node id',
      '142638 synthetic_metrics: missing or not a list',
      '142638 synthetic_metrics[3]: more values than fields',
    ]);
    expect(r).toEqual({ noData: false, datapoints: 8, invalidItems: 4, invalidValues: 2, nullValues: 0, outsideWindow: 0 });
  });

  it('a field whose name cannot be a metric name skips its values (not the item)', () => {
    const body = {
      detail: {
        fields: { synthetic_metrics: [{ name: 'DNS' }, { name: '   ' }, { name: 'a;b' }, {}, { name: 'Ctl\u0001x' }] },
        items: [{ dimension: { name: '2024-05-01T10:01:00Z' }, breakdown_1: { id: 1 }, breakdown_2: { id: 2 }, synthetic_metrics: [1, 2, 3, 4, 5] }],
      },
    };
    const { r, lines, problems } = map(body);
    expect(lines).toEqual([`catchpoint.testdata.DNS;testId=1;nodeId=2 1 ${Date.UTC(2024, 4, 1, 10, 1) / 1000}`]);
    expect(r.invalidValues).toBe(4);
    expect(problems).toEqual([
      '1 synthetic_metrics[1]: field name "   " cannot be a metric name',
      '1 synthetic_metrics[2]: field name "a;b" cannot be a metric name',
      '1 synthetic_metrics[3]: field 3 has no name',
      '1 synthetic_metrics[4]: field name "Ctl\\u0001x" cannot be a metric name',
    ]);
    // without tags a ";" is an ordinary character
    expect(map(body, { ...TAGS, tags: false }).lines).toHaveLength(2);
  });

  it('values: strings, booleans, objects are not numbers; ids and steps must be ids', () => {
    const item = (over: Record<string, unknown>): Record<string, unknown> => ({
      dimension: { name: '2024-05-01T10:01:00Z' },
      breakdown_1: { id: 7 },
      breakdown_2: { id: 8 },
      synthetic_metrics: [1],
      ...over,
    });
    const body = {
      detail: {
        fields: { synthetic_metrics: [{ name: 'M' }] },
        items: [
          item({ synthetic_metrics: ['12'] }),
          item({ synthetic_metrics: [true] }),
          item({ synthetic_metrics: [{}] }),
          item({ breakdown_1: { id: 'x y' } }),
          item({ breakdown_1: { id: -3 } }),
          item({ step: 1.5 }),
          item({ hop_number: 'two' }),
          item({ step: null, hop_number: '2' }),
          42,
        ],
      },
    };
    const { r, lines, problems } = map(body);
    expect(lines).toEqual([`catchpoint.testdata.M;testId=7;nodeId=8;hopNumber=2 1 ${Date.UTC(2024, 4, 1, 10, 1) / 1000}`]);
    expect(r.invalidValues).toBe(3);
    expect(r.invalidItems).toBe(5);
    expect(problems).toEqual([
      '7 synthetic_metrics[0] (M): not a number',
      '7 synthetic_metrics[0] (M): not a number',
      '7 synthetic_metrics[0] (M): not a number',
      '(unknown) breakdown_1.id: missing or not a test id',
      '(unknown) breakdown_1.id: missing or not a test id',
      '7 step: not a non-negative integer',
      '7 hop_number: not a non-negative integer',
      '(unknown) items: an item is not an object',
    ]);
  });

  it('items outside [from, to) are skipped and counted: the end boundary belongs to the next window', () => {
    const at = (iso: string): Record<string, unknown> => ({ dimension: { name: iso }, breakdown_1: { id: 1 }, breakdown_2: { id: 2 }, synthetic_metrics: [1] });
    const body = {
      detail: {
        fields: { synthetic_metrics: [{ name: 'M' }] },
        items: [at('2024-05-01T09:59:59.999Z'), at('2024-05-01T10:00:00Z'), at('2024-05-01T10:14:59.999Z'), at('2024-05-01T10:15:00Z')],
      },
    };
    const { r, lines } = map(body);
    expect(lines.map((l) => l.split(' ')[2])).toEqual([String(FROM / 1000), String(FROM / 1000 + 899)]);
    expect(r.outsideWindow).toBe(2);
  });

  it.each([
    ['a string', 'oops'],
    ['an array', []],
    ['no detail', { start: 'x' }],
    ['detail not an object', { detail: 3 }],
    ['no fields', { detail: { items: [] } }],
    ['fields without synthetic_metrics', { detail: { fields: {}, items: [] } }],
    ['items not a list', { detail: { fields: { synthetic_metrics: [] }, items: {} } }],
  ])('a malformed answer (%s) throws MalformedResponse', (_what, body) => {
    expect(() => map(body)).toThrow(MalformedResponse);
  });

  it('a number JSON cannot hold (1e999 parses as Infinity) is skipped and counted, never sent', () => {
    const body: unknown = JSON.parse(
      '{"detail":{"fields":{"synthetic_metrics":[{"name":"A"},{"name":"B"}]},"items":[{"dimension":{"name":"2024-05-01T10:01:00Z"},"breakdown_1":{"id":1},"breakdown_2":{"id":2},"synthetic_metrics":[1e999,-1e999]}]}}',
    );
    const { r, lines, problems } = map(body);
    expect(lines).toEqual([]);
    expect(r.invalidValues).toBe(2);
    expect(problems).toEqual(['1 synthetic_metrics[0] (A): not a number', '1 synthetic_metrics[1] (B): not a number']);
  });

  it('detail without items is no datapoints, not an error', () => {
    expect(map({ detail: { fields: { synthetic_metrics: [{ name: 'M' }] } } }).r.datapoints).toBe(0);
  });
});

describe('parseIsoTime', () => {
  it.each([
    ['2024-05-01T10:03:12Z', Date.UTC(2024, 4, 1, 10, 3, 12)],
    ['2024-05-01T10:03:12.637Z', Date.UTC(2024, 4, 1, 10, 3, 12, 637)],
    ['2024-05-01T10:03:12.6379999', Date.UTC(2024, 4, 1, 10, 3, 12, 637)],
    ['2024-05-01T10:03:12', Date.UTC(2024, 4, 1, 10, 3, 12)],
    ['2024-05-01 10:03', Date.UTC(2024, 4, 1, 10, 3)],
    ['2024-05-01T12:03:12+02:00', Date.UTC(2024, 4, 1, 10, 3, 12)],
    ['2024-05-01T05:33:12-0430', Date.UTC(2024, 4, 1, 10, 3, 12)],
    ['2024-05-01T10:03:12+00', Date.UTC(2024, 4, 1, 10, 3, 12)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
  ])('%s', (text, ms) => {
    expect(parseIsoTime(text)).toBe(ms);
  });

  it.each(['', 'yesterday', '1714557792', '2024-05-01', '2023-02-29T00:00:00Z', '2024-13-01T00:00:00Z', '2024-05-01T24:00:00Z', '2024-05-01T10:60:00Z', '2024-05-01T10:00:00+25:00', 'May 1 2024 10:00'])(
    'rejects %j',
    (text) => {
      expect(parseIsoTime(text)).toBeUndefined();
    },
  );
});
