import { formatTimestamp, formatValue } from '../../../src/codec/line-encoder';
import { catchpointSourceSchema } from '../../../src/config/schema';
import type { MetricBatch } from '../../../src/model/metric';
import { CatchpointSource } from '../../../src/sources/catchpoint/catchpoint-source';
import type { MetricSink } from '../../../src/model/metric-sink';
import { captureLog, type LogEntry } from '../../helpers/capture-log';
import { FakeCatchpoint, fixture, rawAnswer, type RawRequest } from '../../helpers/fake-catchpoint';
import { drive, FakeClock } from '../../helpers/fake-clock';

const MIN = 60_000;
/** 10:15 UTC: the first poll asks 10:00 .. 10:15. */
const T0 = Date.UTC(2024, 4, 1, 10, 15);
const iso = (ms: number): string => new Date(ms).toISOString();

class LineSink implements MetricSink {
  readonly lines: string[] = [];
  readonly origins: string[] = [];

  accept(batch: MetricBatch, origin: string): void {
    this.origins.push(origin);
    for (let i = 0; i < batch.length; i++) this.lines.push(`${batch.names[i]} ${formatValue(batch.values[i])} ${formatTimestamp(batch.timestamps[i])}`);
  }
}

let api: FakeCatchpoint;
beforeEach(async () => {
  api = new FakeCatchpoint();
  await api.listen();
});
afterEach(async () => {
  await api.close();
});

function setup(over: Record<string, unknown> = {}) {
  const clock = new FakeClock(T0);
  const cfg = catchpointSourceSchema.parse({
    name: 'cp',
    type: 'catchpoint',
    baseUrl: api.baseUrl,
    clientId: api.clientId,
    clientSecret: api.clientSecret,
    tests: { web: [142619, 142620] },
    ...over,
  });
  const sink = new LineSink();
  const { log, entries, text } = captureLog();
  // random 0.5: no jitter, so retry delays are exactly initialDelay * 2^n
  const src = new CatchpointSource(cfg, { sink, log, now: clock.now, timers: clock, random: () => 0.5 });
  return { src, sink, clock, entries, text, poll: () => drive(src.pollNow(), clock) };
}

const windows = (reqs: RawRequest[]): string[] => reqs.map((r) => `${r.tests.join(',')} ${r.startTime} ${r.endTime}`);
const byMessage = (entries: LogEntry[], level: string): LogEntry[] => entries.filter((e) => e.level === level);

describe('CatchpointSource: token and calls', () => {
  it('first poll: one client-credentials token, then calls of at most 20 ids per test type, one interval back', async () => {
    const web = Array.from({ length: 25 }, (_, i) => 1000 + i);
    const { poll, src } = setup({ tests: { web, api: [2000] } });
    const result = await poll();
    expect(result).toEqual({ ok: true, datapoints: 0, calls: 3, failedCalls: 0, deferredCalls: 0 });
    expect(api.tokenRequests).toEqual([
      { form: { grant_type: 'client_credentials', client_id: api.clientId, client_secret: api.clientSecret }, contentType: 'application/x-www-form-urlencoded' },
    ]);
    expect(api.rawRequests.map((r) => r.tests)).toEqual([web.slice(0, 20), web.slice(20), [2000]]);
    for (const r of api.rawRequests) {
      expect(r.startTime).toBe('2024-05-01T10:00:00.000Z');
      expect(r.endTime).toBe('2024-05-01T10:15:00.000Z');
      // the bearer token is sent base64-encoded, as Catchpoint's clients do
      expect(r.authorization).toBe(`Bearer ${Buffer.from('token-1').toString('base64')}`);
      expect(r.url).toMatch(/^\/ui\/api\/v1\/performance\/raw\?tests=[\d,]+&startTime=/);
    }
    expect(src.callsPerPoll).toBe(3);
  });

  it('batchSize splits calls smaller', async () => {
    const { poll } = setup({ tests: { web: [1, 2, 3, 4, 5] }, batchSize: 2 });
    await poll();
    expect(api.rawRequests.map((r) => r.tests)).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('caches the token until shortly before expires_in, then fetches a new one', async () => {
    api.expiresIn = 900; // refreshed 60 s before it runs out
    const { poll, clock } = setup();
    await poll();
    clock.advance(13 * MIN);
    await poll(); // 780 s: still good
    clock.advance(1 * MIN + 1);
    await poll(); // 840 s + 1 ms: within the margin
    expect(api.tokenRequests).toHaveLength(2);
    expect(api.rawRequests.map((r) => r.token)).toEqual(['token-1', 'token-1', 'token-2']);
  });

  it('a token without expires_in is kept until a call answers 401', async () => {
    api.expiresIn = undefined;
    const { poll, clock, src } = setup({ tests: { web: [1] } });
    await poll();
    clock.advance(24 * 60 * MIN);
    await poll();
    expect(api.tokenRequests).toHaveLength(1);
    api.revoked.add('token-1');
    clock.advance(15 * MIN);
    expect((await poll()).ok).toBe(true);
    expect(api.rawRequests.map((r) => r.token)).toEqual(['token-1', 'token-1', 'token-1', 'token-2']);
    expect(src.counters.tokenRefreshes).toBe(2);
  });

  it('refreshes the token on 401 and on an "Expired token" Message, and retries the call once', async () => {
    const { poll, clock, src, sink } = setup({ tests: { web: [142619] } });
    api.raw = () => ({ body: fixture('raw-web.json') });
    await poll();
    api.revoked.add('token-1'); // 401 with the expired-token Message
    clock.advance(15 * MIN);
    await poll();
    api.rawReplies.push({ status: 200, body: fixture('expired-token.json') });
    clock.advance(15 * MIN);
    const third = await poll();
    expect(third.ok).toBe(true);
    expect(api.rawRequests.map((r) => r.token)).toEqual(['token-1', 'token-1', 'token-2', 'token-2', 'token-3']);
    expect(src.counters.tokenRefreshes).toBe(3);
    expect(src.counters.apiErrors).toEqual({ auth: 0, timeout: 0, network: 0, server: 0, client: 0, message: 0, malformed: 0 });
    expect(src.counters.polls).toBe(3);
    expect(sink.lines).toHaveLength(20); // only the first window holds the fixture's times
  });

  it('a data call still refused with a fresh token fails that call (auth), and the source keeps polling', async () => {
    const { poll, clock, src } = setup({ tests: { web: [1] } });
    await poll();
    api.rawReplies.push({ status: 401 }, { status: 401 });
    clock.advance(15 * MIN);
    const r = await poll();
    expect(r).toMatchObject({ ok: false, failedCalls: 1 });
    expect(src.counters.apiErrors.auth).toBe(1);
    expect(src.failure).toBeUndefined();
    clock.advance(15 * MIN);
    expect((await poll()).ok).toBe(true);
  });
});

describe('CatchpointSource: windows', () => {
  it('three consecutive polls ask adjacent windows; a boundary item is sent once', async () => {
    const { poll, clock, sink } = setup({ tests: { web: [7] } });
    // Like an inclusive API: items at the window's start and end, and one inside.
    api.raw = (r) => {
      const from = Date.parse(r.startTime ?? '');
      const to = Date.parse(r.endTime ?? '');
      return { body: rawAnswer(['DNS'], [from, from + 5 * MIN, to].map((t, i) => ({ time: iso(t), test: 7, node: 1, values: [i] }))) };
    };
    await poll();
    clock.advance(15 * MIN);
    await poll();
    clock.advance(15 * MIN);
    await poll();
    expect(windows(api.rawRequests)).toEqual([
      '7 2024-05-01T10:00:00.000Z 2024-05-01T10:15:00.000Z',
      '7 2024-05-01T10:15:00.000Z 2024-05-01T10:30:00.000Z',
      '7 2024-05-01T10:30:00.000Z 2024-05-01T10:45:00.000Z',
    ]);
    const ts = (hm: string): number => Date.parse(`2024-05-01T${hm}:00Z`) / 1000;
    expect(sink.lines).toEqual([
      `catchpoint.testdata.DNS;testId=7;nodeId=1 0 ${ts('10:00')}`,
      `catchpoint.testdata.DNS;testId=7;nodeId=1 1 ${ts('10:05')}`,
      `catchpoint.testdata.DNS;testId=7;nodeId=1 0 ${ts('10:15')}`,
      `catchpoint.testdata.DNS;testId=7;nodeId=1 1 ${ts('10:20')}`,
      `catchpoint.testdata.DNS;testId=7;nodeId=1 0 ${ts('10:30')}`,
      `catchpoint.testdata.DNS;testId=7;nodeId=1 1 ${ts('10:35')}`,
    ]);
  });

  it('a failed call keeps its window: the next poll asks from the last success (per call); the others move on', async () => {
    const { poll, clock, src } = setup({ tests: { web: [1], api: [2] }, retry: { attempts: 1 } });
    await poll();
    clock.advance(15 * MIN);
    api.rawReplies.push({ body: fixture('raw-no-data.json') }, { body: fixture('raw-message.json') });
    const second = await poll();
    expect(second).toEqual({ ok: false, datapoints: 0, calls: 2, failedCalls: 1, deferredCalls: 0 });
    clock.advance(15 * MIN);
    await poll();
    expect(windows(api.rawRequests).slice(2)).toEqual([
      '1 2024-05-01T10:15:00.000Z 2024-05-01T10:30:00.000Z',
      '2 2024-05-01T10:15:00.000Z 2024-05-01T10:30:00.000Z',
      '1 2024-05-01T10:30:00.000Z 2024-05-01T10:45:00.000Z',
      '2 2024-05-01T10:15:00.000Z 2024-05-01T10:45:00.000Z',
    ]);
    expect(src.counters).toMatchObject({ polls: 3, pollsFailed: 1 });
    expect(src.counters.lastSuccessTime).toBe((T0 + 30 * MIN) / 1000);
  });

  it('lag ends each window earlier; maxWindow caps catching up (and says what it skipped)', async () => {
    const { poll, clock, entries, src } = setup({ tests: { web: [1] }, lag: '2m', maxWindow: '20m', retry: { attempts: 1 } });
    await poll();
    for (let i = 0; i < 2; i++) {
      api.rawReplies.push({ status: 503 });
      clock.advance(15 * MIN);
      await poll();
    }
    clock.advance(15 * MIN);
    await poll();
    expect(windows(api.rawRequests)).toEqual([
      '1 2024-05-01T09:58:00.000Z 2024-05-01T10:13:00.000Z',
      '1 2024-05-01T10:13:00.000Z 2024-05-01T10:28:00.000Z',
      '1 2024-05-01T10:23:00.000Z 2024-05-01T10:43:00.000Z', // capped: 10:13 .. 10:23 is skipped
      '1 2024-05-01T10:38:00.000Z 2024-05-01T10:58:00.000Z', // capped again
    ]);
    expect(src.counters.cappedWindows).toBe(2);
    const capped = entries.filter((e) => e.message.startsWith('catchpoint: catching up more than maxWindow'));
    expect(capped.map((e) => [e.skippedFrom, e.skippedTo])).toEqual([
      ['2024-05-01T10:13:00.000Z', '2024-05-01T10:23:00.000Z'],
      ['2024-05-01T10:23:00.000Z', '2024-05-01T10:38:00.000Z'],
    ]);
  });
});

describe('CatchpointSource: errors', () => {
  it('retries 5xx with backoff within the poll', async () => {
    const { poll, clock, src, entries } = setup({ tests: { web: [1] }, retry: { attempts: 3, initialDelay: '1s', maxDelay: '30s' } });
    api.rawReplies.push({ status: 500, body: { Message: 'An error has occurred.' } }, { status: 503, text: 'busy' });
    const r = await poll();
    expect(r.ok).toBe(true);
    expect(api.rawRequests).toHaveLength(3);
    expect(clock.fired).toEqual([1000, 2000]);
    expect(src.counters.apiErrors.server).toBe(2);
    expect(byMessage(entries, 'warn').map((e) => [e.message, e.error, e.retryInMs])).toEqual([
      ['catchpoint: call failed, retrying', 'data call answered HTTP 500: "An error has occurred."', 1000],
      ['catchpoint: call failed, retrying', 'data call answered HTTP 503', 2000],
    ]);
  });

  it('after the last retry the call fails, the remaining calls wait for the next poll, which asks the whole gap', async () => {
    const { poll, clock, src, entries } = setup({ tests: { web: [1], api: [2], dns: [3] }, retry: { attempts: 2, initialDelay: '1s' } });
    api.rawReplies.push({ body: fixture('raw-no-data.json') }, { status: 500 }, { status: 502 });
    const r = await poll();
    expect(r).toEqual({ ok: false, datapoints: 0, calls: 2, failedCalls: 1, deferredCalls: 1 });
    expect(api.rawRequests.map((q) => q.tests)).toEqual([[1], [2], [2]]);
    expect(src.counters.apiErrors.server).toBe(2);
    const errors = byMessage(entries, 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ source: 'cp', tests: 'api 2', kind: 'server', error: 'data call answered HTTP 502', from: '2024-05-01T10:00:00.000Z' });
    expect(entries.some((e) => e.message === 'catchpoint: API unavailable; the remaining calls wait for the next poll' && e.deferred === 1)).toBe(true);
    clock.advance(15 * MIN);
    await poll();
    // the failed and the deferred call are asked from 10:00, where they first started (the backoff wait moved the clock 1 s)
    expect(windows(api.rawRequests).slice(3)).toEqual([
      '1 2024-05-01T10:15:00.000Z 2024-05-01T10:30:01.000Z',
      '2 2024-05-01T10:00:00.000Z 2024-05-01T10:30:01.000Z',
      '3 2024-05-01T10:00:00.000Z 2024-05-01T10:30:01.000Z',
    ]);
  });

  it('a hung call times out, is retried, and a hung poll is asked again next round', async () => {
    const { poll, clock, src } = setup({ tests: { web: [1] }, timeout: '150ms', retry: { attempts: 2, initialDelay: '1s' } });
    api.rawReplies.push('hang');
    expect((await poll()).ok).toBe(true);
    expect(src.counters.apiErrors.timeout).toBe(1);
    expect(api.rawRequests).toHaveLength(2);
    api.rawReplies.push('hang', 'hang');
    clock.advance(15 * MIN);
    expect(await poll()).toMatchObject({ ok: false, failedCalls: 1 });
    expect(src.counters.apiErrors.timeout).toBe(3);
    clock.advance(15 * MIN);
    expect((await poll()).ok).toBe(true);
    // from the end of the last success; two 1 s backoff waits moved the fake clock
    expect(windows(api.rawRequests).at(-1)).toBe('1 2024-05-01T10:15:00.000Z 2024-05-01T10:45:02.000Z');
  });

  it('a hung token call times out too', async () => {
    const { poll, src } = setup({ tests: { web: [1] }, timeout: '100ms', retry: { attempts: 2 } });
    api.tokenReplies.push('hang');
    expect((await poll()).ok).toBe(true);
    expect(src.counters.apiErrors.timeout).toBe(1);
    expect(api.tokenRequests).toHaveLength(2);
  });

  it('a connection refused is a network error, retried', async () => {
    const { poll, src } = setup({ baseUrl: 'http://127.0.0.1:1/ui/', tests: { web: [1] }, retry: { attempts: 2, initialDelay: '10ms' } });
    const r = await poll();
    expect(r).toMatchObject({ ok: false, failedCalls: 1 });
    expect(src.counters.apiErrors.network).toBe(2);
  });

  it('an API Message is logged as an error and counted; the window is asked again', async () => {
    const { poll, src, entries } = setup({ tests: { web: [1] } });
    api.rawReplies.push({ body: fixture('raw-message.json') });
    const r = await poll();
    expect(r).toMatchObject({ ok: false, failedCalls: 1, deferredCalls: 0 });
    expect(api.rawRequests).toHaveLength(1); // not retried within the poll
    expect(src.counters.apiErrors.message).toBe(1);
    expect(byMessage(entries, 'error')).toEqual([
      expect.objectContaining({
        message: 'catchpoint: data call failed; its window is asked again next poll',
        kind: 'message',
        error: 'Catchpoint answered with an error Message: "An error has occurred."',
        tests: 'web 1',
      }),
    ]);
  });

  it.each([
    ['a body that is not JSON', { text: '<html>maintenance</html>' }],
    ['JSON without detail', { body: { start: '2024-05-01T10:00:00Z' } }],
    ['detail without fields', { body: { detail: { items: [] } } }],
  ])('a malformed answer (%s) is counted and its window asked again', async (_what, reply) => {
    const { poll, clock, src } = setup({ tests: { web: [1] } });
    api.rawReplies.push(reply);
    expect(await poll()).toMatchObject({ ok: false, failedCalls: 1 });
    expect(src.counters.apiErrors.malformed).toBe(1);
    clock.advance(15 * MIN);
    await poll();
    expect(api.rawRequests[1].startTime).toBe('2024-05-01T10:00:00.000Z');
  });

  it('detail: null is no data: a successful poll', async () => {
    const { poll, src } = setup();
    expect(await poll()).toEqual({ ok: true, datapoints: 0, calls: 1, failedCalls: 0, deferredCalls: 0 });
    expect(src.counters.lastSuccessTime).toBe(T0 / 1000);
    expect(src.counters.datapoints).toBe(0);
  });

  it('bad items are skipped and counted, one log line per test and field; the rest of the poll is kept', async () => {
    const { poll, src, sink, entries } = setup({ tests: { api: [142637, 142638], web: [142619] } });
    api.rawReplies.push({ body: fixture('raw-bad-items.json') }, { body: fixture('raw-web.json') });
    const r = await poll();
    expect(r).toEqual({ ok: true, datapoints: 28, calls: 2, failedCalls: 0, deferredCalls: 0 });
    expect(sink.lines).toHaveLength(28);
    expect(sink.origins).toEqual(['catchpoint:cp', 'catchpoint:cp']);
    expect(src.counters).toMatchObject({ datapoints: 28, invalidItems: 4, invalidValues: 2, nullValues: 1 });
    const warned = byMessage(entries, 'warn').map((e) => `${e.message} | ${String(e.test)} ${String(e.field)}: ${String(e.problem)} x${String(e.count)}`);
    expect(warned).toEqual([
      'catchpoint: skipped bad data in the API answer | 142637 dimension.name: missing or not a string x1',
      'catchpoint: skipped bad data in the API answer | 142637 dimension.name: not an ISO-8601 time x1',
      'catchpoint: skipped bad data in the API answer | 142637 synthetic_metrics[1] (Connect): not a number x1',
      'catchpoint: skipped bad data in the API answer | 142638 breakdown_2.id: missing or not a node id x1',
      'catchpoint: skipped bad data in the API answer | 142638 synthetic_metrics: missing or not a list x1',
      'catchpoint: skipped bad data in the API answer | 142638 synthetic_metrics[3]: more values than fields x1',
    ]);
  });

  it('bad data repeated across many items is one line with a count, never one per datapoint', async () => {
    const { poll, entries } = setup({ tests: { web: [1] } });
    const items = Array.from({ length: 500 }, (_, i) => ({ time: iso(T0 - 10 * MIN + i), test: 1, node: i, values: [1, 2] as (number | null)[] }));
    const body = rawAnswer(['DNS', 'Bad;Name'], items);
    api.rawReplies.push({ body });
    const r = await poll();
    expect(r.datapoints).toBe(500);
    expect(byMessage(entries, 'warn')).toEqual([expect.objectContaining({ test: '1', field: 'synthetic_metrics[1]', count: 500 })]);
  });
});

describe('CatchpointSource: bad credentials', () => {
  it.each([
    [401, { error: 'invalid_client' }, 'HTTP 401: "invalid_client"'],
    [400, { error: 'invalid_client', Message: 'Invalid client credentials' }, 'HTTP 400: "invalid_client", "Invalid client credentials"'],
  ])('the token endpoint answering %d stops this source with a clear error, and never logs the secret', async (status, body, detail) => {
    const { src, clock, entries, text } = setup({ clientSecret: 'wrong-secret-value' });
    api.tokenReplies.push({ status, body });
    await src.start();
    clock.advance(0);
    await src.whenIdle();
    expect(src.failure).toBe(`the token endpoint refused the client credentials (${detail})`);
    expect(clock.pending).toEqual([]); // no further poll is scheduled
    expect(api.rawRequests).toHaveLength(0);
    expect(src.counters.apiErrors.auth).toBe(1);
    expect(byMessage(entries, 'error')).toEqual([
      expect.objectContaining({
        message: 'catchpoint source stopped: its credentials were refused; fix clientId/clientSecret and restart (other sources and receivers keep running)',
        source: 'cp',
        error: src.failure,
      }),
    ]);
    const again = await src.pollNow();
    expect(again).toMatchObject({ ok: false, calls: 0, fatal: src.failure });
    expect(api.tokenRequests).toHaveLength(1);
    expect(text()).not.toContain('wrong-secret-value');
  });

  it('a 5xx from the token endpoint is not a credentials problem: retried, then the next poll', async () => {
    const { poll, src } = setup({ retry: { attempts: 2, initialDelay: '1s' } });
    api.tokenReplies.push({ status: 502 }, { status: 502 });
    expect(await poll()).toMatchObject({ ok: false, failedCalls: 1 });
    expect(src.failure).toBeUndefined();
    expect((await poll()).ok).toBe(true);
  });

  it('neither the secret nor the token appears in any log line', async () => {
    const { poll, clock, text } = setup({ tests: { web: [1] }, retry: { attempts: 1 } });
    api.revoked.add('token-1');
    await poll();
    clock.advance(15 * MIN);
    api.rawReplies.push({ status: 500 }, { body: fixture('raw-message.json') });
    await poll();
    const t = text();
    expect(t.length).toBeGreaterThan(0);
    for (const secret of [api.clientSecret, 'token-1', 'token-2', Buffer.from('token-1').toString('base64')]) expect(t).not.toContain(secret);
  });
});

describe('CatchpointSource: schedule', () => {
  it('start polls at once, then every interval from the start of the previous poll; polls never overlap', async () => {
    const { src, clock } = setup();
    await src.start();
    expect(clock.pending).toEqual([0]);
    clock.advance(0);
    const inFlight = src.pollNow();
    expect(src.pollNow()).toBe(inFlight); // the running poll, not a second one
    expect(clock.pending).toEqual([]); // nothing scheduled while a poll runs
    await inFlight;
    expect(clock.pending).toEqual([15 * MIN]);
    expect(api.rawRequests).toHaveLength(1);
    clock.advance(15 * MIN);
    await src.whenIdle();
    expect(api.rawRequests.map((r) => r.endTime)).toEqual(['2024-05-01T10:15:00.000Z', '2024-05-01T10:30:00.000Z']);
    await src.stop(Date.now() + 1000);
    expect(clock.pending).toEqual([]);
  });

  it('a poll longer than the interval is followed at once by the next, not overlapped', async () => {
    const { src, clock } = setup();
    api.raw = () => {
      clock.advance(20 * MIN); // the API takes 20 minutes
      return { body: fixture('raw-no-data.json') };
    };
    await src.start();
    clock.advance(0);
    await src.whenIdle();
    expect(clock.pending).toEqual([0]);
    await src.stop(Date.now());
  });

  it('pausing defers a due poll until resume', async () => {
    const { src, clock } = setup();
    await src.start();
    src.pause();
    clock.advance(0);
    await src.whenIdle();
    expect(api.rawRequests).toHaveLength(0);
    src.resume();
    await src.whenIdle();
    expect(api.rawRequests).toHaveLength(1);
    await src.stop(Date.now());
  });

  it('stop cancels a hung poll after half the remaining budget', async () => {
    const { src, clock } = setup({ timeout: '1m' });
    api.rawReplies.push('hang');
    await src.start();
    clock.advance(0);
    await new Promise<void>((resolve) => {
      const check = (): void => (api.rawRequests.length > 0 ? resolve() : void setTimeout(check, 2));
      check();
    });
    const started = Date.now();
    const report = await src.stop(Date.now() + 200);
    // without a stateDir nothing remembers the cancelled windows across a restart (test/sources/catchpoint/position.test.ts has the stateDir side)
    expect(report).toEqual({ name: 'cp', undelivered: 0, abandoned: ['poll in flight cancelled (no stateDir: a restart asks only one interval back)'], abandonedPoll: true });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(src.counters.apiErrors.timeout).toBe(0); // a cancel is not an API error
    expect(clock.pending).toEqual([]);
  });

  it('telemetry: counters as deltas, the last success as a gauge', async () => {
    const { src, poll } = setup();
    await poll();
    const seen: string[] = [];
    src.reportCounters((key, value, kind) => seen.push(`${key}=${value}:${kind}`));
    expect(seen).toEqual([
      'polls=1:counter',
      'pollsFailed=0:counter',
      'apiCalls=2:counter',
      'tokenRefreshes=1:counter',
      'datapoints=0:counter',
      'invalidItems=0:counter',
      'invalidValues=0:counter',
      'nullValues=0:counter',
      'outsideWindow=0:counter',
      'cappedWindows=0:counter',
      'stateWriteErrors=0:counter',
      'apiErrors.auth=0:counter',
      'apiErrors.timeout=0:counter',
      'apiErrors.network=0:counter',
      'apiErrors.server=0:counter',
      'apiErrors.client=0:counter',
      'apiErrors.message=0:counter',
      'apiErrors.malformed=0:counter',
      `lastSuccessTime=${T0 / 1000}:gauge`,
    ]);
  });
});
